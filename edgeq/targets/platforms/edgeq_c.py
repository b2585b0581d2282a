"""What the layouts running edgeq's compiled C share (bare-metal Cortex-M and the Arduino sketch): the kernel
backend, the fit check from the compiler's real memory plan, and the sources: the model compiled by
:func:`edgeq.compiler.compile_model`, the protocol, the glue between them and the classify/regress app."""

from __future__ import annotations

from pathlib import Path

from edgeq.targets.boards import cmsis_nn_available, pick_backend, require_fit
from edgeq.targets.fit import APP_RAM, edgeq_fit
from edgeq.targets.platforms.base import ExportJob, template_path, write_config, write_protocol_files
from edgeq._templates import render


def plan_edgeq(job: ExportJob) -> None:
    """Pick the backend and plan the model with the compiler: the same numbers ``edgeq analyze`` prints."""
    from edgeq.compiler import plan_model

    b = job.board
    backend, note = pick_backend(b, job.backend_request, cmsis_nn_available(job.cmsis_nn_dir))
    if note:
        job.notes.append(note)
    job.backend = backend
    job.planned = plan_model(job.graph, target=b.core.target, backend=backend, cmsis_nn_dir=job.cmsis_nn_dir,
                             optimize=job.optimize)
    if job.app_ctx:  # the app quantizes straight into the arena: no input copy; its state is a number buffer + labels
        labels_ram = 0 if b.core.arch == "avr" else sum(len(x) + 3 for x in job.app_ctx["labels"] or ())
        fit = edgeq_fit(b, job.graph, job.planned, io_bytes=0, app_ram=APP_RAM + labels_ram)
    else:
        fit = edgeq_fit(b, job.graph, job.planned, io_bytes=job.in_bytes)
    job.fit = require_fit(fit, where=str(job.model_path))


def write_edgeq_sources(job: ExportJob, src_dir: Path, model_dir: Path, model_include: str) -> None:
    """The compiled model into ``model_dir``; protocol, config, model glue and app into ``src_dir``
    (``model_include``: how the glue includes model.h from there)."""
    from edgeq.compiler import compile_model

    b = job.board
    cres = compile_model(job.model_path, target=b.core.target, backend=job.backend, out_dir=model_dir, force=False,
                         cmsis_nn_dir=job.cmsis_nn_dir, optimize=job.optimize)
    if cres.ram_bytes != job.planned.ram_bytes:  # pragma: no cover - the compiler planned twice differently
        raise AssertionError(f"compiled RAM {cres.ram_bytes} != planned {job.planned.ram_bytes}")
    job.extra_meta["compile"] = {"optimize": job.optimize, "arena_bytes": cres.arena_bytes, "scratch_bytes": cres.scratch_bytes,
                                 "const_bytes": cres.const_bytes, "files": list(cres.files)}
    write_protocol_files(src_dir)
    write_config(src_dir, job.cfg, job.check_cfg)
    (src_dir / "edgeq_app_edgeq.c").write_text(
        render("firmware/common/edgeq_app_edgeq.c.j2", model_include=model_include, n_inputs=len(job.inputs),
               n_outputs=len(job.outputs)))
    if job.app_ctx:
        for name in ("edgeq_classify.c", "edgeq_classify.h"):
            (src_dir / name).write_text(render(f"firmware/app/{name}.j2", cfg=job.cfg, board=b.name,
                                               model_include=model_include, **job.app_ctx))


def app_main() -> Path:
    """The bare-metal main() of the classify/regress app (instead of the protocol's)."""
    return template_path("firmware/app/main_app.c")
