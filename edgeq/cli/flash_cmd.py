"""``edgeq flash --board B DIR``: run the firmware: start the emulator (QEMU, simavr) or upload to a real board."""

from __future__ import annotations

HELP = "run exported firmware: start QEMU/simavr and print the serial URL, or upload to a real board"
DESCRIPTION = (
    "Emulated boards (qemu-*, uno): start the emulator with DIR's built firmware (or an .elf) and print the serial "
    "URL (socket://127.0.0.1:PORT for QEMU, a /dev/pts path for simavr) for `edgeq bench --port`; it runs until "
    "Ctrl-C, or in the background with --detach (stop it with kill PID). Real boards (--port): build what the uploader "
    "needs and upload with the board's tool (avrdude for the Uno, arduino-cli for the other Arduino boards, a UF2 copy "
    "when --port is an RP2040's RPI-RP2 drive); a missing tool is an error naming what to install (exit 2). "
    "A board farm's place (--place NAME): acquired through labgrid, flashed with its flash command from --farm "
    "(or edgeq's uploader when its serial port is a USB port on this machine), released."
)


def add_arguments(p) -> None:
    p.add_argument("firmware", help="export folder (edgeq export --build) or a firmware image")
    p.add_argument("--board", default=None, help="board name (see `edgeq boards`); required unless --place")
    p.add_argument("--port", help="serial port of a real board (for the upload)")
    p.add_argument("--detach", action="store_true", help="emulators: leave it running and return (prints the PID)")
    p.add_argument("--place", default=None, metavar="NAME",
                   help="a labgrid place: acquire it, flash it (its flash command in --farm), release it")
    p.add_argument("--coordinator", default=None, metavar="HOST:PORT",
                   help="with --place: the labgrid coordinator (default: the farm file's, $LG_COORDINATOR, "
                        "127.0.0.1:20408)")
    p.add_argument("--farm", default=None, metavar="FARM.yaml",
                   help="with --place: the farm file naming the place's board and flash command")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def run(args) -> int:
    import sys
    import time
    from pathlib import Path

    from edgeq.cli._out import emit
    from edgeq.errors import EdgeqError
    from edgeq.targets.boards import get_board
    from edgeq.targets.platforms import platform_for

    if args.place or args.farm or args.coordinator:
        return _run_place(args)
    if not args.board:
        raise EdgeqError("give --board BOARD (see edgeq boards), or --place NAME for a board-farm place",
                         where="--board")
    board = get_board(args.board)
    if args.port and not board.upload:
        raise EdgeqError(f"{board.name} is emulated: it has no serial port to upload to", where="--port",
                         hint="leave out --port to start the emulator")
    if board.run == "host" and not args.port:  # a program on this computer: nothing to flash, its URL starts it
        prog = platform_for(board).open_transport(args.firmware)
        emit(args, {**prog.to_dict(), "detached": False},
             f"{board.name}: {prog.url}\n  edgeq bench --port {prog.url}\n  (opening the URL starts the program)")
        return 0
    if board.emulated and not args.port:
        emu = platform_for(board).open_transport(args.firmware)
        d = {**emu.to_dict(), "detached": bool(args.detach)}
        text = (f"{board.name}: {emu.url}\n"
                f"  edgeq bench --port {emu.url}\n"
                f"  emulator PID {emu.pid}" + (" (kill it when done)" if args.detach else " (Ctrl-C stops it)"))
        emit(args, d, text)
        sys.stdout.flush()
        if args.detach:
            emu.detach()  # hand the process over to the user: do not stop it on exit
            return 0
        try:
            while emu.alive():
                time.sleep(0.2)
        except KeyboardInterrupt:
            pass
        finally:
            emu.stop()
        return 0

    # a real board
    from edgeq.targets.project import read_project

    p = Path(args.firmware)
    if not p.is_dir():
        from edgeq.targets.emulators import check_firmware_image

        check_firmware_image(board.core.arch, p, allow_hex=True)
    meta = read_project(p) if p.is_dir() else {"sketch": None}
    if meta.get("board") and meta["board"] != board.name:
        raise EdgeqError(f"this firmware was exported for {meta['board']}, not {board.name}", where=str(p))
    if not args.port:
        raise EdgeqError(f"{board.name} is a real board: give its serial port with --port",
                         hint="e.g. --port /dev/ttyACM0")
    res = platform_for(board, meta.get("runtime") or "edgeq").flash(p, meta, args.port)
    text = "\n".join(f"  {c}" for c in res.to_dict()["commands"])
    emit(args, res.to_dict(), f"uploaded to {board.name} on {args.port}" + (f" ({res.copied})" if res.copied else "")
         + f"\n{text}\n  edgeq bench --port {args.port}")
    return 0


def _run_place(args) -> int:
    """``--place NAME``: acquire, flash with the place's flashing resource, release."""
    from edgeq.bench.farm import acquire_place, coordinator_address
    from edgeq.bench.farmfile import PlaceConfig, flash_place, load_farm
    from edgeq.cli._out import emit
    from edgeq.errors import EdgeqError

    if not args.place:
        raise EdgeqError("--coordinator and --farm go with --place", where="--place", hint="add --place NAME")
    if args.port or args.detach:
        raise EdgeqError("--place cannot be combined with --port/--detach", where="--place",
                         hint="the place's own flashing resource is used")
    farm = load_farm(args.farm) if args.farm else None
    cfg = farm.place(args.place) if farm else PlaceConfig(args.place)
    if args.board:
        from edgeq.targets.boards import get_board

        board = get_board(args.board).name
        if cfg.board and cfg.board != board:
            raise EdgeqError(f"the farm file says place {args.place} holds a {cfg.board}, not a {board}",
                             where="--board")
        cfg.board = board
    from pathlib import Path

    if not Path(args.firmware).exists():
        raise EdgeqError("no such firmware", where=str(args.firmware), hint="give an export folder or an image")
    coordinator = coordinator_address(args.coordinator or (farm.coordinator if farm else None))
    with acquire_place(args.place, coordinator) as port:
        res = flash_place(port, cfg, args.firmware, coordinator)
    cmds = "\n".join("  " + " ".join(c) for c in res.commands)
    emit(args, res.to_dict(), f"flashed {res.image} to place {res.place} ({res.board}, {res.method})\n{cmds}\n"
                              f"  edgeq bench --place {res.place} --coordinator {coordinator}")
    return 0
