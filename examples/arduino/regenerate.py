#!/usr/bin/env python3
"""Regenerate the two example sketches from digits_int8.tflite (tests/test_examples.py checks they are current).

    python examples/arduino/regenerate.py            # rewrite uno/ and tflm/ in this folder
    python examples/arduino/regenerate.py OUT_DIR    # write them somewhere else (the test does this)
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODEL = "digits_int8.tflite"

#: folder -> `edgeq export` arguments (run inside the output folder, so the paths recorded are relative)
EXAMPLES = {
    "uno": ["--board", "uno", "--runtime", "edgeq", "--name", "DigitsUno"],
    "tflm": ["--board", "nano33ble", "--runtime", "tflm", "--name", "DigitsTFLM"],
}


def regenerate(out: Path) -> None:
    import os

    from edgeq.cli.main import main

    out.mkdir(parents=True, exist_ok=True)
    if out.resolve() != HERE:
        shutil.copy2(HERE / MODEL, out / MODEL)
    cwd = os.getcwd()
    os.chdir(out)
    try:
        for folder, args in EXAMPLES.items():
            code = main(["export", MODEL, *args, "-o", folder, "--force"])
            if code:
                raise SystemExit(f"edgeq export for {folder} failed with exit code {code}")
    finally:
        os.chdir(cwd)


if __name__ == "__main__":
    regenerate(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
