"""jinja2 rendering of the firmware templates (``firmware_templates/``) with C-safe filters."""

from __future__ import annotations

import functools
import math

from edgeq._resources import templates_dir  # noqa: F401  (re-exported: export, emulators, tests use it)


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
    if len(ch) != 1:
        raise ValueError(f"not one character: {ch!r}")
    if ch in "'\\":
        return f"'\\{ch}'"
    if not (32 <= ord(ch) < 127):
        return f"'\\{ord(ch):03o}'"
    return f"'{ch}'"


def c_float(x) -> str:
    x = float(x)
    if not math.isfinite(x):
        raise ValueError(f"not a finite float: {x}")
    r = repr(x)
    if "e" not in r and "." not in r:
        r += ".0"
    return r + "f"


@functools.lru_cache(maxsize=1)
def environment():
    import jinja2

    from edgeq.compiler.names import c_comment

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
    return environment().get_template(template).render(**context)
