"""``edgeq analyze MODEL.tflite --board B``: per-layer cost and the totals against the board, before building."""

from __future__ import annotations

from edgeq.compiler import BACKENDS

HELP = "per-layer MACs, memory and estimated instructions of a model on a board, and whether it fits (no build)"
DESCRIPTION = (
    "Lower and memory-plan MODEL exactly as `edgeq export` would for BOARD and print, per layer: op, shapes, MACs, "
    "arena bytes live and the arena high-water mark, constant bytes and kernel scratch; then flash and RAM against "
    "the board with their breakdown (arena + scratch = the compiled plan's EDGEQ_RAM_BYTES, input copy, app state, "
    "the board core's own RAM, stack) and the estimated instructions, cycles and milliseconds at the board's clock "
    "(a per-kernel cost table measured on the emulated Cortex-M4; see docs/analyze.md). Markdown by default, --json "
    "for one JSON object, --plot for a PNG of memory over layers."
)


def add_arguments(p) -> None:
    p.add_argument("model", help="int8 .tflite model")
    p.add_argument("--board", default="qemu-m4", help="board name (default qemu-m4; see `edgeq boards`)")
    p.add_argument("--backend", choices=BACKENDS,
                   help="kernels (default: the board's preferred one that is available, as export picks it)")
    p.add_argument("--cmsis-nn", dest="cmsis_nn", metavar="DIR",
                   help="CMSIS-NN checkout for --backend cmsis-nn (default: $EDGEQ_CMSIS_NN_DIR)")
    p.add_argument("--plot", metavar="PNG", help="write a PNG of memory over layers")
    p.add_argument("--force", action="store_true", help="replace an existing --plot file")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def run(args) -> int:
    from edgeq._fs import check_output_file
    from edgeq.api import analyze
    from edgeq.cli._out import emit

    plot = check_output_file(args.plot, force=args.force) if args.plot else None
    res = analyze(args.model, args.board, backend=args.backend, cmsis_nn=args.cmsis_nn)
    d = res.to_dict()
    if plot is not None:
        res.plot(plot)
        d["plot"] = str(plot)
    emit(args, d, res.markdown().rstrip() + (f"\nplot: {plot}" if plot else ""))
    return 0
