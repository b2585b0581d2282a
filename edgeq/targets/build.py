"""``edgeq export --build``: build what can be built on this machine.

* ``make``: the bare-metal Cortex-M project's Makefile (arm-none-eabi-gcc + newlib-nano) -> ``build/firmware.elf``.
* ``arduino-builder``: the AVR sketch with Debian's Arduino core -> ``build/firmware.elf`` + ``.hex``.
* ``check-qemu``: boards whose Arduino core cannot be installed here. The sketch's own sources (model, kernels,
  protocol) are compiled with arm-none-eabi-gcc for the board's core and linked with the QEMU platform layer of the
  same core (startup, CMSDK UART, SysTick): it proves they build, and the image runs in QEMU.
* ``check-host``: non-Arm boards without a toolchain here (ESP32): the sketch's C sources compiled with the host cc.

Every tool is looked up first; a missing one is a :class:`ToolchainError` naming the apt-get line that installs it.
Sizes come from the ELF section headers: flash = allocated sections with contents (code, constants, .data's
initial values), RAM = writable allocated sections (.data, .bss, the reserved .stack).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import struct
from dataclasses import dataclass, field
from pathlib import Path

from edgeq._proc import run
from edgeq.errors import EdgeqError, ToolchainError

APT_ARM = "apt-get install -y --no-install-recommends gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm"
APT_AVR = ("apt-get install -y --no-install-recommends arduino-builder arduino-core-avr gcc-avr avr-libc simavr "
           "libsimavr-dev")
APT_MAKE = "apt-get install -y --no-install-recommends make"
APT_CC = "apt-get install -y --no-install-recommends gcc libc6-dev"
BUILD_TIMEOUT_S = 900

ARDUINO_HARDWARE = ("/usr/share/arduino-builder", "/usr/share/arduino/hardware")
ARDUINO_LIBRARIES = "/usr/share/arduino/hardware/arduino/avr/libraries"


@dataclass
class BuildResult:
    kind: str
    firmware: Path | None
    flash_bytes: int | None
    ram_bytes: int | None
    sections: dict = field(default_factory=dict)
    hex: Path | None = None
    log: Path | None = None
    command: str = ""
    note: str = ""

    def to_dict(self) -> dict:
        return {
            "firmware": str(self.firmware) if self.firmware else None,
            "hex": str(self.hex) if self.hex else None,
            "flash_bytes": self.flash_bytes,
            "ram_bytes": self.ram_bytes,
            "build": {
                "kind": self.kind,
                "hex": str(self.hex) if self.hex else None,
                "sections": dict(self.sections),
                "log": str(self.log) if self.log else None,
                "command": self.command,
                "note": self.note,
            },
        }


def need_tool(name: str, apt: str) -> str:
    path = shutil.which(name)
    if not path:
        raise ToolchainError(f"{name} not found", hint=f"install it: {apt}")
    return path


def _run(cmd: list[str], *, cwd: Path | None, log: Path, what: str, timeout: float = BUILD_TIMEOUT_S) -> None:
    run(cmd, what=what, cwd=cwd, log=log, timeout=timeout, where=str(cwd or log.parent))


# ---- ELF sizes ----------------------------------------------------------------------------------------------------
_SKIP_SECTIONS = (".eeprom", ".fuse", ".lock", ".signature", ".user_signatures")


def elf_sections(path: str | os.PathLike) -> list[dict]:
    """Allocated sections of a 32-bit little-endian ELF: name, size, flags, nobits."""
    data = Path(path).read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 1 or data[5] != 1:
        raise EdgeqError("not a 32-bit little-endian ELF file", where=str(path))
    shoff, = struct.unpack_from("<I", data, 0x20)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x2E)
    headers = [struct.unpack_from("<IIIIIIIIII", data, shoff + i * shentsize) for i in range(shnum)]
    str_off = headers[shstrndx][4]

    def name(off: int) -> str:
        end = data.index(b"\0", str_off + off)
        return data[str_off + off:end].decode("ascii", "replace")

    out = []
    for h in headers:
        sh_name, sh_type, sh_flags, sh_addr, _off, sh_size = h[:6]
        if not (sh_flags & 0x2) or sh_size == 0:  # SHF_ALLOC
            continue
        n = name(sh_name)
        if n in _SKIP_SECTIONS:
            continue
        out.append({"name": n, "size": sh_size, "addr": sh_addr, "write": bool(sh_flags & 0x1),
                    "exec": bool(sh_flags & 0x4), "nobits": sh_type == 8})
    return out


def elf_sizes(path: str | os.PathLike) -> tuple[int, int, dict]:
    """(flash bytes, RAM bytes, per-section sizes) of an ELF image."""
    secs = elf_sections(path)
    flash = sum(s["size"] for s in secs if not s["nobits"])
    ram = sum(s["size"] for s in secs if s["write"])
    return flash, ram, {s["name"]: s["size"] for s in secs}


# ---- builds -------------------------------------------------------------------------------------------------------
def build_project(project_dir: str | os.PathLike) -> BuildResult:
    """Build an exported folder the way its board says (see the module docstring)."""
    from edgeq.targets.boards import get_board
    from edgeq.targets.export import PROJECT_FILE, read_project

    d = Path(project_dir)
    meta = read_project(d)
    board = get_board(meta["board"])
    if board.build == "make":
        res = build_make(d, board)
    elif board.build == "arduino-builder":
        res = build_arduino_avr(d, board, meta)
    elif board.build == "check-qemu":
        res = build_check_qemu(d, board, meta)
    elif board.build == "check-host":
        res = build_check_host(d, board, meta)
    else:  # pragma: no cover - the table is validated by tests
        raise EdgeqError(f"board {board.name}: unknown build kind {board.build!r}")
    if res.flash_bytes is not None and board.build in ("make", "arduino-builder"):
        _check_built_fit(board, res)
    meta["firmware"] = str(res.firmware.relative_to(d)) if res.firmware else None
    meta["build"] = {k: v for k, v in res.to_dict().items()}
    if meta["build"].get("firmware"):
        meta["build"]["firmware"] = meta["firmware"]
    from edgeq._fs import atomic_write_text

    meta.pop("dir", None)
    atomic_write_text(d / PROJECT_FILE, json.dumps(meta, indent=2) + "\n")
    return res


def _check_built_fit(board, res: BuildResult) -> None:
    from edgeq.targets.boards import FitReport, require_fit

    # the AVR image has no stack section: add the board's stack reserve; the Cortex-M image has it in .stack
    report = FitReport(board=board.name, flash_needed=res.flash_bytes, flash_available=board.flash,
                       ram_needed=res.ram_bytes + (board.stack if board.core.arch == "avr" else 0),
                       ram_available=board.ram, flash_parts={"image": res.flash_bytes},
                       ram_parts={"static": res.ram_bytes}, estimated=False)
    require_fit(report, where=str(res.firmware))


def build_make(d: Path, board) -> BuildResult:
    need_tool("arm-none-eabi-gcc", APT_ARM)
    make = need_tool("make", APT_MAKE)
    log = d / "build" / "build.log"
    if log.exists():
        log.unlink()
    jobs = str(max(1, min(8, os.cpu_count() or 1)))
    # make runs inside the project (its Makefile uses paths relative to it): no -C, which would be resolved again
    # from that folder (a relative DIR then names DIR/DIR) and which make would tilde-expand
    cmd = [make, f"-j{jobs}", "all"]
    _run(cmd, cwd=d, log=log, what=f"building the {board.name} firmware (make)")
    elf = d / "build" / "firmware.elf"
    flash, ram, secs = elf_sizes(elf)
    return BuildResult(kind="make", firmware=elf, flash_bytes=flash, ram_bytes=ram, sections=secs, log=log,
                       command=f"make -C {shlex.quote(str(d))}")


def arduino_builder_command(sketch: Path, fqbn: str, build_path: Path, cache: Path) -> list[str]:
    """Debian's arduino-builder for the AVR core (toolchains.md: the second -hardware avoids 'ctags pattern is
    missing'; the DECIMAL_DIG define works around core 1.8.7 with gcc-avr 5.4)."""
    exe = need_tool("arduino-builder", APT_AVR)
    cmd = [exe, "-compile"]
    for h in ARDUINO_HARDWARE:
        cmd += ["-hardware", h]
    cmd += ["-tools", "/usr/bin", "-built-in-libraries", ARDUINO_LIBRARIES, "-fqbn", fqbn,
            "-build-path", str(build_path), "-build-cache", str(cache),
            "-prefs=compiler.cpp.extra_flags=-DDECIMAL_DIG=__DECIMAL_DIG__",
            "-prefs=compiler.c.extra_flags=-DDECIMAL_DIG=__DECIMAL_DIG__", str(sketch)]
    return cmd


def build_arduino_avr(d: Path, board, meta: dict) -> BuildResult:
    need_tool("arduino-builder", APT_AVR)
    need_tool("avr-gcc", APT_AVR)
    if not Path(ARDUINO_HARDWARE[1], "arduino", "avr").is_dir():
        raise ToolchainError("the Arduino AVR core is not installed", hint=f"install it: {APT_AVR}")
    sketch = (d / meta["sketch"]).resolve()
    build_path = (d / "build" / "arduino").resolve()
    cache = (d / "build" / "cache").resolve()
    build_path.mkdir(parents=True, exist_ok=True)
    cache.mkdir(parents=True, exist_ok=True)
    log = d / "build" / "build.log"
    if log.exists():
        log.unlink()
    cmd = arduino_builder_command(sketch, board.fqbn, build_path, cache)
    _run(cmd, cwd=d, log=log, what=f"building the {board.name} sketch (arduino-builder)")
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


def _sketch_sources(d: Path, meta: dict) -> tuple[Path, list[Path], list[Path]]:
    sketch_dir = (d / meta["sketch"]).parent
    src = sketch_dir / "src"
    c_files = sorted(p for p in src.rglob("*.c"))
    inc = sorted({p.parent for p in src.rglob("*.h")})
    return sketch_dir, c_files, inc


def build_check_qemu(d: Path, board, meta: dict) -> BuildResult:
    from edgeq.targets.boards import get_board
    from edgeq.targets.export import render_cortexm_platform

    gcc = need_tool("arm-none-eabi-gcc", APT_ARM)
    qb = get_board(board.core.qemu_check)
    gen = d / "build" / "check"
    if gen.exists():
        shutil.rmtree(gen)
    gen.mkdir(parents=True)
    log = d / "build" / "build.log"
    if log.exists():
        log.unlink()
    _sketch_dir, c_files, inc = _sketch_sources(d, meta)
    cflags = list(board.core.cflags) + ["-O2", "-std=gnu99", "-g", "-Wall", "-ffunction-sections",
                                        "-fdata-sections", "-DEDGEQ_QEMU_CHECK"]
    if meta["runtime"] == "tflm":
        # the TFLM library (C++) is not installed here: compile the sketch's C sources to prove they build
        objs = _compile_all(gcc, c_files, [], inc, cflags, gen / "obj", log, board)
        return BuildResult(kind="check-qemu", firmware=None, flash_bytes=None, ram_bytes=None, log=log,
                           command=f"{gcc} {' '.join(cflags)} -c (each C source)",
                           note=f"compiled {len(objs)} C sources for {board.core.target}; the TFLM part needs the "
                                "Arduino_TensorFlowLite library, which cannot be installed here")
    render_cortexm_platform(gen, qb, {"model": meta["model"],
                                      "energy": (meta.get("info") or {}).get("timestamp_mode") == "energy"})
    app = meta.get("app") or "bench"
    if app != "bench":  # the sketch's loop() runs the app: so does the check build's main
        from edgeq.targets.export import _template_path

        shutil.copyfile(_template_path("firmware/app/main_app.c"), gen / "main.c")
    plat = [gen / "startup.c", gen / "main.c", gen / "platform_qemu.c"]
    objs = _compile_all(gcc, c_files + plat, [], inc + [gen], cflags, gen / "obj", log, board)
    elf = d / "build" / "firmware.elf"
    link = [gcc, *board.core.cflags, "-nostartfiles", "-specs=nano.specs", "-specs=nosys.specs",
            "-T", str(gen / "link.ld"), "-Wl,--gc-sections", f"-Wl,-Map={d / 'build' / 'firmware.map'}",
            *map(str, objs), "-o", str(elf), "-lm"]
    _run(link, cwd=None, log=log, what=f"linking the {board.name} check build")  # paths are relative to our cwd
    flash, ram, secs = elf_sizes(elf)
    return BuildResult(kind="check-qemu", firmware=elf, flash_bytes=flash, ram_bytes=ram, sections=secs, log=log,
                       command=f"{gcc} {' '.join(cflags)} ... (sketch sources + {qb.name} platform)",
                       note=f"the sketch's model, kernels and {'protocol' if app == 'bench' else app + ' app'} "
                            f"compiled for {board.core.target} and linked "
                            f"with the {qb.name} platform layer: runs with `edgeq flash --board {qb.name} "
                            f"{shlex.quote(str(elf))}`; the Arduino core for {board.fqbn} cannot be installed here")


def _compile_all(cc: str, c_files: list[Path], _unused, inc: list[Path], cflags: list[str], obj_dir: Path,
                 log: Path, board) -> list[Path]:
    obj_dir.mkdir(parents=True, exist_ok=True)
    incs = [f"-I{p}" for p in inc]
    objs = []
    from concurrent.futures import ThreadPoolExecutor

    def one(i_src):
        i, src = i_src
        obj = obj_dir / f"{i:03d}_{src.stem}.o"
        _run([cc, *cflags, *incs, "-c", str(src), "-o", str(obj)], cwd=None, log=log,
             what=f"compiling {src.name} for {board.name}")
        return obj

    with ThreadPoolExecutor(max_workers=max(1, min(8, os.cpu_count() or 1))) as ex:
        objs = list(ex.map(one, enumerate(c_files)))
    return objs


def build_check_host(d: Path, board, meta: dict) -> BuildResult:
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        raise ToolchainError("no host C compiler (cc) found", hint=f"install it: {APT_CC}")
    log = d / "build" / "build.log"
    if log.exists():
        log.unlink()
    _sketch_dir, c_files, inc = _sketch_sources(d, meta)
    cflags = ["-O2", "-std=gnu99", "-Wall", "-DEDGEQ_HOST_CHECK"]
    objs = _compile_all(cc, c_files, [], inc, cflags, d / "build" / "check" / "obj", log, board)
    return BuildResult(kind="check-host", firmware=None, flash_bytes=None, ram_bytes=None, log=log,
                       command=f"{cc} {' '.join(cflags)} -c (each C source)",
                       note=f"compiled {len(objs)} C sources with the host compiler; no {board.core.name} toolchain "
                            f"here (build the sketch with arduino-cli for {board.fqbn})")
