"""``edgeq compile MODEL.tflite --target T --backend B -o DIR``: int8 .tflite -> standalone C (see edgeq.compiler)."""

from __future__ import annotations

from edgeq.compiler import BACKENDS, OPTIMIZE, TARGETS

HELP = "compile an int8 .tflite into standalone C (no interpreter), bit-exact with TFLM"
DESCRIPTION = (
    "Compile an int8 .tflite model into standalone C: model.h (the API: I/O shapes, scales, arena size), "
    "model.c (one kernel call per layer, parameters precomputed, a static memory plan), model_data.c (weights as "
    "const arrays; PROGMEM on AVR) and the kernels it calls. --target host also writes a Makefile for DIR/model_host, "
    "which reads raw input tensors on stdin and writes raw outputs on stdout (--build runs make)."
)



def add_arguments(p) -> None:
    p.add_argument("model", help="int8 .tflite model (float I/O through QUANTIZE/DEQUANTIZE is fine)")
    p.add_argument("--target", default="host", choices=TARGETS, help="what the C is for (default: host)")
    p.add_argument("--backend", default="portable", choices=BACKENDS,
                   help="portable: edgeq's C99 kernels (any CPU); cmsis-nn: Arm's CMSIS-NN (needs --cmsis-nn)")
    p.add_argument("--optimize", default="speed", choices=OPTIMIZE,
                   help="speed (default): the portable backend's shape-specialised kernels where they apply; size: "
                        "its general kernels only (less flash, slower, the same outputs)")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder (written atomically)")
    p.add_argument("--force", action="store_true", help="replace an existing output folder")
    p.add_argument("--cmsis-nn", dest="cmsis_nn", metavar="DIR",
                   help="CMSIS-NN checkout for --backend cmsis-nn (default: $EDGEQ_CMSIS_NN_DIR)")
    p.add_argument("--build", action="store_true", help="--target host: also run make -> DIR/model_host")
    p.add_argument("--json", action="store_true", help="print one JSON object (ram_bytes, arena_bytes, ...)")


def run(args) -> int:
    from edgeq.cli._out import emit
    from edgeq.api import compile as compile_model
    from edgeq.errors import EdgeqError

    if args.build and args.target != "host":
        raise EdgeqError("--build works only with --target host", where="--build",
                         hint="cross-compile the generated C with your firmware build")
    res = compile_model(args.model, args.output, target=args.target, backend=args.backend, build=args.build,
                        force=args.force, cmsis_nn=args.cmsis_nn, optimize=args.optimize)
    binary = res.binary
    d = res.to_dict()
    if binary is not None:
        d["binary"] = str(binary)
    text = (f"{res.model_name}: {res.ops} ops -> {res.out_dir} ({res.backend}, {res.target}); "
            f"RAM {res.ram_bytes} B (arena {res.arena_bytes} + scratch {res.scratch_bytes}), "
            f"const {res.const_bytes} B")
    if binary is not None:
        text += f"\nbuilt {binary}"
    emit(args, d, text)
    return 0
