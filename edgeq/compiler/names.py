"""Sanitizers: nothing read from a model (tensor names, the model name, descriptions) reaches C source unfiltered.

* :func:`c_identifier` - a valid, non-reserved C identifier (letters, digits, ``_``), for names in code.
* :func:`c_comment` - text safe inside a ``/* ... */`` comment on one line (no ``*/``, ``/*``, newlines, trigraphs,
  backslashes or control characters), shortened.
* :func:`c_string` - text safe inside a C string literal (same filtering, no quotes).

All three only ever output printable ASCII.
"""

from __future__ import annotations

import hashlib
import re

__all__ = ["c_identifier", "c_comment", "c_string"]

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
