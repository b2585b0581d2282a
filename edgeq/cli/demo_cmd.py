"""``edgeq demo``: train, quantize (PTQ + QAT), export, run on the emulated board, benchmark and report."""

from __future__ import annotations

from edgeq._argtypes import count

HELP = "the whole chain in one command: digits CNN -> int8 (PTQ, QAT) -> firmware on qemu-m4 -> verified benchmark"
DESCRIPTION = (
    "Train a small CNN on the sklearn digits data, quantize it post-training and with QAT, print the float / PTQ / "
    "QAT table, export an Arduino sketch and a Cortex-M firmware, run the firmware on the emulated qemu-m4 board "
    "(or a real board with --port), benchmark it over serial with every output verified against the bit-exact "
    "reference, and write a report (Markdown + PNG) into the output folder. Needs the [convert] extra (TensorFlow). "
    "Options are checked before training; a step whose tool is absent is skipped (naming the apt command), a step "
    "that fails with its tools present is reported as failed, the rest still runs, and the exit status is 1."
)


def add_arguments(p) -> None:
    p.add_argument("-o", "--output", default="edgeq-demo", metavar="DIR",
                   help="report folder (default ./edgeq-demo; a previous demo's folder is replaced)")
    p.add_argument("--board", default="qemu-m4", help="board for the firmware (default qemu-m4, emulated)")
    p.add_argument("--port", help="a real board's serial port or URL: benchmark there (flash the firmware the "
                                  "demo exports for --board first)")
    p.add_argument("--arduino-board", default="uno", help="board of the Arduino sketch (default uno)")
    p.add_argument("--epochs", type=count(1, 100_000), default=15, help="float training epochs (default 15)")
    p.add_argument("--qat-epochs", type=count(1, 100_000), default=5, help="QAT fine-tuning epochs (default 5)")
    p.add_argument("--runs", type=count(1, 10_000_000), default=50, help="timed inferences on the device (default 50)")
    p.add_argument("--force", action="store_true", help="replace an output folder the demo did not write")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the summary")


def run(args) -> int:
    from pathlib import Path

    from edgeq.cli._out import emit
    from edgeq.demo import DemoOptions, run_demo, summary_text

    from edgeq._fs import check_output_dir

    check_output_dir(args.output, force=True, what="-o")  # writable, not a file; the demo decides about replacing
    opts = DemoOptions(out=Path(args.output), board=args.board, port=args.port, arduino_board=args.arduino_board,
                       epochs=args.epochs, qat_epochs=args.qat_epochs, runs=args.runs, force=args.force)
    report = run_demo(opts)
    emit(args, report.to_dict(), summary_text(report))
    return 0 if report.ok else 1  # a step that failed with its tools present fails the command
