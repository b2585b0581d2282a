"""The committed Arduino examples are exactly what `edgeq export` makes today."""

from __future__ import annotations

import filecmp
import importlib.util
from pathlib import Path

from conftest import REPO

EXAMPLES = REPO / "examples" / "arduino"


def _load_regenerate():
    spec = importlib.util.spec_from_file_location("regenerate", EXAMPLES / "regenerate.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_arduino_examples_are_current(tmp_path):
    mod = _load_regenerate()
    mod.regenerate(tmp_path)
    for folder in mod.EXAMPLES:
        fresh, committed = tmp_path / folder, EXAMPLES / folder
        assert _tree(fresh) == _tree(committed), (
            f"examples/arduino/{folder} is stale: run python examples/arduino/regenerate.py")
        different = [f for f in sorted(_tree(fresh)) if not filecmp.cmp(fresh / f, committed / f, shallow=False)]
        assert not different, f"stale files in examples/arduino/{folder}: {different} (run regenerate.py)"
    assert (EXAMPLES / "uno" / "DigitsUno" / "DigitsUno.ino").is_file()
    assert (EXAMPLES / "tflm" / "DigitsTFLM" / "DigitsTFLM.ino").is_file()
