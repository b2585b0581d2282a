"""The one jinja2 environment for everything edgeq writes from ``firmware_templates/`` (the compiled model, the host
program, firmware projects), and the one set of helpers that turn values into C text, used by the templates (as
filters) and by the compiler alike.

Sanitizers - nothing read from a model (tensor names, the model name, descriptions) reaches C unfiltered:

* :func:`c_identifier` - a valid, non-reserved C identifier (letters, digits, ``_``), for names in code.
* :func:`c_comment` - text safe inside a ``/* ... */`` comment on one line (no ``*/``, ``/*``, newlines, trigraphs,
  backslashes or control characters), shortened.
* :func:`c_string` - text safe inside a C string literal (same filtering, no quotes).

Literals: :func:`c_string_literal` (any text, escaped), :func:`c_char_literal`, :func:`c_float` (a float32 value that
round-trips exactly), :func:`c_int` (``INT32_MIN`` included).

All of them only ever output printable ASCII.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
import struct

from edgeq._resources import templates_dir

__all__ = ["environment", "render", "templates_dir", "c_identifier", "c_comment", "c_string", "c_string_literal",
           "c_char_literal", "c_float", "c_int"]


# ---- the environment ---------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def environment():
    """jinja2 over firmware_templates/: undefined names fail, no HTML escaping, blocks trimmed, C filters
    ``cstr``, ``cchar``, ``cfloat``, ``c_comment``."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters["cstr"] = c_string_literal
    env.filters["cchar"] = c_char_literal
    env.filters["cfloat"] = c_float
    env.filters["c_comment"] = c_comment
    return env


def render(template: str, **context) -> str:
    """Render ``template`` (a path under firmware_templates/)."""
    return environment().get_template(template).render(**context)


# ---- sanitizers --------------------------------------------------------------------------------------------------

_C_KEYWORDS = frozenset(
    "auto break case char const continue default do double else enum extern float for goto if inline int long "
    "register restrict return short signed sizeof static struct switch typedef union unsigned void volatile while "
    "_Bool _Complex _Imaginary _Alignas _Alignof _Atomic _Generic _Noreturn _Static_assert _Thread_local "
    "asm bool true false NULL".split()
)

# characters kept in comments / strings; everything else becomes '_'. No '*' (so no "/*" or "*/"), no '?' (trigraphs
# in -std=c99), no '\\' (line splices, escapes), no quotes.
_SAFE_TEXT = re.compile(r"[^A-Za-z0-9 _.,:;+=@#%&()\[\]{}<>|~!^$/-]")
_SAFE_COMMENT = re.compile(r"[^A-Za-z0-9 _.,:;+=@#%&()\[\]{}<>|~!^$/'\"-]")


def c_identifier(name: str, prefix: str = "", max_len: int = 48) -> str:
    """``name`` as a C identifier: other characters -> ``_``, runs of ``_`` collapsed, never starting with a digit
    or ``_`` + capital / ``__`` (reserved), never a keyword. A name that loses characters or length gets a short
    hash suffix so that different names stay different."""
    raw = str(name)
    ident = re.sub(r"[^A-Za-z0-9_]", "_", raw)
    ident = re.sub(r"_+", "_", ident).strip("_")
    changed = ident != raw
    if len(ident) > max_len:
        ident = ident[:max_len].rstrip("_")
        changed = True
    if changed and raw:
        ident = f"{ident}_{hashlib.sha256(raw.encode('utf-8', 'surrogatepass')).hexdigest()[:6]}".strip("_")
    if not ident:
        ident = "x"
    ident = prefix + ident
    if ident[0].isdigit():
        ident = "n" + ident
    if ident in _C_KEYWORDS:
        ident = ident + "_"
    return ident


def _safe_text(text: str, max_len: int, quotes: bool = False) -> str:
    text = " ".join(str(text).split())  # newlines, tabs -> one space
    text = (_SAFE_COMMENT if quotes else _SAFE_TEXT).sub("_", text)
    if len(text) > max_len:
        text = text[: max_len - 3] + "..."
    return text


def c_comment(text: str, max_len: int = 100) -> str:
    """``text`` for one line inside ``/* ... */``."""
    return _safe_text(text, max_len, quotes=True)


def c_string(text: str, max_len: int = 100) -> str:
    """``text`` for the inside of a C string literal (the caller adds the quotes)."""
    return _safe_text(text, max_len)


# ---- literals ----------------------------------------------------------------------------------------------------


def c_string_literal(text: str) -> str:
    """``text`` as one C string literal: quotes, backslashes and non-printables escaped (octal, so that a following
    hex digit is never swallowed); only printable ASCII comes out."""
    out = ['"']
    for ch in str(text):
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "?":
            out.append("\\?")  # no trigraphs
        elif 32 <= o < 127:
            out.append(ch)
        else:
            for b in ch.encode("utf-8"):
                out.append(f"\\{b:03o}")
    out.append('"')
    return "".join(out)


def c_char_literal(ch: str) -> str:
    """One character as a C character literal (escaped like :func:`c_string_literal`)."""
    if len(ch) != 1:
        raise ValueError(f"not one character: {ch!r}")
    if ch in "'\\":
        return f"'\\{ch}'"
    if not (32 <= ord(ch) < 127):
        return f"'\\{ord(ch):03o}'"
    return f"'{ch}'"


def c_float(x) -> str:
    """``x`` rounded to float32, as a C float literal that reads back as exactly that float32 (``0.00390625f``,
    ``1.0f``). Not-finite values have no literal: ValueError."""
    x = float(x)
    if not math.isfinite(x):
        raise ValueError(f"not a finite float: {x}")
    try:
        v = struct.unpack("<f", struct.pack("<f", x))[0]
    except OverflowError:
        raise ValueError(f"outside the float32 range: {x}") from None
    text = repr(v)
    if "e" not in text and "." not in text:
        text += ".0"
    return text + "f"


def c_int(v) -> str:
    """An integer as C text: INT32_MIN is not a literal in C (2147483648 does not fit int), so an expression."""
    v = int(v)
    return "(-2147483647 - 1)" if v == -(2**31) else str(v)
