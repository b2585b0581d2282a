"""The data walks one way: a module imports only from its own floor or lower ones (docs/DEVELOPING.md), and nothing
outside ``edgeq/cli`` imports ``edgeq.cli``. Walks every import statement (also the ones inside functions)."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "edgeq"

#: top-level part of edgeq -> floor (higher floors may import lower ones, never the reverse)
FLOORS = {
    "errors": 0, "_fs": 0, "_resources": 0,
    "_fmt": 1, "_plot": 1, "_argtypes": 1, "quant": 1, "tflite": 1, "_proc": 1, "_templates": 1, "protocol_spec": 1,
    "compiler": 2, "reference": 2,
    "targets": 3,
    "bench": 4, "runtime": 4, "convert": 4, "qat": 4,
    "api": 5, "demo": 5,
    "cli": 6, "__main__": 6,
}


def _part(module: str) -> str | None:
    bits = module.split(".")
    if bits[0] != "edgeq":
        return None
    return bits[1] if len(bits) > 1 else ""


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
    return out


def test_no_upward_imports():
    bad = []
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG)
        own = rel.parts[0].removesuffix(".py")
        if own == "__init__":
            continue  # edgeq/__init__.py is the public door: lazy attributes that load any floor on first use
        floor = FLOORS.get(own)
        assert floor is not None, f"edgeq/{rel}: add '{own}' to FLOORS in this test and to docs/DEVELOPING.md"
        for line, module in _imports(path):
            part = _part(module)
            if part in (None, "", own) or part == "__init__":
                continue
            target = FLOORS.get(part)
            if target is None:
                continue  # an attribute of edgeq/__init__ (e.g. __version__)
            if target > floor:
                bad.append(f"edgeq/{rel}:{line} imports {module} (floor {target} > {own}'s floor {floor})")
    assert not bad, "upward imports:\n" + "\n".join(bad)


def test_nothing_outside_cli_imports_the_cli():
    bad = [f"edgeq/{p.relative_to(PKG)}:{line}: {m}" for p in sorted(PKG.rglob("*.py"))
           if p.relative_to(PKG).parts[0] not in ("cli", "__main__.py")
           for line, m in _imports(p) if m == "edgeq.cli" or m.startswith("edgeq.cli.")]
    assert not bad, bad
