"""Arduino sketches of edgeq's C (``project: arduino``): ``DIR/<Name>/<Name>.ino`` with ``src/model`` (the compiled
model) and ``src/edgeq`` (kernels, protocol, the Arduino platform layer); it opens in the Arduino IDE.

Builds, by the board's ``build`` entry:

* ``arduino-builder``: the Uno's sketch with Debian's Arduino AVR core -> ``build/firmware.elf`` + ``.hex``;
* ``check-qemu``: boards whose Arduino core cannot be installed here. The sketch's own sources (model, kernels,
  protocol) are compiled with arm-none-eabi-gcc for the board's core and linked with the QEMU platform layer of the
  same core (startup, CMSDK UART, SysTick): it proves they build, and the image runs in QEMU;
* ``check-host``: non-Arm boards without a toolchain here (ESP32): the sketch's C sources compiled with the host cc.
"""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

from edgeq.errors import EdgeqError, ToolchainError
from edgeq.targets.boards import Board, get_board
from edgeq.targets.build import (APT_ARM, APT_AVR, APT_CC, ARDUINO_HARDWARE, BuildResult, arduino_builder_command,
                                 check_built_fit, compile_all, elf_sizes, need_tool, run_tool)
from edgeq.targets.platforms.base import ExportJob, Platform
from edgeq.targets.platforms.cortexm import render_cortexm_platform
from edgeq.targets.platforms.edgeq_c import app_main, plan_edgeq, write_edgeq_sources
from edgeq.targets.project import record_build
from edgeq._templates import render


class ArduinoPlatform(Platform):
    layout = "arduino"

    def plan(self, job: ExportJob) -> None:
        plan_edgeq(job)

    def generate(self, job: ExportJob, dest: Path) -> None:
        sk = dest / job.sketch_name
        src_dir = sk / "src" / "edgeq"
        src_dir.mkdir(parents=True)
        write_edgeq_sources(job, src_dir=src_dir, model_dir=sk / "src" / "model", model_include="../model/model.h")
        render_sketch(sk, job.sketch_name, self.board, job.cfg, runtime="edgeq", app_ctx=job.app_ctx)
        job.sketch = f"{job.sketch_name}/{job.sketch_name}.ino"
        (dest / "README.md").write_text(render("firmware/arduino/README.md.j2", board=self.board, cfg=job.cfg,
                                               fit=job.fit, sketch=job.sketch_name))

    def build(self, folder: Path, meta: dict) -> BuildResult:
        kind = self.board.build
        if kind == "arduino-builder":
            res = build_arduino_avr(folder, self.board, meta)
            check_built_fit(self.board, res)
            return res
        if kind == "check-qemu":
            return build_check_qemu(folder, self.board, meta)
        if kind == "check-host":
            return build_check_host(folder, self.board, meta)
        raise EdgeqError(f"board {self.board.name}: unknown build kind {kind!r}")  # pragma: no cover - table tested

    def flash(self, folder: Path, meta: dict, port: str):
        """avrdude takes the built ``.hex``: build it first when the export folder has none (and avrdude is there:
        without it the upload's error names what to install, with nothing built for nothing)."""
        if self.board.upload.startswith("avrdude") and folder.is_dir() and shutil.which("avrdude") \
                and not (folder / "build" / "firmware.hex").is_file():
            record_build(folder, meta, self.build(folder, meta))
        return super().flash(folder, meta, port)


def render_sketch(sk: Path, sketch_name: str, b: Board, cfg: dict, runtime: str, app_ctx: dict | None = None) -> None:
    """The ``.ino`` (the protocol's or the app's loop) and the Arduino platform layer (Serial, micros, the pin)."""
    if app_ctx:
        (sk / f"{sketch_name}.ino").write_text(render("firmware/app/sketch_app.ino.j2", board=b, cfg=cfg,
                                                      sketch=sketch_name, **app_ctx))
    else:
        (sk / f"{sketch_name}.ino").write_text(render("firmware/arduino/sketch.ino.j2", board=b, cfg=cfg,
                                                      sketch=sketch_name, runtime=runtime))
    (sk / "src" / "edgeq" / "edgeq_platform_arduino.cpp").write_text(
        render("firmware/arduino/edgeq_platform_arduino.cpp.j2", board=b, cfg=cfg))


def build_arduino_avr(d: Path, board: Board, meta: dict) -> BuildResult:
    need_tool("arduino-builder", APT_AVR)
    need_tool("avr-gcc", APT_AVR)
    if not Path(ARDUINO_HARDWARE[1], "arduino", "avr").is_dir():
        raise ToolchainError("the Arduino AVR core is not installed", hint=f"install it: {APT_AVR}")
    sketch = (d / meta["sketch"]).resolve()
    build_path = (d / "build" / "arduino").resolve()
    cache = (d / "build" / "cache").resolve()
    build_path.mkdir(parents=True, exist_ok=True)
    cache.mkdir(parents=True, exist_ok=True)
    log = _fresh_log(d)
    cmd = arduino_builder_command(sketch, board.fqbn, build_path, cache)
    run_tool(cmd, cwd=d, log=log, what=f"building the {board.name} sketch (arduino-builder)")
    name = sketch.name
    elf_src = build_path / f"{name}.elf"
    hex_src = build_path / f"{name}.hex"
    if not elf_src.is_file():
        raise ToolchainError("arduino-builder produced no .elf", where=str(build_path), hint=f"full log: {log}")
    elf = d / "build" / "firmware.elf"
    hexf = d / "build" / "firmware.hex"
    shutil.copyfile(elf_src, elf)
    if hex_src.is_file():
        shutil.copyfile(hex_src, hexf)
    flash, ram, secs = elf_sizes(elf)
    return BuildResult(kind="arduino-builder", firmware=elf, hex=hexf if hexf.is_file() else None,
                       flash_bytes=flash, ram_bytes=ram, sections=secs, log=log, command=" ".join(cmd))


def _fresh_log(d: Path) -> Path:
    log = d / "build" / "build.log"
    if log.exists():
        log.unlink()
    return log


def _sketch_sources(d: Path, meta: dict) -> tuple[list[Path], list[Path]]:
    """The sketch's C sources and the folders of its headers."""
    src = (d / meta["sketch"]).parent / "src"
    return sorted(src.rglob("*.c")), sorted({p.parent for p in src.rglob("*.h")})


def build_check_qemu(d: Path, board: Board, meta: dict) -> BuildResult:
    gcc = need_tool("arm-none-eabi-gcc", APT_ARM)
    qb = get_board(board.core.qemu_check)
    gen = d / "build" / "check"
    if gen.exists():
        shutil.rmtree(gen)
    gen.mkdir(parents=True)
    log = _fresh_log(d)
    c_files, inc = _sketch_sources(d, meta)
    cflags = list(board.core.cflags) + ["-O2", "-std=gnu99", "-g", "-Wall", "-ffunction-sections",
                                        "-fdata-sections", "-DEDGEQ_QEMU_CHECK"]
    if meta["runtime"] == "tflm":
        # the TFLM library (C++) is not installed here: compile the sketch's C sources to prove they build
        objs = compile_all(gcc, c_files, inc, cflags, gen / "obj", log, board)
        return BuildResult(kind="check-qemu", firmware=None, flash_bytes=None, ram_bytes=None, log=log,
                           command=f"{gcc} {' '.join(cflags)} -c (each C source)",
                           note=f"compiled {len(objs)} C sources for {board.core.target}; the TFLM part needs the "
                                "Arduino_TensorFlowLite library, which cannot be installed here")
    render_cortexm_platform(gen, qb, {"model": meta["model"],
                                      "energy": (meta.get("info") or {}).get("timestamp_mode") == "energy"})
    app = meta.get("app") or "bench"
    if app != "bench":  # the sketch's loop() runs the app: so does the check build's main
        shutil.copyfile(app_main(), gen / "main.c")
    plat = [gen / "startup.c", gen / "main.c", gen / "platform_qemu.c"]
    objs = compile_all(gcc, c_files + plat, inc + [gen], cflags, gen / "obj", log, board)
    elf = d / "build" / "firmware.elf"
    link = [gcc, *board.core.cflags, "-nostartfiles", "-specs=nano.specs", "-specs=nosys.specs",
            "-T", str(gen / "link.ld"), "-Wl,--gc-sections", f"-Wl,-Map={d / 'build' / 'firmware.map'}",
            *map(str, objs), "-o", str(elf), "-lm"]
    run_tool(link, cwd=None, log=log, what=f"linking the {board.name} check build")  # paths relative to our cwd
    flash, ram, secs = elf_sizes(elf)
    return BuildResult(kind="check-qemu", firmware=elf, flash_bytes=flash, ram_bytes=ram, sections=secs, log=log,
                       command=f"{gcc} {' '.join(cflags)} ... (sketch sources + {qb.name} platform)",
                       note=f"the sketch's model, kernels and {'protocol' if app == 'bench' else app + ' app'} "
                            f"compiled for {board.core.target} and linked "
                            f"with the {qb.name} platform layer: runs with `edgeq flash --board {qb.name} "
                            f"{shlex.quote(str(elf))}`; the Arduino core for {board.fqbn} cannot be installed here")


def build_check_host(d: Path, board: Board, meta: dict) -> BuildResult:
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        raise ToolchainError("no host C compiler (cc) found", hint=f"install it: {APT_CC}")
    log = _fresh_log(d)
    c_files, inc = _sketch_sources(d, meta)
    cflags = ["-O2", "-std=gnu99", "-Wall", "-DEDGEQ_HOST_CHECK"]
    objs = compile_all(cc, c_files, inc, cflags, d / "build" / "check" / "obj", log, board)
    return BuildResult(kind="check-host", firmware=None, flash_bytes=None, ram_bytes=None, log=log,
                       command=f"{cc} {' '.join(cflags)} -c (each C source)",
                       note=f"compiled {len(objs)} C sources with the host compiler; no {board.core.name} toolchain "
                            f"here (build the sketch with arduino-cli for {board.fqbn})")
