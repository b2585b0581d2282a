"""Post-training quantization benchmark: size and accuracy of every `edgeq quantize` mode and calibration method.

    .venv/bin/python benchmarks/quantization.py [--epochs 15] [--calib 300] [--out benchmarks/results]

Part 1, sklearn digits (75/25 stratified split, 1347 train / 450 test images), two Keras CNNs ("small" and "wide",
the latter >= 100 KB as float32): float32, float16, dynamic, and int8 with each calibration method (minmax,
percentile, mse, entropy; calibrated on the first --calib training images). Size, size ratio vs float32, test
accuracy, accuracy drop (percentage points) and output SQNR vs the float32 model.

Part 2, MLPerf Tiny float models (../shared/models/mlperf-tiny or $EDGEQ_SHARED_MODELS): vww_96_float,
pretrainedResnet, ad01_fp32 quantized to int8 (per-tensor FC weights, as in the published models) with each
calibration method, compared with the published int8 models: size, output SQNR vs the float model, top-1 agreement
with the float model and with the published int8 model. Inputs: AD uses its real sample (196 windows of 5 mel frames;
calibration on the even windows, evaluation on all); VWW and IC have no usable sample in the repository, so
calibration and evaluation use random crops of the two photos bundled with scikit-learn (china.jpg, flower.jpg;
disjoint crops for calibration and evaluation) - natural-image statistics, but not the benchmark's datasets.

Writes quantization.md and quantization.json to --out.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from edgeq.cli._out import markdown_table  # noqa: E402
from edgeq.convert import quantize  # noqa: E402
from edgeq.convert.calibrate import CALIBRATIONS  # noqa: E402
from edgeq.convert.digits import load_digits_split, train_digits_cnn  # noqa: E402
from edgeq.convert.evaluation import evaluate  # noqa: E402
from edgeq.convert.runner import run_float  # noqa: E402


def shared_models_dir() -> Path:
    env = os.environ.get("EDGEQ_SHARED_MODELS")
    return Path(env) if env else REPO.parent / "shared" / "models" / "mlperf-tiny"


# --------------------------------------------------------------------------------------------------------------------


def digits_part(epochs: int, n_calib: int, work: Path) -> list[dict]:
    data = load_digits_split()
    calib = data.x_train[:n_calib]
    rows = []
    for width in ("small", "wide"):
        path = work / f"digits_{width}.keras"
        t0 = time.perf_counter()
        train_digits_cnn(path, width, epochs=epochs, data=data)
        print(f"[digits {width}] trained in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        variants = [("float32", None), ("float16", None), ("dynamic", None)] + [("int8", c) for c in CALIBRATIONS]
        ref = None
        for mode, cal in variants:
            t0 = time.perf_counter()
            r = quantize(path, mode, data=calib if mode == "int8" else None, calibration=cal or "minmax",
                         progress=False)
            secs = time.perf_counter() - t0
            if mode == "float32":
                ref = r.tflite
            rep = evaluate(ref, r.tflite, data.x_test, data.y_test, per_layer=False, progress=False)
            rows.append({
                "model": f"digits {width}", "mode": mode, "calibration": cal, "size": len(r.tflite),
                "ratio": len(r.tflite) / len(ref), "accuracy": rep.candidate.accuracy,
                "float_accuracy": rep.reference.accuracy,
                "drop_pp": 100 * (rep.reference.accuracy - rep.candidate.accuracy),
                "sqnr_db": rep.output_sqnr_db, "agreement": rep.top1_agreement, "kind": r.summary["kind"],
                "seconds": round(secs, 2),
            })
            print(f"  {mode:8s} {cal or '':10s} {len(r.tflite):8d} B acc {rep.candidate.accuracy:.4f} "
                  f"sqnr {rep.output_sqnr_db:.1f} dB ({secs:.1f} s)", file=sys.stderr)
    return rows


def _resize_nearest(img: np.ndarray, size: int) -> np.ndarray:
    h, w = img.shape[:2]
    ys = (np.arange(size) * h / size).astype(int)
    xs = (np.arange(size) * w / size).astype(int)
    return img[ys][:, xs]


def photo_crops(n: int, size: int, seed: int) -> np.ndarray:
    """Random square crops (side 64..400 px, random flip) of sklearn's two sample photos, resized to size x size,
    as float 0..255 (HWC)."""
    from sklearn.datasets import load_sample_images

    images = load_sample_images().images
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        img = images[rng.integers(len(images))]
        side = int(rng.integers(64, 400))
        y = int(rng.integers(0, img.shape[0] - side))
        x = int(rng.integers(0, img.shape[1] - side))
        crop = _resize_nearest(img[y:y + side, x:x + side], size).astype(np.float32)
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        out.append(crop)
    return np.stack(out)


def mlperf_part(models_dir: Path, n_calib: int) -> list[dict]:
    rows = []
    ad = np.fromfile(models_dir / "ad01_sample_normal_id_01_00000000_hist_librosa.bin", dtype="<f4").reshape(200, 128)
    ad_windows = np.stack([ad[i:i + 5].ravel() for i in range(196)]).astype(np.float32)
    cases = [
        ("vww_96_float.tflite", "vww_96_int8.tflite", photo_crops(n_calib, 96, 1) / 255.0,
         photo_crops(200, 96, 2) / 255.0, "photo crops /255"),
        ("pretrainedResnet.tflite", "pretrainedResnet_quant.tflite", photo_crops(n_calib, 32, 3),
         photo_crops(200, 32, 4), "photo crops 0..255"),
        ("ad01_fp32.tflite", "ad01_int8.tflite", ad_windows[::2], ad_windows, "AD sample windows"),
    ]
    for float_name, pub_name, calib, test, inputs in cases:
        fpath, ppath = models_dir / float_name, models_dir / pub_name
        if not fpath.is_file():
            print(f"skipping {float_name}: not found in {models_dir}", file=sys.stderr)
            continue
        published = ppath.read_bytes()
        pub_vs_float = evaluate(fpath, published, test, per_layer=False, progress=False)
        is_ad = float_name.startswith("ad01")
        f_out = run_float(fpath.read_bytes(), test) if is_ad else None
        p_out = run_float(published, test) if is_ad else None

        def score(out):  # AD anomaly score: mean over windows of the reconstruction MSE
            return float(np.mean(np.mean((out - test) ** 2, axis=1)))

        base = {"model": float_name.replace(".tflite", ""), "inputs": inputs, "float_size": fpath.stat().st_size}
        rows.append({**base, "variant": f"published {pub_name}", "size": len(published),
                     "ratio": len(published) / fpath.stat().st_size, "sqnr_db": pub_vs_float.output_sqnr_db,
                     "agree_float": pub_vs_float.top1_agreement, "agree_published": 1.0,
                     "ad_score": score(p_out) if is_ad else None,
                     "ad_score_float": score(f_out) if is_ad else None})
        for cal in CALIBRATIONS:
            t0 = time.perf_counter()
            r = quantize(fpath, "int8", data=calib, calibration=cal, per_tensor_dense=True, progress=False)
            secs = time.perf_counter() - t0
            vs_float = evaluate(fpath, r.tflite, test, per_layer=False, progress=False)
            vs_pub = evaluate(published, r.tflite, test, per_layer=False, progress=False)
            rows.append({**base, "variant": f"edgeq int8 {cal}", "size": len(r.tflite),
                         "ratio": len(r.tflite) / fpath.stat().st_size, "sqnr_db": vs_float.output_sqnr_db,
                         "agree_float": vs_float.top1_agreement, "agree_published": vs_pub.top1_agreement,
                         "ad_score": score(run_float(r.tflite, test)) if is_ad else None,
                         "ad_score_float": score(f_out) if is_ad else None, "seconds": round(secs, 2)})
            print(f"[{float_name}] {cal:10s} {len(r.tflite)} B sqnr {vs_float.output_sqnr_db:.1f} dB "
                  f"agree(float) {vs_float.top1_agreement:.3f} ({secs:.1f} s)", file=sys.stderr)
    return rows


def render(digits_rows: list[dict], mlperf_rows: list[dict], args) -> str:
    lines = [f"Command: `.venv/bin/python benchmarks/quantization.py --epochs {args.epochs} --calib {args.calib}`", ""]
    lines.append("Digits (sklearn load_digits, 450 test images). Ratio = size / float32 size; drop in percentage "
                 "points; SQNR of the logits vs the float32 model.")
    lines.append("")
    rows = []
    for r in digits_rows:
        rows.append([r["model"], r["mode"] + (f" {r['calibration']}" if r["calibration"] else ""),
                     f"{r['size']:,}", f"{r['ratio']:.3f}", f"{r['accuracy']:.4f}", f"{r['drop_pp']:+.2f}",
                     f"{r['sqnr_db']:.1f}" if np.isfinite(r["sqnr_db"]) else "inf", f"{r['agreement']:.4f}"])
    lines.append(markdown_table(["model", "mode", "bytes", "ratio", "accuracy", "drop (pp)", "SQNR (dB)",
                                 "top-1 agreement"], rows))
    if mlperf_rows:
        lines += ["", "MLPerf Tiny float models quantized by edgeq (int8, per-tensor FC) vs the published int8 "
                      "models. SQNR and agreement are measured against the float model's output.", ""]
        rows = []
        for r in mlperf_rows:
            extra = (f"{r['ad_score']:.3f} (float {r['ad_score_float']:.3f})" if r["ad_score"] is not None
                     else "")
            rows.append([r["model"], r["variant"], f"{r['size']:,}", f"{r['ratio']:.3f}", f"{r['sqnr_db']:.1f}",
                         f"{r['agree_float']:.3f}" if not r["model"].startswith("ad01") else "-",
                         f"{r['agree_published']:.3f}" if not r["model"].startswith("ad01") else "-",
                         extra, r["inputs"]])
        lines.append(markdown_table(["float model", "int8 model", "bytes", "ratio", "SQNR vs float (dB)",
                                     "top-1 agree float", "top-1 agree published", "AD score", "inputs"], rows))
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--calib", type=int, default=300, help="calibration samples")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    ap.add_argument("--skip-mlperf", action="store_true")
    args = ap.parse_args()
    import tempfile

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        digits_rows = digits_part(args.epochs, args.calib, Path(tmp))
    mlperf_rows = []
    md_dir = shared_models_dir()
    if not args.skip_mlperf and (md_dir / "vww_96_float.tflite").is_file():
        mlperf_rows = mlperf_part(md_dir, min(args.calib, 200))
    text = render(digits_rows, mlperf_rows, args)
    (args.out / "quantization.md").write_text(text + "\n")

    def clean(v):
        return None if isinstance(v, float) and not np.isfinite(v) else v

    (args.out / "quantization.json").write_text(json.dumps(
        {"digits": [{k: clean(v) for k, v in r.items()} for r in digits_rows],
         "mlperf": [{k: clean(v) for k, v in r.items()} for r in mlperf_rows]}, indent=1) + "\n")
    print(text)
    wide_int8 = [r for r in digits_rows if r["model"] == "digits wide" and r["mode"] == "int8"]
    worst = max(r["drop_pp"] for r in digits_rows if r["mode"] == "int8")
    print(f"\ntargets: wide int8/float size ratio {max(r['ratio'] for r in wide_int8):.3f} (<= 0.27), "
          f"worst int8 accuracy drop {worst:+.2f} pp (<= 0.5)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
