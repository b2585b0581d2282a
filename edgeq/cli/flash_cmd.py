"""``edgeq flash --board B DIR``: run the firmware: start the emulator (QEMU, simavr) or upload to a real board."""

from __future__ import annotations

HELP = "run exported firmware: start QEMU/simavr and print the serial URL, or upload to a real board"
DESCRIPTION = (
    "Emulated boards (qemu-*, uno): start the emulator with DIR's built firmware (or an .elf) and print the serial "
    "URL (socket://127.0.0.1:PORT for QEMU, a /dev/pts path for simavr) for `edgeq bench --port`; it runs until "
    "Ctrl-C, or in the background with --detach (stop it with kill PID). Real boards (--port): build what the uploader "
    "needs and upload with the board's tool (avrdude for the Uno, arduino-cli for the other Arduino boards, a UF2 copy "
    "when --port is an RP2040's RPI-RP2 drive); a missing tool is an error naming what to install (exit 2)."
)


def add_arguments(p) -> None:
    p.add_argument("firmware", help="export folder (edgeq export --build) or a firmware image")
    p.add_argument("--board", required=True, help="board name (see `edgeq boards`)")
    p.add_argument("--port", help="serial port of a real board (for the upload)")
    p.add_argument("--detach", action="store_true", help="emulators: leave it running and return (prints the PID)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def run(args) -> int:
    import sys
    import time
    from pathlib import Path

    from edgeq.cli._out import emit
    from edgeq.errors import EdgeqError
    from edgeq.targets.boards import get_board

    board = get_board(args.board)
    if args.port and not board.upload:
        raise EdgeqError(f"{board.name} is emulated: it has no serial port to upload to", where="--port",
                         hint="leave out --port to start the emulator")
    if board.emulated and not args.port:
        from edgeq.targets.emulators import start_emulator

        emu = start_emulator(board.name, args.firmware)
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
    from edgeq.targets.export import read_project

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
    from edgeq.targets.upload import upload

    res = upload(board, p, meta, args.port)
    text = "\n".join(f"  {c}" for c in res.to_dict()["commands"])
    emit(args, res.to_dict(), f"uploaded to {board.name} on {args.port}" + (f" ({res.copied})" if res.copied else "")
         + f"\n{text}\n  edgeq bench --port {args.port}")
    return 0
