"""Output helpers shared by the commands: ``--json`` prints exactly one JSON object on stdout."""

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
    return json.dumps(obj, default=_default, indent=2, sort_keys=False)


def emit(args, obj: Any, text: str | None = None) -> None:
    """Print ``obj`` as JSON when ``--json`` was given, else ``text`` (or the JSON when there is no text form)."""
    if getattr(args, "json", False) or text is None:
        print(to_json(obj))
    else:
        print(text)


def markdown_table(headers: list[str], rows: list[list[Any]]) -> str:
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
