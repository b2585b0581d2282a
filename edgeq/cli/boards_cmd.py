"""``edgeq boards``: the board table (edgeq/targets/boards.json)."""

from __future__ import annotations

HELP = "list the boards edgeq exports firmware for (core, clock, flash, RAM, backend, build, run)"
DESCRIPTION = (
    "List the boards `edgeq export --board` knows: core, clock, flash and RAM available to the application, the "
    "kernel backends that suit it (preferred first), what --build does here and how `edgeq flash` runs it. "
    "The table is data: edgeq/targets/boards.json."
)


def add_arguments(p) -> None:
    p.add_argument("board", nargs="?", help="show one board in full")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _kb(n: int) -> str:
    return f"{n / 1024 / 1024:.4g} MB" if n >= 1024 * 1024 else f"{n / 1024:.4g} KB"


def run(args) -> int:
    from edgeq.cli._out import emit, markdown_table
    from edgeq.targets.boards import DEFAULT_BOARD, boards, get_board

    if args.board:
        b = get_board(args.board)
        d = b.to_dict()
        text = "\n".join(f"{k}: {v}" for k, v in d.items())
        emit(args, d, text)
        return 0
    table = boards()
    rows = []
    for b in table.values():
        rows.append([b.name + (" (default)" if b.name == DEFAULT_BOARD else ""), b.core.name,
                     b.clock_text, _kb(b.flash), _kb(b.ram), "/".join(b.backends), b.build, b.run])
    text = markdown_table(["board", "core", "clock", "flash", "RAM", "backend", "build here", "run"], rows)
    emit(args, {"default": DEFAULT_BOARD, "boards": [b.to_dict() for b in table.values()]}, text)
    return 0
