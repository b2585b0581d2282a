"""Plain output formatting shared by every stage: JSON (numpy- and Path-aware) and Markdown tables.

A low floor (imports nothing from edgeq above ``errors``): the bench harness, evaluate, the QAT report and the CLI all
format through here. numpy is imported only when a value to format is already a numpy value.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any


def _default(obj: Any):
    if type(obj).__module__ == "numpy":  # numpy is imported only when a command already produced numpy values
        import numpy as np

        return _numpy_default(obj, np)
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _numpy_default(obj: Any, np):
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return None if not math.isfinite(float(obj)) else float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.bool_):
        return bool(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def to_json(obj: Any) -> str:
    """``obj`` as indented JSON; numpy scalars/arrays, Paths and objects with ``to_dict()`` are converted."""
    return json.dumps(obj, default=_default, indent=2, sort_keys=False)


def markdown_table(headers: list[str], rows: list[list[Any]]) -> str:
    """A GitHub Markdown table; floats print with 4 significant digits, everything else with ``str``."""
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
