"""TFLM sketches (``--runtime tflm``): an Arduino sketch for the Arduino_TensorFlowLite library serving the same
protocol: the model as an ``alignas(16)`` array, a ``MicroMutableOpResolver<N>`` with exactly the model's ops
(int8-only registrations where they exist) and the tensor arena measured with the TFLM reference interpreter.
For 32-bit Arduino boards; built like any Arduino sketch (its C sources only: the TFLM library is C++ and cannot be
installed here)."""

from __future__ import annotations

from pathlib import Path

from edgeq._fs import MAX_MODEL_BYTES, read_input_bytes
from edgeq.targets.boards import Board, require_fit
from edgeq.targets.fit import tflm_fit
from edgeq.targets.platforms.arduino import ArduinoPlatform, render_sketch
from edgeq.targets.platforms.base import ExportJob, write_config, write_protocol_files
from edgeq._templates import render


def takes_tflm(board: Board) -> bool:
    """Whether the TFLM sketch can target ``board``: a 32-bit Arduino board."""
    return board.project == "arduino" and board.core.arch != "avr"


class TflmPlatform(ArduinoPlatform):
    layout = "arduino"  # an Arduino sketch folder; the project file's ``runtime`` says TFLM

    def plan(self, job: ExportJob) -> None:
        """The resolver and the arena, measured by running TFLM in child processes (it may crash on a too-small
        arena), then the fit with that arena."""
        from edgeq.targets import tflm

        job.backend = "tflm"
        job.tflm_entries = tflm.resolver_entries(job.graph)
        job.tflm_arena = tflm.measure_arena(job.model_path, job.graph)
        fit = tflm_fit(self.board, job.graph.file_size, len(job.tflm_entries), job.tflm_arena["arena_bytes"],
                       io_bytes=job.in_bytes)
        job.fit = require_fit(fit, where=str(job.model_path))

    def generate(self, job: ExportJob, dest: Path) -> None:
        cfg, entries, arena = job.cfg, job.tflm_entries, job.tflm_arena
        job.extra_meta["tflm"] = {"ops": [e.to_dict() for e in entries], **arena}
        sk = dest / job.sketch_name
        src_dir = sk / "src" / "edgeq"
        src_dir.mkdir(parents=True)
        write_protocol_files(src_dir)
        write_config(src_dir, cfg, job.check_cfg)
        data = read_input_bytes(job.model_path, what=".tflite model", max_bytes=MAX_MODEL_BYTES)
        (src_dir / "edgeq_model_data.h").write_text(render("firmware/tflm/edgeq_model_data.h.j2", cfg=cfg,
                                                           size=len(data)))
        (src_dir / "edgeq_model_data.cpp").write_text(render("firmware/tflm/edgeq_model_data.cpp.j2", cfg=cfg,
                                                             size=len(data), rows=_hex_rows(data)))
        (src_dir / "edgeq_app_tflm.cpp").write_text(render("firmware/tflm/edgeq_app_tflm.cpp.j2", cfg=cfg,
                                                           entries=entries, arena=arena))
        render_sketch(sk, job.sketch_name, self.board, cfg, runtime="tflm")
        job.sketch = f"{job.sketch_name}/{job.sketch_name}.ino"
        (dest / "README.md").write_text(render("firmware/tflm/README.md.j2", board=self.board, cfg=cfg, fit=job.fit,
                                               sketch=job.sketch_name, entries=entries, arena=arena))


def _hex_rows(data: bytes, per_row: int = 16) -> list[str]:
    return [", ".join(f"0x{b:02x}" for b in data[i:i + per_row]) for i in range(0, len(data), per_row)]
