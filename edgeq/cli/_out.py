"""Output of the commands: ``--json`` prints exactly one JSON object on stdout (formatting lives in
:mod:`edgeq._fmt`, shared with the stages below the CLI)."""

from __future__ import annotations

from typing import Any

from edgeq._fmt import markdown_table, to_json

__all__ = ["emit", "markdown_table", "to_json"]


def emit(args, obj: Any, text: str | None = None) -> None:
    """Print ``obj`` as JSON when ``--json`` was given, else ``text`` (or the JSON when there is no text form)."""
    if getattr(args, "json", False) or text is None:
        print(to_json(obj))
    else:
        print(text)
