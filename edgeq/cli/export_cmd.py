"""``edgeq export MODEL.tflite --board B -o DIR``: a firmware project that serves the benchmark protocol."""

from __future__ import annotations

from edgeq.compiler import BACKENDS, OPTIMIZE

HELP = "write firmware for a board: Arduino sketch, bare-metal Cortex-M project or TFLM sketch (--build builds it)"
DESCRIPTION = (
    "Write a firmware project for MODEL on BOARD that serves the edgeq / MLPerf Tiny benchmark protocol "
    "(docs/protocol.md): a bare-metal Cortex-M project (startup, linker script, UART, SysTick, Makefile) for the QEMU "
    "boards, an Arduino sketch folder DIR/<Name>/<Name>.ino for the Arduino boards, or with --runtime tflm (and "
    "--runtime auto, the default, when edgeq's compiler lacks an op of the model) a sketch "
    "for the Arduino_TensorFlowLite library (op resolver with exactly the model's ops, measured tensor arena). The "
    "model must fit the board (checked before anything is built). --build builds what can be built here."
)


def add_arguments(p) -> None:
    from edgeq._argtypes import count

    p.add_argument("model", help="int8 .tflite model")
    p.add_argument("--board", default="qemu-m4", help="board name (default qemu-m4; see `edgeq boards`)")
    p.add_argument("--runtime", default="auto", choices=("auto", "edgeq", "tflm"),
                   help="auto (default): edgeq's C when its compiler supports every op, else a TFLM sketch (the "
                        "output says which op made the choice); edgeq: the model compiled to C; tflm: TensorFlow "
                        "Lite Micro sketch")
    p.add_argument("--backend", choices=BACKENDS,
                   help="kernels for --runtime edgeq (default: the board's preferred one that is available)")
    p.add_argument("--cmsis-nn", dest="cmsis_nn", metavar="DIR",
                   help="CMSIS-NN checkout for --backend cmsis-nn (default: $EDGEQ_CMSIS_NN_DIR)")
    p.add_argument("--optimize", default="speed", choices=OPTIMIZE,
                   help="--runtime edgeq: speed (default) uses the portable backend's shape-specialised kernels where "
                        "they apply; size only its general kernels (less flash, slower, the same outputs)")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder (written atomically)")
    p.add_argument("--name", help="sketch name (default: the model file's name)")
    p.add_argument("--db-format", dest="db_format", default="auto", choices=("auto", "raw", "mlperf"),
                   help="what EEMBC `db` bytes are: auto (default) = the MLPerf Tiny runner's data format for an MLPerf "
                        "model (int8 features for kws01, uint8 pixels for ic01/vww01, float32 for ad01; recognised "
                        "by its input/output shapes or file name), raw input tensor bytes otherwise; raw; mlperf")
    p.add_argument("--baud", type=int, metavar="N",
                   help="serial baud rate of the firmware (default: the board table's; 921600 for ad01, as the MLPerf "
                        "runner's devices_ad.yaml expects, where the board can do it). QEMU ignores it")
    p.add_argument("--energy", action="store_true",
                   help="MLPerf energy mode: boots with m-timestamp-mode-energy and every timestamp pulses the board's "
                        "timestamp pin (D7; LED0 of the FPGA I/O on QEMU) instead of printing m-lap-us")
    p.add_argument("--app", default="bench", choices=("bench", "classify", "regress"),
                   help="bench (default): serve the benchmark protocol (edgeq bench); classify: read input windows on "
                        "serial (text numbers, or '!' + raw bytes) or from your edgeq_read_input(), print the top-k "
                        "labels with scores; regress: print the dequantized outputs")
    p.add_argument("--labels", metavar="TXT", help="--app classify: class names, one per line (default class0...)")
    p.add_argument("--top-k", dest="top_k", type=count(1, 1000), default=3, metavar="K",
                   help="--app classify: how many labels to print (default 3)")
    p.add_argument("--build", action="store_true", help="build it here (arm-none-eabi-gcc / arduino-builder)")
    p.add_argument("--force", action="store_true", help="replace an existing output folder")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object (with --build: firmware, flash_bytes, ram_bytes)")


def run(args) -> int:
    import sys

    from edgeq.cli._out import emit
    from edgeq.api import export

    res = export(args.model, args.board, args.output, runtime=args.runtime, backend=args.backend,
                 cmsis_nn=args.cmsis_nn, build=args.build, force=args.force, name=args.name,
                 db_format=args.db_format, baud=args.baud, energy=args.energy, app=args.app, labels=args.labels,
                 top_k=args.top_k, optimize=args.optimize)
    d = res.to_dict()
    lines = [f"{res.model_name} -> {res.out_dir} ({res.board.name}, {res.runtime} runtime, {res.backend})"]
    if res.runtime_reason:
        lines.append(f"runtime auto -> TFLM: {res.runtime_reason}")
    if res.sketch:
        lines.append(f"sketch: {res.sketch}")
    lines.append(f"fit ({'estimate' if res.fit.estimated else 'measured'}): {res.fit.summary()}")
    if res.tflm:
        lines.append(f"TFLM: {len(res.tflm['ops'])} ops, tensor arena {res.tflm['arena_bytes']} B (measured)")
    if res.build is not None:
        b = res.build
        if b.firmware and b.flash_bytes is not None:
            lines.append(f"built {b.firmware}: flash {b.flash_bytes:,} B, RAM {b.ram_bytes:,} B")
        elif b.firmware:
            lines.append(f"built {b.firmware}")
        if b.note:
            lines.append(f"build: {b.note}")
    if not args.json:
        for note in res.notes:
            print(f"edgeq export: note: {note}", file=sys.stderr)
    emit(args, d, "\n".join(lines))
    return 0
