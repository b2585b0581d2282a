"""A farm file (YAML): which edgeq board each labgrid place holds and how firmware gets onto it, and (for
``edgeq bench matrix``) the models to run.

    coordinator: 127.0.0.1:20408          # optional (--coordinator wins, then $LG_COORDINATOR)
    places:
      uno-1:
        board: uno                        # an edgeq board (edgeq boards): what the firmware is built for
        flash: edgeq                      # edgeq's own uploader on the place's serial port (a USB port on this machine)
      m4-on-pi2:
        board: qemu-m4
        flash: ssh pi2 ./reflash.sh {image}   # a command run on this machine while the place is acquired
        flash_timeout: 120
    models: [kws.tflite, ad01_int8.tflite]    # matrix only; relative paths are relative to this file
    runs: 20                                  # matrix only

Flashing a place (``edgeq flash --place``, each pair of ``edgeq bench matrix``) always happens with the place
acquired, so nobody else's run is on the board while it is flashed. A ``flash`` command (a string, split like a shell
would, or a list of words) gets these placeholders: ``{image}`` the built image (the .hex of a real board's build when there is one, else the .elf), ``{firmware}`` the
export folder, ``{place}``, ``{board}``, ``{url}`` the place's serial port; and the environment ``EDGEQ_PLACE``,
``EDGEQ_BOARD``, ``EDGEQ_FIRMWARE``, ``EDGEQ_IMAGE``, ``EDGEQ_PORT``, ``LG_PLACE``, ``LG_COORDINATOR``. It runs in the farm
file's folder; exit status 0 means flashed. labgrid's own remote flashing (FlashScriptDriver, OpenOCDDriver) runs the
tool on the exporter host over SSH; a ``flash`` command does the same with ``ssh HOST ...``.

Without a farm file a place can still be flashed when its serial port is a USB port on this machine: edgeq's own
uploader (avrdude, arduino-cli, a UF2 copy) for the board the firmware was exported for (or the place's ``board``
tag).
"""

from __future__ import annotations

import os
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from edgeq.errors import DeviceError, EdgeqError

#: a flash command that runs longer is stopped and the flash counts as failed
DEFAULT_FLASH_TIMEOUT_S = 300.0
_PLACEHOLDERS = ("image", "firmware", "place", "board", "url")
_PLACE_KEYS = ("board", "flash", "flash_timeout")
_TOP_KEYS = ("coordinator", "places", "models", "runs")


@dataclass
class PlaceConfig:
    """One place of a farm file: its edgeq board and how to flash it (``"edgeq"``, a command, or None)."""

    name: str
    board: str | None = None
    flash: str | list[str] | None = None
    flash_timeout: float = DEFAULT_FLASH_TIMEOUT_S
    cwd: Path = field(default_factory=Path.cwd)


@dataclass
class FarmFile:
    path: Path | None = None
    coordinator: str | None = None
    places: dict[str, PlaceConfig] = field(default_factory=dict)
    models: list[str] = field(default_factory=list)
    runs: int | None = None

    def place(self, name: str) -> PlaceConfig:
        """The config of place ``name`` (an empty one for a place the file does not list)."""
        return self.places.get(name) or PlaceConfig(name, cwd=self.path.parent if self.path else Path.cwd())


def load_farm(path: str | os.PathLike) -> FarmFile:
    """Read and check a farm file; every problem is one :class:`EdgeqError` naming the file and the key."""
    from edgeq._fs import MAX_TEXT_BYTES, read_input_bytes

    p = Path(path).expanduser()
    where = str(p)
    text = read_input_bytes(p, what="farm file (YAML)", max_bytes=MAX_TEXT_BYTES)
    try:
        import yaml
    except ImportError:
        raise EdgeqError("reading a farm file needs PyYAML", where=where, hint="pip install 'edgeq[farm]'") from None
    try:
        doc = yaml.safe_load(text.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise EdgeqError(f"not valid YAML: {first}", where=where) from None
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise EdgeqError("a farm file is a mapping (coordinator:, places:, models:, runs:)", where=where)
    unknown = sorted(set(map(str, doc)) - set(_TOP_KEYS))
    if unknown:
        raise EdgeqError(f"unknown key {unknown[0]!r} (known: {', '.join(_TOP_KEYS)})", where=where)
    farm = FarmFile(path=p.resolve())
    base = p.resolve().parent
    coord = doc.get("coordinator")
    if coord is not None and (not isinstance(coord, str) or ":" not in coord):
        raise EdgeqError(f"coordinator must be HOST:PORT, got {coord!r}", where=f"{where}: coordinator")
    farm.coordinator = coord
    places = doc.get("places") or {}
    if not isinstance(places, dict):
        raise EdgeqError("places must map place names to {board:, flash:}", where=f"{where}: places")
    for name, entry in places.items():
        farm.places[str(name)] = _place(str(name), entry, base, f"{where}: places.{name}")
    models = doc.get("models") or []
    if isinstance(models, str):
        models = [models]
    if not isinstance(models, list) or not all(isinstance(m, str) and m for m in models):
        raise EdgeqError("models must be a list of .tflite paths", where=f"{where}: models")
    farm.models = [str(base / Path(m).expanduser()) for m in models]
    runs = doc.get("runs")
    if runs is not None and (isinstance(runs, bool) or not isinstance(runs, int) or not 1 <= runs <= 10_000_000):
        raise EdgeqError(f"runs must be a whole number from 1 to 10000000, got {runs!r}", where=f"{where}: runs")
    farm.runs = runs
    return farm


def _place(name: str, entry, base: Path, where: str) -> PlaceConfig:
    if entry is None:
        entry = {}
    if not isinstance(entry, dict):
        raise EdgeqError("a place is a mapping {board:, flash:}", where=where)
    unknown = sorted(set(map(str, entry)) - set(_PLACE_KEYS))
    if unknown:
        raise EdgeqError(f"unknown key {unknown[0]!r} (known: {', '.join(_PLACE_KEYS)})", where=where)
    board = entry.get("board")
    if board is not None:
        from edgeq.targets.boards import get_board

        try:
            board = get_board(str(board)).name
        except EdgeqError as exc:
            raise EdgeqError(exc.message, where=f"{where}.board", hint=exc.hint) from None
    flash = entry.get("flash")
    if flash is not None:
        if isinstance(flash, str) and flash.strip() == "edgeq":
            flash = "edgeq"
        elif isinstance(flash, str):
            try:
                flash = shlex.split(flash)
            except ValueError as exc:
                raise EdgeqError(f"cannot split the flash command: {exc}", where=f"{where}.flash") from None
        if flash != "edgeq":
            if not isinstance(flash, list) or not flash or not all(isinstance(w, (str, int, float)) for w in flash):
                raise EdgeqError("flash is 'edgeq' or a command (a string or a list of words)", where=f"{where}.flash")
            flash = [str(w) for w in flash]
            dummy = {k: "x" for k in _PLACEHOLDERS}
            for w in flash:
                try:
                    w.format(**dummy)
                except (KeyError, IndexError, ValueError) as exc:
                    raise EdgeqError(f"bad placeholder in {w!r}: {exc} (known: {', '.join(_PLACEHOLDERS)}; write "
                                     "{{ and }} for literal braces)", where=f"{where}.flash") from None
    timeout = entry.get("flash_timeout", DEFAULT_FLASH_TIMEOUT_S)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= 86400:
        raise EdgeqError(f"flash_timeout must be seconds in (0, 86400], got {timeout!r}", where=f"{where}.flash_timeout")
    return PlaceConfig(name, board=board, flash=flash, flash_timeout=float(timeout), cwd=base)


# ---------------------------------------------------------------------------------------------------------- flash
@dataclass
class FlashResult:
    place: str
    board: str
    firmware: str
    image: str
    method: str  # "command" | "edgeq"
    commands: list[list[str]] = field(default_factory=list)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def place_board(cfg: PlaceConfig, port, firmware_meta: dict | None = None) -> str | None:
    """The place's edgeq board: the farm file's ``board``, else the place's labgrid tag ``board``, else (for
    flashing one firmware) the board the firmware was exported for."""
    return cfg.board or (port.tags.get("board") if port is not None else None) or \
        ((firmware_meta or {}).get("board"))


def firmware_image(firmware: Path) -> tuple[Path, dict]:
    """An export folder's built image (and its edgeq-project.json), or a firmware file itself."""
    if firmware.is_dir():
        from edgeq.targets.project import read_project

        meta = read_project(firmware)
        fw = meta.get("firmware")
        image = firmware / fw if fw else firmware / "build" / "firmware.hex"
        hexf = firmware / "build" / "firmware.hex"  # what an uploader (avrdude) takes; an emulator takes the ELF
        if hexf.is_file() and _uploadable(meta.get("board")):
            image = hexf
        if not image.is_file():
            raise EdgeqError("the export folder has no built firmware", where=str(firmware),
                             hint="export it with --build")
        return image, meta
    from edgeq._fs import MAX_FIRMWARE_BYTES, check_input_file

    return check_input_file(firmware, what="firmware image", max_bytes=MAX_FIRMWARE_BYTES), {}


def _uploadable(board: str | None) -> bool:
    """Whether ``board`` is a real board's (it has an upload tool): its farm image is the .hex."""
    from edgeq.targets.boards import get_board

    try:
        return bool(board) and bool(get_board(board).upload)
    except EdgeqError:
        return False


def flash_place(port, cfg: PlaceConfig, firmware: str | os.PathLike, coordinator: str) -> FlashResult:
    """Put ``firmware`` (an export folder or an image) onto the acquired place whose serial port is ``port``
    (:class:`edgeq.bench.farm.PlacePort`). Raises :class:`EdgeqError` when the place has no way to be flashed,
    :class:`DeviceError` when flashing fails."""
    where = f"place {cfg.name}"
    fw = Path(firmware).expanduser().resolve()
    image, meta = firmware_image(fw)
    board = place_board(cfg, port, meta)
    if meta.get("board") and board and meta["board"] != board:
        raise EdgeqError(f"this firmware was exported for {meta['board']}, but place {cfg.name} holds a {board}",
                         where=str(fw), hint=f"export the model with --board {board}")
    if cfg.flash is None:
        why = None
        if not port.local:
            why = f"its serial port is on another machine ({port.url}) and the farm file gives no flash: command"
        elif not board:
            why = "its board is not known"
        elif not _uploadable(board):
            why = f"a {board} has no upload tool and the farm file gives no flash: command"
        if why:
            raise EdgeqError(f"the place has no flashing resource: {why}", where=where,
                             hint="give --farm FILE with places: {NAME: {board: BOARD, flash: COMMAND}} "
                                  "(see README, board farm)")
        method = "edgeq"
    else:
        method = "edgeq" if cfg.flash == "edgeq" else "command"
    if not board:
        raise EdgeqError("the place's board is not known", where=where,
                         hint="set board: in the farm file, or tag the place: labgrid-client -p NAME set-tags board=BOARD")
    res = FlashResult(place=cfg.name, board=board, firmware=str(fw), image=str(image), method=method)
    if method == "edgeq":
        if not port.local:
            raise EdgeqError("flash: edgeq uploads over a serial port on this machine; this place's is on another "
                             f"one ({port.url})", where=where, hint="use a flash: command that runs on the exporter host")
        from edgeq.targets.boards import get_board
        from edgeq.targets.upload import upload

        b = get_board(board)
        if not b.upload:
            raise EdgeqError(f"a {board} has no upload tool", where=where, hint="give the place a flash: command")
        up = upload(b, fw if fw.is_dir() else image, meta or {"sketch": None}, port.device or port.url)
        res.commands = [list(map(str, c)) for c in up.commands]
        return res
    values = {"image": str(image), "firmware": str(fw), "place": cfg.name, "board": board, "url": port.url}
    argv = [w.format(**values) for w in cfg.flash]
    env = dict(os.environ, EDGEQ_PLACE=cfg.name, EDGEQ_BOARD=board, EDGEQ_FIRMWARE=str(fw), EDGEQ_IMAGE=str(image),
               EDGEQ_PORT=port.url, LG_PLACE=cfg.name, LG_COORDINATOR=coordinator)
    res.commands = [argv]
    run_flash_command(argv, cwd=cfg.cwd, env=env, timeout=cfg.flash_timeout, where=where)
    return res


#: the flash commands running now (matrix workers): a termination stops them by PID
_running: set[subprocess.Popen] = set()


def run_flash_command(argv: list[str], *, cwd: Path, env: dict, timeout: float, where: str) -> None:
    """Run one flash command; a non-zero exit or a timeout is a :class:`DeviceError` with its last output line."""
    try:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True)
    except OSError as exc:
        raise EdgeqError(f"cannot run the flash command: {exc.strerror or exc}", where=where,
                         hint=f"command: {shlex.join(argv)}") from None
    _running.add(proc)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill(proc)
        raise DeviceError(f"the flash command did not finish within {timeout:g} s", where=where,
                          hint=f"command: {shlex.join(argv)}") from None
    except BaseException:
        _kill(proc)
        raise
    finally:
        _running.discard(proc)
    if proc.returncode != 0:
        lines = out.decode(errors="replace").strip().splitlines()
        last = lines[-1].strip() if lines else "no output"
        raise DeviceError(f"flashing failed (exit {proc.returncode}): {last}", where=where,
                          hint=f"command: {shlex.join(argv)}")


def _kill(proc: subprocess.Popen) -> None:
    import signal

    for sig in (signal.SIGTERM, signal.SIGKILL):
        if proc.poll() is not None:
            break
        try:
            os.killpg(proc.pid, sig)  # its own session: the command and what it started
        except (ProcessLookupError, PermissionError):
            break
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            continue
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def stop_running_flashes() -> None:
    """Stop every flash command still running (called when a matrix run is terminated)."""
    for proc in list(_running):
        _kill(proc)
