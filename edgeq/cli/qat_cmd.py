"""``edgeq qat``: quantization-aware fine-tuning of a Keras 3 classifier, written as a fully int8 .tflite."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edgeq._argtypes import SEED, count, number

HELP = "quantization-aware training (Keras 3, no tfmot): MODEL.keras + TRAIN.npz -> fully int8 .tflite"
DESCRIPTION = (
    "Fine-tune a trained float Keras 3 classifier with int8 fake quantization (per-channel conv weights, per-tensor "
    "dense, BatchNormalization folded, ReLU/ReLU6 fused, activation ranges learned by EMA; the layers are listed "
    "below) and write a fully int8 "
    ".tflite (int8 I/O, batch 1) - no representative dataset needed. --data/--val are .npz files with arrays 'x' "
    "(samples) and 'y' (class labels or one-hot). Prints the float vs QAT accuracy (on --val if given, else on the "
    "training data); progress per epoch goes to stderr."
)


def EPILOG() -> str:  # noqa: N802 - read by edgeq.cli.main like the HELP/DESCRIPTION constants
    from edgeq.qat import supported_table_text

    return ("layers QAT trains with fake quantization (anything else is refused, naming the layer):\n"
            + supported_table_text())


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL.keras", help="trained float Keras 3 model (.keras or .h5)")
    p.add_argument("--data", required=True, metavar="TRAIN.npz", help="training samples 'x' and labels 'y'")
    p.add_argument("--val", metavar="VAL.npz", help="validation samples 'x' and labels 'y' (accuracy is reported "
                                                   "on these)")
    p.add_argument("--epochs", type=count(0, 100_000), required=True, metavar="N",
                   help="QAT fine-tuning epochs (0: calibrate ranges only)")
    p.add_argument("--lr", type=number(0.0, 10.0, min_inclusive=False), default=1e-4,
                   help="initial learning rate, cosine-decayed (default 1e-4)")
    p.add_argument("--batch-size", type=count(1, 1 << 20), default=32, metavar="B",
                   help="training batch size (default 32)")
    p.add_argument("--input-range", metavar="LO,HI", default=None,
                   help="fix the int8 range of the input (e.g. 0,1); default: learned from the data")
    p.add_argument("--seed", type=SEED, default=0, help="random seed (default 0)")
    p.add_argument("--post-training", metavar="LAYER[,LAYER...]", default=None,
                   help="selective quantization: these layers train without fake quantization and are calibrated "
                        "post-training (min/max on --data) at conversion; recurrent layers (LSTM, GRU, SimpleRNN, "
                        "Bidirectional) always are")
    p.add_argument("--per-channel-dense", action="store_true",
                   help="int8 Dense weights per output channel (default: per tensor); the .tflite gets exactly the "
                        "trained per-channel weights")
    p.add_argument("--report", metavar="REPORT.md", default=None,
                   help="also quantize post-training (min/max on --data) and write a float / PTQ int8 / QAT int8 "
                        "comparison (size, accuracy, per-layer SQNR) as REPORT.md and REPORT.png")
    p.add_argument("-o", "--output", required=True, metavar="OUT.tflite", help="where to write the int8 model")
    p.add_argument("--force", action="store_true", help="replace an existing output file")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")


def _load_xy(path: str, what: str):
    """Arrays 'x' and 'y' of an .npz (numpy only: checked before TensorFlow is loaded)."""
    import numpy as np

    from edgeq.convert.data import load_array
    from edgeq.errors import EdgeqError

    x = load_array(path, what=what, keys=("x",))
    hint = "save it with numpy.savez(path, x=samples, y=labels)"
    try:
        z = np.load(path, allow_pickle=False)
        if not isinstance(z, np.lib.npyio.NpzFile):
            raise EdgeqError(f"{what} must be an .npz with arrays 'x' and 'y' (labels)", where=path, hint=hint)
        with z:
            if "y" not in z.files:
                raise EdgeqError(f"{what} has no array 'y' (labels)", where=path, hint=hint)
            y = z["y"]
    except (ValueError, OSError) as exc:
        raise EdgeqError(f"cannot read labels 'y' from {what}: {exc}", where=path) from None
    if len(y) != len(x):
        raise EdgeqError(f"{what} has {len(x)} samples but {len(y)} labels", where=path)
    return x, y


def _parse_range(text: str | None):
    from edgeq.errors import EdgeqError

    if text is None:
        return None
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise EdgeqError(f"--input-range must be LO,HI (two numbers), got {text!r}") from None
    if not lo < hi or lo > 0 or hi < 0:
        raise EdgeqError(f"--input-range {text!r}: need LO < HI with LO <= 0 <= HI (int8 ranges contain 0)")
    return lo, hi


def run(args: argparse.Namespace) -> int:
    from edgeq._fs import check_output_file
    from edgeq.cli._out import emit
    from edgeq.errors import EdgeqError

    src = Path(args.model)
    out = check_output_file(args.output, source=src, example="model_qat.tflite", force=args.force)
    if args.epochs < 0:
        raise EdgeqError(f"--epochs must be >= 0, got {args.epochs}")
    if args.batch_size < 1:
        raise EdgeqError(f"--batch-size must be >= 1, got {args.batch_size}")
    if not args.lr > 0:
        raise EdgeqError(f"--lr must be positive, got {args.lr}")
    input_range = _parse_range(args.input_range)
    if args.report is not None:
        rep = Path(args.report)
        if not (rep.parent if str(rep.parent) else Path(".")).is_dir():
            raise EdgeqError("report folder does not exist", where=str(rep.parent), hint="create it first")
        if rep.suffix.lower() != ".md":
            raise EdgeqError("--report must name a Markdown file (REPORT.md)", where=str(rep))
        check_output_file(rep, example="REPORT.md", what="--report")
        for f in (rep, rep.with_suffix(".png")):
            if f.exists() and not args.force:
                raise EdgeqError("report file already exists", where=str(f), hint="pass --force to replace it")
    for flag, path in (("--data", args.data), ("--val", args.val)):
        if path is not None and not Path(path).is_file():
            raise EdgeqError(f"{flag} file not found", where=path)

    x, y = _load_xy(args.data, "training data")
    x_val = y_val = None
    if args.val:
        x_val, y_val = _load_xy(args.val, "validation data")

    from edgeq.convert.data import fit_samples
    from edgeq.convert.load import load_model

    sm = load_model(args.model)
    if sm.format not in ("keras", "h5"):
        raise EdgeqError(f"edgeq qat needs a Keras model (.keras or .h5), got a {sm.format} model", where=str(src),
                         hint="for a SavedModel or .tflite use post-training quantization: 'edgeq quantize'")
    if len(sm.input_shapes) != 1:
        raise EdgeqError(f"edgeq qat trains single-input models (this one has {len(sm.input_shapes)})",
                         where=str(src))
    shape = sm.fixed_input_shapes[0]
    x = fit_samples(x, shape, where=args.data, what="training data")
    if x_val is not None:
        x_val = fit_samples(x_val, shape, where=args.val, what="validation data")

    def on_epoch(epoch: int, total: int, row: dict) -> None:
        parts = [f"epoch {epoch}/{total}"]
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            if key in row:
                parts.append(f"{key} {row[key]:.4f}")
        parts.append(f"({row['seconds']:.1f} s)")
        print("  ".join(parts), file=sys.stderr, flush=True)

    from edgeq.qat.train import run_qat

    result = run_qat(sm.obj, x, y, x_val=x_val, y_val=y_val, epochs=args.epochs, lr=args.lr,
                     batch_size=args.batch_size, input_range=input_range, seed=args.seed, on_epoch=on_epoch,
                     source=str(src), post_training=[n.strip() for n in args.post_training.split(",") if n.strip()]
                     if args.post_training else None, per_channel_dense=args.per_channel_dense)
    result.save(out)
    text = result.text()
    if args.report is not None:
        from edgeq.qat.report import compare, write_report

        rep = Path(args.report)
        x_eval, y_eval = (x_val, y_val) if x_val is not None else (x, y)
        cmp = compare(sm.obj, result.tflite, x_eval, result.summary_labels(y_eval), calibration_data=x,
                      name=src.stem, per_tensor_dense=not args.per_channel_dense)
        write_report([cmp], rep, rep.with_suffix(".png"))
        result.summary["report"] = {"markdown": str(rep), "png": str(rep.with_suffix(".png")),
                                    "rows": cmp.rows(), "layers": cmp.layers()}
        text += f"\nwrote {rep} and {rep.with_suffix('.png')}"
    emit(args, result.to_dict(), text)
    return 0
