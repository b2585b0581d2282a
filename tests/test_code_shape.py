"""Shape rules for the code in edgeq/: no function longer than 100 lines (a longer one does several things: split it
where its parts are), and no guarded import of edgeq's own code (``try: import edgeq.x / except ImportError``: the
module is always there, so the except branch is dead code that hides real import errors)."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "edgeq"
MAX_LINES = 100

#: functions still longer than MAX_LINES, by "path:name" -> why it is allowed for now. Remove an entry when the
#: function is split; the test fails on a stale entry too.
ALLOWED_LONG: dict[str, str] = {}


def _functions(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            start = min([node.lineno] + [d.lineno for d in node.decorator_list])
            yield node, node.end_lineno - start + 1


def _files():
    for path in sorted(PKG.rglob("*.py")):
        yield path, path.relative_to(PKG).as_posix(), ast.parse(path.read_text(), filename=str(path))


def long_functions(limit: int = MAX_LINES) -> list[tuple[str, int, str, int]]:
    """(relative path, line, name, length) of every function in edgeq/ longer than ``limit`` lines."""
    return [(rel, node.lineno, node.name, n) for _path, rel, tree in _files()
            for node, n in _functions(tree) if n > limit]


def test_no_function_longer_than_100_lines():
    found = long_functions()
    bad = [f"edgeq/{rel}:{line} {name}: {n} lines" for rel, line, name, n in found
           if f"{rel}:{name}" not in ALLOWED_LONG]
    stale = set(ALLOWED_LONG) - {f"{rel}:{name}" for rel, _line, name, _n in found}
    assert not bad, f"functions longer than {MAX_LINES} lines (split them where they do several things):\n" \
        + "\n".join(bad)
    assert not stale, f"no longer too long: remove from ALLOWED_LONG: {sorted(stale)}"


def _imports_edgeq(stmt: ast.stmt) -> bool:
    for node in ast.walk(stmt):
        if isinstance(node, ast.Import) and any(a.name == "edgeq" or a.name.startswith("edgeq.") for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and (node.level > 0 or (node.module or "").split(".")[0] == "edgeq"):
            return True
    return False


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    if handler.type is None:
        return False  # a bare except around a block is about the block, not about an import
    return bool({n.id for n in ast.walk(handler.type) if isinstance(n, ast.Name)}
                & {"ImportError", "ModuleNotFoundError"})


#: files whose guarded imports are known, -> why they are allowed for now (remove an entry when its file is fixed)
ALLOWED_GUARDED: dict[str, str] = {}


def guarded_imports() -> list[str]:
    """``edgeq/path:line`` of every import of edgeq's own code inside a ``try`` whose handler catches ImportError."""
    out = []
    for _path, rel, tree in _files():
        for node in ast.walk(tree):
            if isinstance(node, ast.Try) and any(_catches_import_error(h) for h in node.handlers):
                out += [f"edgeq/{rel}:{stmt.lineno}" for stmt in node.body if _imports_edgeq(stmt)]
    return out


def test_no_guarded_imports_of_edgeq_itself():
    found = guarded_imports()
    bad = [f for f in found if f.split(":")[0].removeprefix("edgeq/") not in ALLOWED_GUARDED]
    stale = set(ALLOWED_GUARDED) - {f.split(":")[0].removeprefix("edgeq/") for f in found}
    assert not bad, "imports of edgeq's own modules guarded by except ImportError (import them plainly):\n" \
        + "\n".join(bad)
    assert not stale, f"no guarded import left: remove from ALLOWED_GUARDED: {sorted(stale)}"


def test_the_checks_see_what_they_look_for():
    """The walkers find a long function and a guarded import in code written for the purpose."""
    long_src = "def f():\n" + "    x = 1\n" * MAX_LINES
    assert [n for _node, n in _functions(ast.parse(long_src))] == [MAX_LINES + 1]
    guarded = ast.parse("try:\n    from edgeq.compiler import emit\nexcept ModuleNotFoundError:\n    emit = None\n")
    t = guarded.body[0]
    assert _imports_edgeq(t.body[0]) and _catches_import_error(t.handlers[0])
    plain = ast.parse("try:\n    import numpy\nexcept ImportError:\n    numpy = None\n").body[0]
    assert not _imports_edgeq(plain.body[0])


if __name__ == "__main__":  # python tests/test_code_shape.py: print every function over the limit, longest first
    import sys

    limit = int(sys.argv[1]) if len(sys.argv) > 1 else MAX_LINES
    for rel, line, name, n in sorted(long_functions(limit), key=lambda r: -r[3]):
        print(f"edgeq/{rel}:{line} {name}: {n} lines")
    print("\n".join(guarded_imports()))
