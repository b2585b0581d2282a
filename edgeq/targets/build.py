"""What the firmware builds share: the tools (looked up first; a missing one is a :class:`ToolchainError` naming the
apt-get line that installs it), running a build step with its log, compiling C sources in parallel, Debian's
arduino-builder command line, and the sizes of the built image.

Sizes come from the ELF section headers: flash = allocated sections with contents (code, constants, .data's
initial values), RAM = writable allocated sections (.data, .bss, the reserved .stack). Each layout builds its own
way (:mod:`edgeq.targets.platforms`): ``make`` for the bare-metal Cortex-M projects, ``arduino-builder`` for the
Uno's sketch, and a check build for the boards whose Arduino core cannot be installed here.
"""

from __future__ import annotations

import os
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


def run_tool(cmd: list[str], *, cwd: Path | None, log: Path, what: str, timeout: float = BUILD_TIMEOUT_S) -> None:
    """Run one build step (edgeq._proc.run): its output appended to ``log``, a failure one line naming the log."""
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


# ---- build steps the layouts share ---------------------------------------------------------------------------------
def check_built_fit(board, res: BuildResult) -> None:
    """The built image's real sizes against the board (after the estimate of :mod:`edgeq.targets.fit`)."""
    from edgeq.targets.boards import FitReport, require_fit

    # the AVR image has no stack section: add the board's stack reserve; the Cortex-M image has it in .stack
    report = FitReport(board=board.name, flash_needed=res.flash_bytes, flash_available=board.flash,
                       ram_needed=res.ram_bytes + (board.stack if board.core.arch == "avr" else 0),
                       ram_available=board.ram, flash_parts={"image": res.flash_bytes},
                       ram_parts={"static": res.ram_bytes}, estimated=False)
    require_fit(report, where=str(res.firmware))


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


def compile_all(cc: str, c_files: list[Path], inc: list[Path], cflags: list[str], obj_dir: Path, log: Path,
                board) -> list[Path]:
    """Compile each C source to an object in ``obj_dir`` (in parallel); returns the objects in source order."""
    obj_dir.mkdir(parents=True, exist_ok=True)
    incs = [f"-I{p}" for p in inc]
    objs = []
    from concurrent.futures import ThreadPoolExecutor

    def one(i_src):
        i, src = i_src
        obj = obj_dir / f"{i:03d}_{src.stem}.o"
        run_tool([cc, *cflags, *incs, "-c", str(src), "-o", str(obj)], cwd=None, log=log,
             what=f"compiling {src.name} for {board.name}")
        return obj

    with ThreadPoolExecutor(max_workers=max(1, min(8, os.cpu_count() or 1))) as ex:
        objs = list(ex.map(one, enumerate(c_files)))
    return objs
