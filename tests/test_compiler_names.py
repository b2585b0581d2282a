"""Sanitizers for anything a model can put into C: identifiers, comments, string literals."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from edgeq.compiler.names import c_comment, c_identifier, c_string

HOSTILE = ["*/ #include <x> \n", "/* a */", "??/", "??=define", 'a"b', "a\\", "\u00e9\u4e2d\U0001f600", "", "_", "__x",
           "_Bool", "int", "9lives", "x" * 300, "\x00\r\n\t"]
KEYWORDS = {"int", "char", "return", "static", "_Bool", "if", "while"}


def _ok_identifier(s: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", s)) and "__" not in s and s not in KEYWORDS


def _ok_text(s: str, quotes: bool) -> bool:
    bad = ("*/", "/*", "??", "\\", "\n", "\r") + (() if quotes else ('"',))
    return s.isascii() and s.isprintable() and not any(b in s for b in bad) and "*" not in s


def test_hostile_examples():
    for h in HOSTILE:
        assert _ok_identifier(c_identifier(h)), (h, c_identifier(h))
        assert _ok_text(c_comment(h), quotes=True), (h, c_comment(h))
        assert _ok_text(c_string(h), quotes=False), (h, c_string(h))
    assert c_identifier("conv2d_1") == "conv2d_1"
    assert c_identifier("int") == "int_"
    assert c_identifier("9lives").startswith("n9")
    assert c_comment("model/conv2d/Relu;BiasAdd") == "model/conv2d/Relu;BiasAdd"
    assert len(c_comment("x" * 500)) <= 100


def test_distinct_names_stay_distinct():
    assert c_identifier("a/b") != c_identifier("a_b")
    assert c_identifier("x" * 60 + "1") != c_identifier("x" * 60 + "2")


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_any_text(s):
    assert _ok_identifier(c_identifier(s))
    assert _ok_identifier(c_identifier(s, prefix="edgeq_"))
    assert _ok_text(c_comment(s), quotes=True)
    assert _ok_text(c_string(s), quotes=False)
