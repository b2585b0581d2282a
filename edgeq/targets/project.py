"""The project file: ``edgeq-project.json`` in every folder ``edgeq export`` writes.

It records what the folder was generated from and for (board, runtime, backend, layout, model and its sha256, the
protocol's ``info`` object, the fit report) and, after a build, where the firmware is and what it measured. ``edgeq
flash``, ``edgeq bench --board`` and the builds read it back with :func:`read_project`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from edgeq._fs import MAX_TEXT_BYTES, atomic_write_text, read_input_bytes
from edgeq.errors import EdgeqError

PROJECT_FILE = "edgeq-project.json"
#: the version of the project file's layout
PROJECT_VERSION = 1


def read_project(path: str | os.PathLike) -> dict:
    """The edgeq-project.json of an exported folder (with ``dir`` added)."""
    p = Path(path)
    f = p / PROJECT_FILE
    if not f.is_file():
        raise EdgeqError("not an edgeq export folder (no edgeq-project.json)", where=str(p),
                         hint="give the folder `edgeq export` wrote")
    try:
        meta = json.loads(read_input_bytes(f, what=PROJECT_FILE, max_bytes=MAX_TEXT_BYTES))
    except (OSError, ValueError) as exc:
        raise EdgeqError(f"unreadable {PROJECT_FILE}: {exc}", where=str(p)) from None
    meta["dir"] = str(p)
    return meta


def write_project(folder: str | os.PathLike, meta: dict) -> Path:
    """Write ``meta`` (without the ``dir`` that :func:`read_project` adds) as the folder's project file, atomically."""
    body = {k: v for k, v in meta.items() if k != "dir"}
    return atomic_write_text(Path(folder) / PROJECT_FILE, json.dumps(body, indent=2) + "\n")


def record_build(folder: str | os.PathLike, meta: dict, res) -> None:
    """Add a build's result (an :class:`edgeq.targets.build.BuildResult`: firmware path, sizes, log) to the project
    file of ``folder`` (``meta``: its contents)."""
    d = Path(folder)
    meta["firmware"] = str(res.firmware.relative_to(d)) if res.firmware else None
    meta["build"] = res.to_dict()
    if meta["build"].get("firmware"):
        meta["build"]["firmware"] = meta["firmware"]
    write_project(d, meta)
