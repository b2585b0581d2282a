"""``edgeq export``: a model + a board -> a firmware project that serves the benchmark protocol (or runs an app).

The pipeline, each step in its own module:

1. check the request (board, runtime, options, model file, output folder) before any work;
2. read the model and resolve ``--runtime auto`` (:func:`choose_runtime`);
3. the model's I/O (:mod:`edgeq.targets.model_io`) and the app's values (:mod:`edgeq.targets.app`);
4. the layout's plan (:mod:`edgeq.targets.platforms`): backend, compiler plan or TFLM arena, and the fit check
   (:mod:`edgeq.targets.fit`): a model that does not fit stops here, with nothing written;
5. the firmware's configuration (:mod:`edgeq.targets.fwconfig`);
6. the layout writes the project into a temporary folder, with its project file (:mod:`edgeq.targets.project`),
   which then replaces the output folder atomically;
7. with ``build``, the layout builds it.

Layouts: a bare-metal Cortex-M project (startup, linker script, Makefile) for the QEMU/generic boards, an Arduino
sketch of edgeq's C, or (``--runtime tflm``) an Arduino sketch for the Arduino_TensorFlowLite library.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeq._fs import MAX_MODEL_BYTES, check_input_file, check_output_dir
from edgeq.errors import EdgeqError, ModelError, UnsupportedError
from edgeq.targets.app import APPS, app_context, metadata_labels, read_labels
from edgeq.targets.boards import Board, FitReport, get_board
from edgeq.targets.fwconfig import DB_FORMATS, choose_baud, db_format_note, firmware_config
from edgeq.targets.model_io import io_facts, model_name
from edgeq.targets.platforms import ExportJob, platform_for, takes_tflm
from edgeq.targets.project import PROJECT_VERSION

RUNTIMES = ("auto", "edgeq", "tflm")


@dataclass
class ExportResult:
    out_dir: Path
    board: Board
    runtime: str
    backend: str
    project: str  # "cortexm" | "arduino"
    model_name: str
    sha256: str
    fit: FitReport
    sketch: Path | None = None
    notes: list[str] = field(default_factory=list)
    runtime_reason: str | None = None  # --runtime auto chose TFLM: the op edgeq's compiler refused
    compile: dict | None = None
    tflm: dict | None = None
    build: Any = None  # edgeq.targets.build.BuildResult

    def to_dict(self) -> dict:
        d = {
            "out_dir": str(self.out_dir),
            "board": self.board.name,
            "runtime": self.runtime,
            "backend": self.backend,
            "project": self.project,
            "sketch": str(self.sketch) if self.sketch else None,
            "model": self.model_name,
            "sha256": self.sha256,
            "fit": self.fit.to_dict(),
            "notes": list(self.notes),
            "runtime_reason": self.runtime_reason,
        }
        if self.compile:
            d["compile"] = self.compile
        if self.tflm:
            d["tflm"] = self.tflm
        if self.build is not None:
            d.update(self.build.to_dict())
        return d


def export(model: str | os.PathLike, board: str, out_dir: str | os.PathLike, *, runtime: str = "auto",
           backend: str | None = None, cmsis_nn_dir: str | os.PathLike | None = None, build: bool = False,
           force: bool = False, name: str | None = None, db_format: str = "auto", baud: int | None = None,
           energy: bool = False, app: str = "bench", labels: str | os.PathLike | None = None,
           top_k: int = 3, optimize: str = "speed") -> ExportResult:
    """Write the firmware project for ``model`` on ``board`` into ``out_dir`` (and build it with ``build``).

    ``app``: ``bench`` (default) serves the benchmark protocol; ``classify`` reads input windows (serial text or
    binary, or the user's ``edgeq_read_input()``) and prints the ``top_k`` labels with scores (``labels``: a text
    file, one label per line; default class0, class1, ...); ``regress`` prints the dequantized outputs.
    ``optimize``: ``speed`` or ``size`` (edgeq's compiled C, :data:`edgeq.compiler.OPTIMIZE`)."""
    from edgeq._fs import atomic_dir
    from edgeq.targets.project import write_project
    from edgeq.tflite import read_model

    b = get_board(board)
    _check_options(b, runtime=runtime, backend=backend, db_format=db_format, baud=baud, energy=energy, app=app,
                   labels=labels, optimize=optimize)
    label_list = read_labels(labels) if labels is not None else None
    model_path = _check_model_file(model)
    out_dir = check_output_dir(out_dir, force=force)

    graph = read_model(model_path)
    runtime, runtime_reason = _resolve_runtime(graph, b, runtime, app=app, backend=backend)
    job = _new_job(b, runtime, model_path, graph, name=name, app=app, labels=label_list, top_k=top_k,
                   backend=backend, cmsis_nn_dir=cmsis_nn_dir)
    job.optimize = optimize
    platform = platform_for(b, runtime)
    platform.plan(job)  # raises when the model does not fit: nothing is written
    _configure(job, db_format=db_format, baud=baud, energy=energy)

    with atomic_dir(out_dir, force=force) as tmp:
        platform.generate(job, tmp)
        write_project(tmp, _project_meta(job, platform.layout, model_path, out_dir))

    result = ExportResult(out_dir=out_dir, board=b, runtime=runtime, backend=job.backend, project=b.project,
                          model_name=job.name, sha256=graph.sha256, fit=job.fit, notes=job.notes,
                          runtime_reason=runtime_reason, compile=job.extra_meta.get("compile"),
                          tflm=job.extra_meta.get("tflm"), sketch=out_dir / job.sketch if job.sketch else None)
    if build:
        from edgeq.targets.platforms import build_project

        result.build = build_project(out_dir)
    return result


def _check_options(b: Board, *, runtime: str, backend: str | None, db_format: str, baud: int | None, energy: bool,
                   app: str, labels, optimize: str = "speed") -> None:
    """The options against each other and the board, before any work."""
    from edgeq.compiler import OPTIMIZE

    if runtime not in RUNTIMES:
        raise EdgeqError(f"unknown runtime '{runtime}' (known: {', '.join(RUNTIMES)})", where="--runtime")
    if optimize not in OPTIMIZE:
        raise EdgeqError(f"unknown optimization goal '{optimize}' (known: {', '.join(OPTIMIZE)})", where="--optimize")
    if optimize != "speed" and runtime == "tflm":
        raise EdgeqError("--optimize applies to --runtime edgeq; the TFLM library brings its own kernels",
                         where="--optimize")
    if db_format not in DB_FORMATS:
        raise EdgeqError(f"unknown --db-format '{db_format}' (known: {', '.join(DB_FORMATS)})", where="--db-format")
    if baud is not None and not (300 <= int(baud) <= 12_000_000):
        raise EdgeqError(f"--baud {baud} is not a serial baud rate", where="--baud", hint="e.g. 115200 or 921600")
    if energy and not (b.timestamp_pin or b.qemu.get("led_register")):
        raise UnsupportedError(f"board {b.name} has no timestamp pin for the MLPerf energy mode in the board table",
                               where="--energy", hint="use a board that lists one (`edgeq boards --json`)")
    if energy and runtime == "tflm" and b.project != "arduino":  # pragma: no cover - tflm is Arduino-only
        raise UnsupportedError("--energy needs an Arduino or QEMU board", where="--energy")
    if app not in APPS:
        raise EdgeqError(f"unknown app '{app}' (known: {', '.join(APPS)})", where="--app")
    if app != "bench" and runtime == "tflm":
        raise UnsupportedError(f"--app {app} runs on edgeq's compiled C", where="--app",
                               hint="use --runtime edgeq (or auto)")
    if labels is not None and app != "classify":
        raise EdgeqError("--labels goes with --app classify", where="--labels")
    if runtime == "tflm":
        if not takes_tflm(b):
            raise UnsupportedError(
                f"the TFLM export is an Arduino sketch for 32-bit boards; {b.name} is "
                f"{'an 8-bit AVR' if b.core.arch == 'avr' else 'not an Arduino board'}",
                where="--runtime tflm", hint="use --runtime edgeq, or a board such as nano33ble")
        if backend:
            raise EdgeqError("--backend applies to --runtime edgeq; the TFLM library brings its own kernels "
                             "(CMSIS-NN on Arm boards)", where="--backend")


def _check_model_file(model: str | os.PathLike) -> Path:
    model_path = Path(model).expanduser()
    if not model_path.exists():
        raise ModelError("no such model file", where=str(model_path))
    check_input_file(model_path, what=".tflite model", max_bytes=MAX_MODEL_BYTES, error=ModelError)
    return model_path


def _resolve_runtime(graph, b: Board, runtime: str, *, app: str, backend: str | None) -> tuple[str, str | None]:
    """``--runtime auto`` resolved (:func:`choose_runtime`) and checked against ``--app`` and ``--backend``."""
    if runtime != "auto":
        return runtime, None
    runtime, reason = choose_runtime(graph, b, b.core.target)
    if runtime == "tflm" and app != "bench":
        raise UnsupportedError(f"--app {app} runs on edgeq's compiled C, and TFLM runs this model ({reason})",
                               where="--app")
    if runtime == "tflm" and backend:
        raise EdgeqError(f"--backend applies to edgeq's C, and TFLM runs this model ({reason})", where="--backend")
    return runtime, reason


def _new_job(b: Board, runtime: str, model_path: Path, graph, *, name: str | None, app: str,
             labels: list[str] | None, top_k: int, backend: str | None, cmsis_nn_dir) -> ExportJob:
    """The model's I/O, names and app values: what every layout generates from."""
    from edgeq.compiler.names import c_identifier

    inputs = [io_facts(t) for t in graph.input_tensors()]
    outputs = [io_facts(t) for t in graph.output_tensors()]
    mname = model_name(model_path)
    sketch_name = name or mname
    if c_identifier(sketch_name) != sketch_name:
        if name:
            raise EdgeqError(f"--name {sketch_name!r} is not a valid sketch name (letters, digits, underscores; not "
                             f"a C keyword)", where="--name", hint="e.g. --name my_model")
        raise EdgeqError(f"the sketch name {sketch_name!r} derived from the model file name {model_path.name!r} is "
                         f"not valid", where=str(model_path), hint="pass --name NAME (letters, digits, underscores)")
    if app == "classify" and labels is None:
        labels = metadata_labels(model_path, graph.output_tensors()[0].num_elements)
    app_ctx = app_context(app, graph, inputs, outputs, labels, top_k) if app != "bench" else None
    return ExportJob(board=b, runtime=runtime, model_path=model_path, graph=graph, name=mname,
                     sketch_name=sketch_name, inputs=inputs, outputs=outputs, app=app, app_ctx=app_ctx,
                     backend_request=backend, cmsis_nn_dir=cmsis_nn_dir)


def _configure(job: ExportJob, *, db_format: str, baud: int | None, energy: bool) -> None:
    """The firmware's configuration (and, for a board checked in QEMU, the check build's with the QEMU timer)."""
    b = job.board
    common = dict(name=job.name, sha256=job.graph.sha256, board=b, runtime=job.runtime, backend=job.backend,
                  inputs=job.inputs, outputs=job.outputs, db_format=db_format, energy=energy)
    job.cfg = firmware_config(**common, baud=choose_baud(b, baud, job.inputs, job.outputs, job.name))
    job.notes.append(db_format_note(job.cfg))
    if b.build == "check-qemu" and b.core.qemu_check:
        job.check_cfg = firmware_config(**common, baud=job.cfg["baud"], timer_board=get_board(b.core.qemu_check))


def _project_meta(job: ExportJob, layout: str, model_path: Path, out_dir: Path) -> dict:
    """The project file's contents (edgeq.targets.project)."""
    meta: dict[str, Any] = {
        "edgeq_project": PROJECT_VERSION,
        "board": job.board.name,
        "runtime": job.runtime,
        "backend": job.backend,
        "project": layout,
        "model": job.name,
        # relative to the project folder, so a project can be moved (or committed) together with its model
        "model_path": os.path.relpath(model_path.resolve(), Path(out_dir).resolve()),
        "sha256": job.graph.sha256,
        "info": job.cfg["info"],
        "app": job.app,
    }
    if job.app_ctx:
        meta["labels"] = job.app_ctx.get("labels")
    meta.update(job.extra_meta)
    if job.sketch:
        meta["sketch"] = job.sketch
    meta["fit"] = job.fit.to_dict()
    meta["notes"] = job.notes
    return meta


def choose_runtime(graph, board: Board, target: str) -> tuple[str, str | None]:
    """``--runtime auto``: edgeq's C when its compiler takes every op of the model, else TFLM when TFLM runs the
    model and the board takes a TFLM sketch. Returns (runtime, why TFLM was chosen: the op edgeq refused)."""
    from edgeq.compiler.lower import lower
    from edgeq.tflite.check import runtime_verdicts

    verdicts = runtime_verdicts(graph)
    where = graph.source or graph.name
    if verdicts["edgeq"]["ok"]:
        try:  # the static check passed; the compiler's per-layer checks (dtypes, ranks, parameters) have the last word
            lower(graph, target=target)
            return "edgeq", None
        except UnsupportedError as exc:
            why = f"{exc.where}: {exc.message}" if exc.where else exc.message
            first = None
    else:
        first = next(f for f in verdicts["edgeq"]["reasons"] if f["blocking"])
        why = f"{first['where']} is not supported by edgeq's compiler" if first["where"].startswith("operator") \
            else first["message"]
    if not verdicts["tflm"]["ok"]:
        if first is not None and first["code"] in ("npu-op", "unknown-custom-op", "no-mcu-op"):
            raise UnsupportedError(first["message"], where=where)  # it already says that TFLM cannot run it
        tflm_why = next(f["message"] for f in verdicts["tflm"]["reasons"] if f["blocking"])
        raise UnsupportedError(f"{why}, and TFLM cannot run it either: {tflm_why}", where=where)
    if not takes_tflm(board):
        raise UnsupportedError(f"{why}; TFLM runs it, but the TFLM export is an Arduino sketch for 32-bit boards "
                               f"and {board.name} is not one", where=where,
                               hint="use --board nano33ble (or another 32-bit Arduino board)")
    return "tflm", why


