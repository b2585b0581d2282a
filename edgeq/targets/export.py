"""``edgeq export``: a model + a board -> a firmware project that serves the benchmark protocol.

* ``--runtime edgeq`` on a Cortex-M board with a QEMU/generic platform: a bare-metal project (startup with vector
  table and FPU enable, linker script, CMSDK UART or your UART, SysTick/DWT timer, Makefile) around the compiler's
  model C.
* ``--runtime edgeq`` on an Arduino board: a sketch folder ``DIR/<Name>/<Name>.ino`` + ``src/`` (generated model,
  kernels, protocol, Arduino platform layer) that opens in the Arduino IDE.
* ``--runtime tflm``: an Arduino sketch for the Arduino_TensorFlowLite library: the model as an ``alignas(16)``
  array, a ``MicroMutableOpResolver<N>`` with exactly the model's ops (int8-only registrations where they exist) and
  the tensor arena measured with the TFLM reference interpreter; the same protocol.

Everything is checked before anything is written: the board exists, the runtime suits it, the model fits (a quick
lower bound from the model, then the compiler's exact arena and constant sizes). The folder is written atomically.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeq._fs import MAX_MODEL_BYTES, MAX_TEXT_BYTES, check_input_file, check_output_dir, read_input_bytes
from edgeq.errors import EdgeqError, ModelError, UnsupportedError
from edgeq.targets.analyze import PROTOCOL_FLASH as _PROTOCOL_FLASH
from edgeq.targets.boards import Board, FitReport, fit_check, get_board, pick_backend, require_fit
from edgeq.targets.render import render

RUNTIMES = ("auto", "edgeq", "tflm")
#: what the firmware does: serve the benchmark protocol (default), or an application that prints results
APPS = ("bench", "classify", "regress")
DB_FORMATS = ("auto", "raw", "mlperf")
PROJECT_FILE = "edgeq-project.json"
_IO_DTYPES = ("int8", "uint8", "int16", "int32", "float32")

# TFLM sketch: rough sizes for the fit check before anything is built (edgeq's C: edgeq.targets.analyze.fit_parts)
_TFLM_RUNTIME_FLASH = 42000  # interpreter, allocator, flatbuffer access (measured: AD 322 KB image - 277 KB model)
_TFLM_FLASH_PER_OP = 9000
_TFLM_RAM = 1500


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


# ---- model facts ----------------------------------------------------------------------------------------------
def _io(t) -> dict:
    import numpy as np

    if t.dtype not in _IO_DTYPES:
        raise UnsupportedError(f"{t.dtype} model input/output {t.name!r}: the benchmark protocol carries "
                               f"{', '.join(_IO_DTYPES)} tensors", hint="quantize the model to int8 I/O")
    quantized = bool(t.quant is not None and t.quant.is_quantized and t.scale != 0.0)
    return {
        "name": t.name,
        "shape": [int(d) for d in t.shape],
        "dtype": t.dtype,
        "scale": float(np.float32(t.scale)) if quantized else 0.0,
        "zero_point": int(t.zero_point) if quantized else 0,
        "bytes": int(t.nbytes),
        "count": int(t.num_elements),
        "quantized": quantized,
    }


def model_name(path: Path) -> str:
    """A valid C identifier and sketch name from the model's file name: ``kws_ref_model.tflite`` -> ``kws_ref_model``;
    a C keyword gets a suffix (``int.tflite`` -> ``int_model``); other characters are replaced (plus a short hash)."""
    from edgeq.compiler.names import c_identifier

    ident = c_identifier(path.stem or "model", max_len=40)
    if c_identifier(ident) != ident:  # a keyword got a trailing '_', which the next pass would strip
        ident = c_identifier(ident.rstrip("_") + "_model", max_len=46)
    return ident


#: MLPerf Tiny closed-division models by their I/O signature: (input shape, output shape) -> model id
MLPERF_SIGNATURES = {
    ((1, 49, 10, 1), (1, 12)): "kws01",
    ((1, 32, 32, 3), (1, 10)): "ic01",
    ((1, 96, 96, 3), (1, 2)): "vww01",
    ((1, 640), (1, 640)): "ad01",
}
#: what the official runner sends on the `db` path, per model id (benchmark/runner/datasets.py + the reference
#: submissions' th_load_tensor): int8 MFCC features (kws01), uint8 RGB pixels (ic01, vww01), float32 LE (ad01)
MLPERF_DB_DATA = {"kws01": "int8", "ic01": "uint8", "vww01": "uint8", "ad01": "float32"}


def mlperf_id(name: str, inputs: list[dict] | None = None, outputs: list[dict] | None = None) -> str:
    """The MLPerf Tiny model id a model answers ``profile`` with: from its I/O shapes (the benchmark's models have
    distinctive ones), else from its file name (``spec.MLPERF_MODEL_IDS`` prefixes), else the model's name."""
    from edgeq import protocol_spec as spec

    if inputs and outputs:
        sig = (tuple(inputs[0]["shape"]), tuple(outputs[0]["shape"]))
        if sig in MLPERF_SIGNATURES:
            return MLPERF_SIGNATURES[sig]
    low = name.lower()
    for prefix, mid in spec.MLPERF_MODEL_IDS.items():
        if low.startswith(prefix.lower()):
            return mid
    return name


def graph_bounds(graph) -> tuple[int, int]:
    """(constant bytes, activation lower bound): what any runtime needs at least, from the model alone."""
    const = sum(t.nbytes for t in graph.tensors if t.is_constant)
    act = 0
    for op in graph.operators:
        live = sum(graph.tensors[i].nbytes for i in set(op.inputs) | set(op.outputs)
                   if i >= 0 and not graph.tensors[i].is_constant)
        act = max(act, live)
    return int(const), int(act)


def _db_format(db_format: str, mid: str, inp: dict) -> tuple[str, int]:
    """(format the device reads on the `db` path, host bytes per input byte). ``auto``: the MLPerf runner's data
    format for an MLPerf model (so the official runner works with a default export), raw bytes otherwise."""
    if db_format not in DB_FORMATS:
        raise EdgeqError(f"unknown --db-format {db_format!r} (known: {', '.join(DB_FORMATS)})", where="--db-format")
    if db_format == "raw" or mid not in MLPERF_DB_DATA:
        return "raw", 1
    want = MLPERF_DB_DATA[mid]
    if want == "uint8" and inp["dtype"] == "int8" and inp["zero_point"] == -128:
        return "uint8", 1
    if want == "float32" and inp["dtype"] == "int8" and inp["quantized"]:
        return "float32", 4
    return "raw", 1  # int8 features (kws01), or a model whose input already is the runner's data (float32 I/O)


def db_format_note(cfg: dict) -> str:
    """One sentence saying what the firmware reads on the `db` path (``edgeq export`` prints it)."""
    mid, fmt, dt = cfg["mlperf_id"], cfg["db_format"], cfg["input"]["dtype"]
    what = {"uint8": "uint8 pixels (the device computes int8 = u8 - 128)",
            "float32": "float32 values (the device quantizes them; the anomaly score uses the floats)",
            "raw": f"the {dt} input tensor bytes as they are"}[fmt]
    if mid not in MLPERF_DB_DATA:
        return f"`db` takes {what}"
    runner = MLPERF_DB_DATA[mid] == (dt if fmt == "raw" else fmt)
    return (f"MLPerf model {mid}: `db` takes {what}, "
            + ("the MLPerf Tiny runner's data format" if runner else "NOT the MLPerf Tiny runner's data format")
            + f"; m-results printed as the reference firmware prints them; {cfg['baud']} baud")


def _baud(board: Board, baud: int | None, inputs: list[dict], outputs: list[dict], name: str) -> int:
    """--baud, else the board table's; ad01 at the runner's 921600 (devices_ad.yaml) where the board can do it."""
    if baud:
        return int(baud)
    if mlperf_id(name, inputs, outputs) == "ad01" and board.max_baud >= 921600:
        return 921600
    return board.baud


def firmware_config(*, name: str, sha256: str, board: Board, runtime: str, backend: str, inputs: list[dict],
                    outputs: list[dict], db_format: str = "auto", timer_board: Board | None = None,
                    baud: int | None = None, energy: bool = False) -> dict:
    """The values edgeq_config.h is rendered from (the protocol's view of model, board and timer)."""
    inp, out = inputs[0], outputs[0]
    mid = mlperf_id(name, inputs, outputs)
    fmt, factor = _db_format(db_format, mid, inp)
    results = "mse" if (len(inputs) == 1 and out["shape"] == inp["shape"] and out["count"] > 1) else "scores"
    in_bytes = sum(d["bytes"] for d in inputs)
    if len(inputs) > 1 and fmt != "raw":
        raise EdgeqError(f"--db-format {db_format} converts one input; the model has {len(inputs)}",
                         hint="use --db-format raw (the inputs' bytes, one after the other)")
    # kws01's reference firmware prints "0.%d%d%d" of the truncated digits (no %f on some printf); others "%0.3f"
    digits = "truncate" if mid == "kws01" and results == "scores" else "round"
    tb = timer_board or board
    timer = {"unit": tb.timer["unit"], "per_tick": tb.timer["per_tick"], "source": tb.timer["source"]}
    info = {
        "model": name,
        "sha256": sha256[:16],
        "backend": backend,
        "runtime": runtime,
        "board": board.name,
        "core": board.core.target,
        "clock_hz": tb.clock_hz,
        "inputs": [{k: d[k] for k in ("shape", "dtype", "scale", "zero_point", "bytes")} for d in inputs],
        "outputs": [{k: d[k] for k in ("shape", "dtype", "scale", "zero_point", "bytes")} for d in outputs],
        "timer": timer,
        "protocol": 1,
        "buffer_bytes": in_bytes,
        "db": {"format": fmt, "bytes": in_bytes * factor},
        "results": results,
        "mlperf_id": mid,
        "baud": int(baud or board.baud),
        "timestamp_mode": "energy" if energy else "performance",
    }
    if timer_board is not None and timer_board is not board:
        info["emulated_by"] = timer_board.name
    from edgeq import protocol_spec as spec

    info["protocol"] = spec.PROTOCOL_VERSION
    head = json.dumps(info, separators=(",", ":"))
    assert head.endswith("}")
    return {
        "model": name,
        "board": board.name,
        "backend": backend,
        "runtime": runtime,
        "mlperf_id": mid,
        "input": inp,
        "output": out,
        "inputs": inputs,
        "outputs": outputs,
        "in_bytes": in_bytes,
        "out_bytes": sum(d["bytes"] for d in outputs),
        "results": results,
        "db_format": fmt,
        "db_factor": factor,
        "results_digits": digits,
        "baud": int(baud or board.baud),
        "energy": bool(energy),
        "info_head": head[:-1],
        "info": info,
    }


# ---- templates --------------------------------------------------------------------------------------------------
def _protocol_files(dest: Path) -> None:
    """The protocol (plain C, copied) and the one header rendered from :mod:`edgeq.protocol_spec`."""
    from edgeq import protocol_spec

    (dest / "edgeq_protocol_spec.h").write_text(render("protocol/edgeq_protocol_spec.h.j2",
                                                       version=protocol_spec.PROTOCOL_VERSION,
                                                       defines=protocol_spec.c_defines()))
    for f in ("edgeq_protocol.c", "edgeq_protocol.h", "edgeq_platform.h", "edgeq_app.h"):
        shutil.copyfile(_template_path(f"protocol/{f}"), dest / f)


def _template_path(rel: str) -> Path:
    from edgeq.targets.render import templates_dir

    return templates_dir() / rel


def render_cortexm_platform(dest: Path, board: Board, cfg: dict) -> list[str]:
    """startup.c, link.ld, main.c and the platform layer of a bare-metal Cortex-M build for ``board``."""
    mem = board.memory_map()
    n_irqs = 96 if board.qemu.get("machine", "").startswith("mps3") else 48
    ctx = dict(board=board, core=board.core, mem=mem, cfg=cfg, n_irqs=n_irqs, flash_kb=board.flash // 1024,
               ram_kb=board.ram // 1024)
    (dest / "startup.c").write_text(render("firmware/cortexm/startup.c.j2", **ctx))
    (dest / "link.ld").write_text(render("firmware/cortexm/link.ld.j2", **ctx))
    shutil.copyfile(_template_path("firmware/cortexm/main.c"), dest / "main.c")
    if board.run == "qemu":
        (dest / "platform_qemu.c").write_text(render("firmware/cortexm/platform_qemu.c.j2", **ctx))
        plat = "platform_qemu.c"
    else:
        (dest / "platform_user.c").write_text(render("firmware/cortexm/platform_user.c.j2", **ctx))
        plat = "platform_user.c"
    return ["startup.c", "link.ld", "main.c", plat]


def _write_config(dest: Path, cfg: dict, check_cfg: dict | None = None) -> None:
    (dest / "edgeq_config.h").write_text(render("firmware/common/edgeq_config.h.j2", cfg=cfg, check=check_cfg))


# ---- export -----------------------------------------------------------------------------------------------------
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
    if not _tflm_board(board):
        raise UnsupportedError(f"{why}; TFLM runs it, but the TFLM export is an Arduino sketch for 32-bit boards "
                               f"and {board.name} is not one", where=where,
                               hint="use --board nano33ble (or another 32-bit Arduino board)")
    return "tflm", why


def _tflm_board(b: Board) -> bool:
    return b.project == "arduino" and b.core.arch != "avr"


def export(model: str | os.PathLike, board: str, out_dir: str | os.PathLike, *, runtime: str = "auto",
           backend: str | None = None, cmsis_nn_dir: str | os.PathLike | None = None, build: bool = False,
           force: bool = False, name: str | None = None, db_format: str = "auto", baud: int | None = None,
           energy: bool = False, app: str = "bench", labels: str | os.PathLike | None = None,
           top_k: int = 3) -> ExportResult:
    """Write the firmware project for ``model`` on ``board`` into ``out_dir`` (and build it with ``build``).

    ``app``: ``bench`` (default) serves the benchmark protocol; ``classify`` reads input windows (serial text or
    binary, or the user's ``edgeq_read_input()``) and prints the ``top_k`` labels with scores (``labels``: a text
    file, one label per line; default class0, class1, ...); ``regress`` prints the dequantized outputs."""
    from edgeq._fs import atomic_dir
    from edgeq.tflite import read_model

    b = get_board(board)
    if runtime not in RUNTIMES:
        raise EdgeqError(f"unknown runtime '{runtime}' (known: {', '.join(RUNTIMES)})", where="--runtime")
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
    label_list = _read_labels(labels) if labels is not None else None
    model_path = Path(model).expanduser()
    if not model_path.exists():
        raise ModelError("no such model file", where=str(model_path))
    check_input_file(model_path, what=".tflite model", max_bytes=MAX_MODEL_BYTES, error=ModelError)
    out_dir = check_output_dir(out_dir, force=force)
    if runtime == "tflm":
        if not _tflm_board(b):
            raise UnsupportedError(
                f"the TFLM export is an Arduino sketch for 32-bit boards; {b.name} is "
                f"{'an 8-bit AVR' if b.core.arch == 'avr' else 'not an Arduino board'}",
                where="--runtime tflm", hint="use --runtime edgeq, or a board such as nano33ble")
        if backend:
            raise EdgeqError("--backend applies to --runtime edgeq; the TFLM library brings its own kernels "
                             "(CMSIS-NN on Arm boards)", where="--backend")

    graph = read_model(model_path)
    runtime_reason = None
    if runtime == "auto":
        runtime, runtime_reason = choose_runtime(graph, b, b.core.target)
        if runtime == "tflm" and app != "bench":
            raise UnsupportedError(f"--app {app} runs on edgeq's compiled C, and TFLM runs this model "
                                   f"({runtime_reason})", where="--app")
        if runtime == "tflm" and backend:
            raise EdgeqError(f"--backend applies to edgeq's C, and TFLM runs this model ({runtime_reason})",
                             where="--backend")
    inputs = [_io(t) for t in graph.input_tensors()]
    outputs = [_io(t) for t in graph.output_tensors()]
    mname = model_name(model_path)
    sketch_name = name or mname
    from edgeq.compiler.names import c_identifier

    if c_identifier(sketch_name) != sketch_name:
        if name:
            raise EdgeqError(f"--name {sketch_name!r} is not a valid sketch name (letters, digits, underscores; not "
                             f"a C keyword)", where="--name", hint="e.g. --name my_model")
        raise EdgeqError(f"the sketch name {sketch_name!r} derived from the model file name {model_path.name!r} is "
                         f"not valid", where=str(model_path), hint="pass --name NAME (letters, digits, underscores)")
    notes: list[str] = []
    if app == "classify" and label_list is None:
        label_list = metadata_labels(model_path, graph.output_tensors()[0].num_elements)
    app_ctx = _app_context(app, graph, inputs, outputs, label_list, top_k) if app != "bench" else None

    arch = b.core.arch
    _, act_lb = graph_bounds(graph)
    in_bytes = sum(d["bytes"] for d in inputs)
    if runtime == "edgeq":
        cmsis_available = _cmsis_available(cmsis_nn_dir)
        be, note = pick_backend(b, backend, cmsis_available)
        if note:
            notes.append(note)
        # the compiler's real plan, before anything is written: the same numbers `edgeq analyze` prints
        from edgeq.compiler import plan_model
        from edgeq.targets.analyze import fit_parts

        planned = plan_model(graph, target=b.core.target, backend=be, cmsis_nn_dir=cmsis_nn_dir)
        if app_ctx:  # the app quantizes straight into the arena: no input copy; its state is a number buffer + labels
            labels_ram = 0 if b.core.arch != "avr" else sum(len(x) + 3 for x in app_ctx["labels"] or ())
            pre = fit_parts(b, graph, planned, io_bytes=0, app_ram=48 + labels_ram)
        else:
            pre = fit_parts(b, graph, planned, io_bytes=in_bytes)
        require_fit(pre, where=str(model_path))
    else:
        be = "tflm"
        from edgeq.targets import tflm

        # before anything is written: the probes run TFLM in child processes (it may crash on a too-small arena)
        tflm_entries = tflm.resolver_entries(graph)
        tflm_arena = tflm.measure_arena(model_path, graph)
        pre = fit_check(b, {"model (.tflite)": graph.file_size,
                            "TFLM runtime (estimate)": _TFLM_RUNTIME_FLASH + _TFLM_FLASH_PER_OP * len(graph.ops_used),
                            "protocol (estimate)": _PROTOCOL_FLASH[arch]},
                        {"activations (lower bound)": act_lb, "input buffer": in_bytes, "runtime": _TFLM_RAM})
        require_fit(pre, where=str(model_path))

    cfg = firmware_config(name=mname, sha256=graph.sha256, board=b, runtime=runtime,
                          backend=be if runtime == "edgeq" else "tflm", inputs=inputs, outputs=outputs,
                          db_format=db_format, baud=_baud(b, baud, inputs, outputs, mname), energy=energy)
    notes.append(db_format_note(cfg))
    check_cfg = None
    if b.build == "check-qemu" and b.core.qemu_check:
        from edgeq.targets.boards import get_board as _gb

        qb = _gb(b.core.qemu_check)
        check_cfg = firmware_config(name=mname, sha256=graph.sha256, board=b, runtime=runtime,
                                    backend=cfg["backend"], inputs=inputs, outputs=outputs, db_format=db_format,
                                    baud=cfg["baud"], energy=energy,
                                    timer_board=qb)

    result = ExportResult(out_dir=out_dir, board=b, runtime=runtime, backend=cfg["backend"], project=b.project,
                          model_name=mname, sha256=graph.sha256, fit=pre, notes=notes, runtime_reason=runtime_reason)
    meta: dict[str, Any] = {
        "edgeq_project": 1,
        "board": b.name,
        "runtime": runtime,
        "backend": cfg["backend"],
        "project": b.project,
        "model": mname,
        # relative to the project folder, so a project can be moved (or committed) together with its model
        "model_path": os.path.relpath(model_path.resolve(), Path(out_dir).resolve()),
        "sha256": graph.sha256,
        "info": cfg["info"],
        "app": app,
    }
    if app_ctx:
        meta["labels"] = app_ctx.get("labels")
    with atomic_dir(out_dir, force=force) as tmp:
        if runtime == "edgeq":
            if b.project == "cortexm":
                model_dir = tmp / "model"
                src_dir = tmp
            else:
                sk = tmp / sketch_name
                src_dir = sk / "src" / "edgeq"
                model_dir = sk / "src" / "model"
                src_dir.mkdir(parents=True)
            from edgeq.compiler import compile_model

            cres = compile_model(model_path, target=b.core.target, backend=be, out_dir=model_dir, force=False,
                                 cmsis_nn_dir=cmsis_nn_dir)
            if cres.arena_bytes + cres.scratch_bytes != planned.ram_bytes:  # pragma: no cover - a compiler bug
                raise AssertionError(f"compiled RAM {cres.ram_bytes} != planned {planned.ram_bytes}")
            fit = pre
            result.fit = fit
            result.compile = {"arena_bytes": cres.arena_bytes, "scratch_bytes": cres.scratch_bytes,
                              "const_bytes": cres.const_bytes, "files": list(cres.files)}
            meta["compile"] = result.compile
            _protocol_files(src_dir)
            _write_config(src_dir, cfg, check_cfg)
            model_include = "model.h" if b.project == "cortexm" else "../model/model.h"
            (src_dir / "edgeq_app_edgeq.c").write_text(
                render("firmware/common/edgeq_app_edgeq.c.j2", model_include=model_include,
                       n_inputs=len(inputs), n_outputs=len(outputs)))
            if app_ctx:
                for name in ("edgeq_classify.c", "edgeq_classify.h"):
                    (src_dir / name).write_text(render(f"firmware/app/{name}.j2", cfg=cfg, board=b.name,
                                                       model_include=model_include, **app_ctx))
            if b.project == "cortexm":
                render_cortexm_platform(tmp, b, cfg)
                if app_ctx:
                    shutil.copyfile(_template_path("firmware/app/main_app.c"), tmp / "main.c")
                (tmp / "Makefile").write_text(render("firmware/cortexm/Makefile.j2", board=b, core=b.core, cfg=cfg))
                (tmp / "README.md").write_text(render("firmware/cortexm/README.md.j2", board=b, cfg=cfg,
                                                      meta=meta, fit=result.fit))
            else:
                _render_sketch(sk, sketch_name, b, cfg, runtime="edgeq", app_ctx=app_ctx)
                result.sketch = out_dir / sketch_name / f"{sketch_name}.ino"
                meta["sketch"] = f"{sketch_name}/{sketch_name}.ino"
                (tmp / "README.md").write_text(render("firmware/arduino/README.md.j2", board=b, cfg=cfg,
                                                      meta=meta, fit=result.fit, sketch=sketch_name))
        else:
            entries, arena = tflm_entries, tflm_arena
            fit = fit_check(b, {"model (.tflite)": graph.file_size,
                                "TFLM runtime (estimate)": _TFLM_RUNTIME_FLASH + _TFLM_FLASH_PER_OP * len(entries),
                                "protocol (estimate)": _PROTOCOL_FLASH[arch]},
                            {"tensor arena (measured)": arena["arena_bytes"], "input buffer": in_bytes,
                             "runtime": _TFLM_RAM})
            require_fit(fit, where=str(model_path))
            result.fit = fit
            result.tflm = {"ops": [e.to_dict() for e in entries], **arena}
            meta["tflm"] = result.tflm
            sk = tmp / sketch_name
            src_dir = sk / "src" / "edgeq"
            src_dir.mkdir(parents=True)
            _protocol_files(src_dir)
            _write_config(src_dir, cfg, check_cfg)
            data = read_input_bytes(model_path, what=".tflite model", max_bytes=MAX_MODEL_BYTES)
            (src_dir / "edgeq_model_data.h").write_text(render("firmware/tflm/edgeq_model_data.h.j2", cfg=cfg,
                                                               size=len(data)))
            (src_dir / "edgeq_model_data.cpp").write_text(render("firmware/tflm/edgeq_model_data.cpp.j2", cfg=cfg,
                                                                 size=len(data), rows=_hex_rows(data)))
            (src_dir / "edgeq_app_tflm.cpp").write_text(render("firmware/tflm/edgeq_app_tflm.cpp.j2", cfg=cfg,
                                                               entries=entries, arena=arena))
            _render_sketch(sk, sketch_name, b, cfg, runtime="tflm")
            result.sketch = out_dir / sketch_name / f"{sketch_name}.ino"
            meta["sketch"] = f"{sketch_name}/{sketch_name}.ino"
            (tmp / "README.md").write_text(render("firmware/tflm/README.md.j2", board=b, cfg=cfg, meta=meta,
                                                  fit=result.fit, sketch=sketch_name, entries=entries, arena=arena))
        meta["fit"] = result.fit.to_dict()
        meta["notes"] = notes
        (tmp / PROJECT_FILE).write_text(json.dumps(meta, indent=2) + "\n")

    if build:
        from edgeq.targets.build import build_project

        result.build = build_project(out_dir)
    return result


def _read_labels(path) -> list[str]:
    """Labels from a text file, one per line (blank lines at the end ignored)."""
    p = Path(path).expanduser()
    check_input_file(p, what="labels file", max_bytes=MAX_TEXT_BYTES)
    try:
        text = read_input_bytes(p, what="labels file", max_bytes=MAX_TEXT_BYTES).decode("utf-8")
    except UnicodeDecodeError:
        raise EdgeqError("the labels file is not UTF-8 text", where=str(p), hint="one label per line") from None
    out = [ln.strip() for ln in text.splitlines()]
    while out and not out[-1]:
        out.pop()
    if not out or any(not ln for ln in out):
        raise EdgeqError("the labels file has an empty label", where=str(p), hint="one label per line")
    return out


def metadata_labels(model_path: Path, n_classes: int) -> list[str] | None:
    """Class names packed into the model as TFLite metadata does it (associated files: a zip appended to the
    flatbuffer): the first ``.txt`` file with one non-empty line per class, else None."""
    import io
    import zipfile

    data = read_input_bytes(model_path, what=".tflite model", max_bytes=MAX_MODEL_BYTES)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            for info in z.infolist():
                if not info.filename.lower().endswith(".txt") or info.file_size > MAX_TEXT_BYTES:
                    continue
                lines = [ln.strip() for ln in z.read(info).decode("utf-8", "replace").splitlines()]
                while lines and not lines[-1]:
                    lines.pop()
                if len(lines) == n_classes and all(lines):
                    return lines
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return None
    return None


def _app_context(app: str, graph, inputs: list[dict], outputs: list[dict], labels: list[str] | None,
                 top_k: int) -> dict:
    """Template values of the classify / regress app, checked against the model."""
    from edgeq.compiler.names import c_string

    where = graph.source or graph.name
    if len(inputs) != 1 or len(outputs) != 1:
        raise UnsupportedError(f"--app {app} takes a model with one input and one output; this one has "
                               f"{len(inputs)} and {len(outputs)}", where=where, hint="use the default --app bench")
    inp, out = inputs[0], outputs[0]
    ctypes = {"int8": "int8_t", "int16": "int16_t"}
    if inp["dtype"] not in ctypes or out["dtype"] not in ctypes or not inp["quantized"] or not out["quantized"]:
        raise UnsupportedError(f"--app {app} needs quantized int8/int16 input and output; this model has "
                               f"{inp['dtype']} -> {out['dtype']}", where=where,
                               hint="quantize with int8 I/O: edgeq quantize MODEL --mode int8 --data CALIB.npy")
    ctx = {"app": app, "n_values": inp["count"], "n_out": out["count"], "in_ctype": ctypes[inp["dtype"]],
           "out_ctype": ctypes[out["dtype"]], "in_dtype": inp["dtype"], "top_k": 0, "labels": None}
    if app == "classify":
        n = out["count"]
        if n < 2:
            raise UnsupportedError(f"--app classify needs a model with at least 2 class scores; its output has {n} "
                                   f"value", where=where, hint="use --app regress for a regression model")
        if labels is None:
            labels = [f"class{i}" for i in range(n)]
        elif len(labels) != n:
            raise EdgeqError(f"the labels file has {len(labels)} labels but the model has {n} classes",
                             where="--labels", hint="one label per line, in the order of the model's outputs")
        if not 1 <= int(top_k) <= n:
            raise EdgeqError(f"--top-k {top_k} must be between 1 and the {n} classes", where="--top-k")
        ctx.update(labels=[c_string(label, max_len=40) for label in labels],
                   top_k=int(top_k))
    return ctx


def _cmsis_available(cmsis_nn_dir) -> bool:
    from edgeq.compiler.cmsis_nn import find_cmsis_nn

    try:
        find_cmsis_nn(cmsis_nn_dir)
    except EdgeqError:
        return False
    try:
        import edgeq.compiler.backend_cmsis  # noqa: F401
    except ModuleNotFoundError:
        return False
    return True


def _hex_rows(data: bytes, per_row: int = 16) -> list[str]:
    return [", ".join(f"0x{b:02x}" for b in data[i:i + per_row]) for i in range(0, len(data), per_row)]


def _render_sketch(sk: Path, sketch_name: str, b: Board, cfg: dict, runtime: str, app_ctx: dict | None = None) -> None:
    if app_ctx:
        (sk / f"{sketch_name}.ino").write_text(render("firmware/app/sketch_app.ino.j2", board=b, cfg=cfg,
                                                      sketch=sketch_name, **app_ctx))
    else:
        (sk / f"{sketch_name}.ino").write_text(render("firmware/arduino/sketch.ino.j2", board=b, cfg=cfg,
                                                      sketch=sketch_name, runtime=runtime))
    (sk / "src" / "edgeq" / "edgeq_platform_arduino.cpp").write_text(
        render("firmware/arduino/edgeq_platform_arduino.cpp.j2", board=b, cfg=cfg))


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
