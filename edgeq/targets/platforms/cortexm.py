"""Bare-metal Cortex-M projects (``project: cortexm``: the QEMU boards and ``generic-m4``): startup code with the
vector table and FPU enable, a linker script from the board's memory map, the platform layer (CMSDK UART and
SysTick on QEMU, your UART and timer otherwise), a Makefile for arm-none-eabi-gcc + newlib-nano, around the compiled
model in ``model/``. Built with ``make`` into ``build/firmware.elf``."""

from __future__ import annotations

import os
import shlex
import shutil
from pathlib import Path

from edgeq.targets.boards import Board
from edgeq.targets.build import APT_ARM, APT_MAKE, BuildResult, check_built_fit, elf_sizes, need_tool, run_tool
from edgeq.targets.platforms.base import ExportJob, Platform, template_path
from edgeq.targets.platforms.edgeq_c import app_main, plan_edgeq, write_edgeq_sources
from edgeq._templates import render


class CortexMPlatform(Platform):
    layout = "cortexm"

    def plan(self, job: ExportJob) -> None:
        plan_edgeq(job)

    def generate(self, job: ExportJob, dest: Path) -> None:
        b = self.board
        write_edgeq_sources(job, src_dir=dest, model_dir=dest / "model", model_include="model.h")
        render_cortexm_platform(dest, b, job.cfg)
        if job.app_ctx:
            shutil.copyfile(app_main(), dest / "main.c")
        (dest / "Makefile").write_text(render("firmware/cortexm/Makefile.j2", board=b, core=b.core, cfg=job.cfg))
        (dest / "README.md").write_text(render("firmware/cortexm/README.md.j2", board=b, cfg=job.cfg, fit=job.fit))

    def build(self, folder: Path, meta: dict) -> BuildResult:
        need_tool("arm-none-eabi-gcc", APT_ARM)
        make = need_tool("make", APT_MAKE)
        log = folder / "build" / "build.log"
        if log.exists():
            log.unlink()
        jobs = str(max(1, min(8, os.cpu_count() or 1)))
        # make runs inside the project (its Makefile uses paths relative to it): no -C, which would be resolved again
        # from that folder (a relative DIR then names DIR/DIR) and which make would tilde-expand
        run_tool([make, f"-j{jobs}", "all"], cwd=folder, log=log,
                 what=f"building the {self.board.name} firmware (make)")
        elf = folder / "build" / "firmware.elf"
        flash, ram, secs = elf_sizes(elf)
        res = BuildResult(kind="make", firmware=elf, flash_bytes=flash, ram_bytes=ram, sections=secs, log=log,
                          command=f"make -C {shlex.quote(str(folder))}")
        check_built_fit(self.board, res)
        return res


def render_cortexm_platform(dest: Path, board: Board, cfg: dict) -> list[str]:
    """startup.c, link.ld, main.c and the platform layer of a bare-metal Cortex-M build for ``board`` (also the QEMU
    check build of an Arduino sketch for a Cortex-M board)."""
    mem = board.memory_map()
    n_irqs = 96 if board.qemu.get("machine", "").startswith("mps3") else 48
    ctx = dict(board=board, core=board.core, mem=mem, cfg=cfg, n_irqs=n_irqs, flash_kb=board.flash // 1024,
               ram_kb=board.ram // 1024)
    (dest / "startup.c").write_text(render("firmware/cortexm/startup.c.j2", **ctx))
    (dest / "link.ld").write_text(render("firmware/cortexm/link.ld.j2", **ctx))
    shutil.copyfile(template_path("firmware/common/main.c"), dest / "main.c")
    plat = "platform_qemu.c" if board.run == "qemu" else "platform_user.c"
    (dest / plat).write_text(render(f"firmware/cortexm/{plat}.j2", **ctx))
    return ["startup.c", "link.ld", "main.c", plat]
