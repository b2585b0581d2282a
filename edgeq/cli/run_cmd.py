"""``edgeq run MODEL.tflite --input X.npy``: run a model on the host with LiteRT and print the result."""

from __future__ import annotations

import argparse

from edgeq._argtypes import THREADS, count

HELP = "run a .tflite model on this machine (LiteRT) and print top-k classes or the output vector"
DESCRIPTION = (
    "Run a .tflite model with LiteRT (ai-edge-litert; else tflite-runtime, else tf.lite). Float input is quantized "
    "with the model's input scale/zero point when the model takes int8; the output is dequantized. The input may "
    "omit the batch dimension, or carry a leading N to run N samples. Raw .bin inputs are read in the model "
    "input's dtype unless --input-dtype says otherwise."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL.tflite", help="the model to run")
    p.add_argument("--input", "-i", required=True, metavar="X.npy",
                   help="input data: .npy, or raw .bin/.raw bytes (one sample or N samples)")
    p.add_argument("--input-dtype", metavar="DTYPE", default=None,
                   help="dtype of a raw .bin input (int8, uint8, float32, ...); default: the model input's dtype")
    p.add_argument("--top-k", "-k", type=count(1), default=None, metavar="K",
                   help="print the K best classes (index, score) instead of the output vector")
    p.add_argument("--labels", metavar="FILE", default=None, help="text file with one class name per line")
    p.add_argument("--output-index", type=count(0), default=0, metavar="I", help="which output to rank (default 0)")
    p.add_argument("--threads", type=THREADS, default=None, metavar="N", help="interpreter threads (default 1)")
    p.add_argument("--no-xnnpack", dest="xnnpack", action="store_false", help="disable the XNNPACK delegate")
    p.add_argument("--runtime", default="auto", choices=["auto", "litert", "tflite-runtime", "tensorflow"],
                   help="which interpreter to use (default: auto = the first one installed)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _load_input(path: str, model, dtype_name: str | None):
    from pathlib import Path

    import numpy as np

    from edgeq.errors import EdgeqError

    from edgeq._fs import MAX_DATA_BYTES, check_input_file

    p = Path(path)
    if not p.exists():
        raise EdgeqError("input file not found", where=path)
    check_input_file(p, what="input file", max_bytes=MAX_DATA_BYTES)
    if p.suffix.lower() == ".npy":
        try:
            return np.load(p, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise EdgeqError(f"not a readable .npy file ({' '.join(str(exc).split())[:120]})", where=path) from None
    if p.suffix.lower() in (".bin", ".raw"):
        if len(model.inputs) != 1:
            raise EdgeqError("raw input files need a single-input model", where=path, hint="use a .npy file")
        info = model.inputs[0]
        try:
            dt = np.dtype(dtype_name) if dtype_name else info.dtype
        except TypeError:
            raise EdgeqError(f"unknown dtype {dtype_name!r}", hint="e.g. int8, uint8, float32") from None
        data = p.read_bytes()
        if len(data) % dt.itemsize:
            raise EdgeqError(f"{len(data)} bytes is not a whole number of {dt.name} values", where=path)
        flat = np.frombuffer(data, dtype=dt)
        sample = tuple(info.shape[1:]) if info.shape and info.shape[0] == 1 else tuple(info.shape)
        size = int(np.prod(sample)) if sample else 1
        if flat.size == size:
            return flat.reshape(sample)
        if size and flat.size % size == 0:
            return flat.reshape((flat.size // size,) + sample)
        raise EdgeqError(
            f"{flat.size} {dt.name} values do not fill the model input {tuple(info.shape)} ({size} values per sample)",
            where=path,
        )
    raise EdgeqError("unsupported input file type", where=path, hint="use .npy (numpy.save) or raw .bin")


def _read_labels(path: str) -> list[str]:
    from edgeq.errors import EdgeqError

    try:
        with open(path, encoding="utf-8") as f:
            return [ln.strip() for ln in f if ln.strip()]
    except OSError as exc:
        raise EdgeqError(f"cannot read labels: {exc.strerror or exc}", where=path) from None


def run(args) -> int:
    import numpy as np

    from edgeq.cli._out import emit
    from edgeq.errors import EdgeqError
    from edgeq.api import run as run_model
    from edgeq.runtime import load_interpreter

    if args.top_k is not None and args.top_k < 1:
        raise EdgeqError(f"--top-k must be >= 1, got {args.top_k}")
    model = load_interpreter(args.model, threads=args.threads, xnnpack=args.xnnpack, runtime=args.runtime)
    if not 0 <= args.output_index < len(model.outputs):
        raise EdgeqError(f"--output-index {args.output_index} out of range: the model has {len(model.outputs)} outputs")
    x = _load_input(args.input, model, args.input_dtype)
    labels = _read_labels(args.labels) if args.labels else None
    result = run_model(model, x)

    k = args.top_k if args.top_k is not None else 5
    obj = {"model": args.model, "input": args.input, **result.to_dict(k, args.output_index)}
    obj["runtime"] = {**result.runtime, "threads": model.threads, "xnnpack": model.xnnpack}
    if labels is not None:
        def named(pairs):
            return [{**p, "label": labels[p["index"]] if p["index"] < len(labels) else None} for p in pairs]

        obj["top_k"] = named(obj["top_k"]) if result.batch is None else [named(r) for r in obj["top_k"]]

    lines = [f"# {args.model} on {model.runtime} (threads {model.threads}, XNNPACK {'on' if model.xnnpack else 'off'})"]
    rows = [obj["top_k"]] if result.batch is None else obj["top_k"]
    values = result.outputs[args.output_index]
    raw = result.raw[args.output_index]
    for n, row in enumerate(rows):
        prefix = "" if result.batch is None else f"[{n}] "
        if args.top_k is not None:
            for rank, p in enumerate(row, 1):
                name = f"  {p['label']}" if p.get("label") else ""
                lines.append(f"{prefix}{rank}. class {p['index']}{name}  score {p['score']:.6g}")
        else:
            v = values if result.batch is None else values[n]
            r = raw if result.batch is None else raw[n]
            with np.printoptions(precision=6, suppress=True, linewidth=118, threshold=2000):
                lines.append(f"{prefix}output {args.output_index} {tuple(v.shape)}: {np.array2string(v.reshape(-1))}")
                if raw.dtype != np.float32:
                    lines.append(f"{prefix}raw ({raw.dtype}): {np.array2string(r.reshape(-1))}")
    emit(args, obj, "\n".join(lines))
    return 0
