"""Reports of a device benchmark: the text summary, per-run CSV, a PNG (histogram + timeline, matplotlib Agg), and
``compare`` (the ratio table of two saved JSON reports). Every file is written atomically."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from edgeq._fs import atomic_write_text
from edgeq.bench.stats import STAT_KEYS
from edgeq.errors import EdgeqError


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.1f}" if abs(v) >= 100 else f"{v:.3g}"
    return str(v)


def summary_text(rep: dict) -> str:
    lat = rep["latency"]
    unit = lat["unit"]
    dev = rep.get("device") or {}
    wins = (rep.get("mlperf") or {}).get("windows") or []
    if rep["protocol"] == "mlperf":  # the statistics are over the windows' mean latencies, not single inferences
        runs = (f"{len(wins)} windows of {wins[0]['iterations'] if wins else '?'} timed inferences "
                f"({rep['runs']} in all; the table is over the {lat.get('n', len(wins))} window means)")
    else:
        runs = f"{rep['runs']} timed runs"
    head = (f"# {rep['protocol']} bench on {rep.get('board') or rep.get('port')}: model {dev.get('model', '?')} "
            f"({dev.get('backend', '?')}, {dev.get('runtime', '?')}), {runs}, timer unit {unit}")
    lines = [head, "", "| statistic | " + " | ".join(STAT_KEYS) + " |", "|---" * (len(STAT_KEYS) + 1) + "|"]
    what = "window-mean latency" if rep["protocol"] == "mlperf" else "latency"
    lines.append(f"| {what} ({unit}) | " + " | ".join(_fmt(lat.get(k)) for k in STAT_KEYS) + " |")
    if rep.get("latency_us"):
        lines.append(f"| {what} (us) | " + " | ".join(_fmt(rep["latency_us"].get(k)) for k in STAT_KEYS) + " |")
    if rep.get("host_roundtrip_ms"):
        rt = rep["host_roundtrip_ms"]
        lines.append("| host round-trip (ms) | " + " | ".join(_fmt(rt.get(k)) for k in STAT_KEYS) + " |")
    lines.append("")
    tp = rep.get("throughput")
    if tp:
        lines.append(f"throughput: {_fmt(tp['value'])} {tp['unit']}")
    if unit == "instructions":
        lines.append("timing counts emulated instructions (QEMU -icount), not real time")
    if rep.get("mlperf", {}).get("median_throughput"):
        m = rep["mlperf"]
        lines.append(f"MLPerf: median of {len(m['windows'])} windows {m['median_throughput']} inferences per "
                     f"{'1e6 virtual us' if unit == 'instructions' else 's'}; latency {m['latency_us']} "
                     f"{'virtual ' if unit == 'instructions' else ''}us (infer {m['iterations']} {m['warmup']})")
    if rep.get("verify"):
        lines.append(f"verified against {rep['reference']}: {rep['verified']} ok, {rep['mismatches']} mismatches")
    elif rep.get("verify_note"):
        lines.append(f"not verified: {rep['verify_note']}")
    lines.append(f"retries: {rep['retries']} (resets {rep['resets']})"
                 + (f" {rep['retry_reasons']}" if rep["retry_reasons"] else ""))
    if rep.get("accuracy"):
        lines += ["", accuracy_text(rep["accuracy"])]
    up = rep.get("upload") or {}
    if up.get("efficiency"):
        lines.append(f"upload: {up['payload_bytes']} payload bytes in {up['wire_bytes']} wire bytes "
                     f"(efficiency {up['efficiency']})")
    return "\n".join(lines)


def accuracy_text(acc: dict) -> str:
    """Markdown: on-device accuracy next to the reference's, and the device's confusion matrix."""
    from edgeq._fmt import markdown_table

    def pct(d):
        return "-" if d.get("accuracy") is None else f"{100 * d['accuracy']:.2f} % ({d['correct']:,}/{d['samples']:,})"

    dev, ref = acc["device"], acc.get("reference")
    rows = [["device", pct(dev)]]
    if ref:
        rows.append([f"reference ({ref['engine']})", pct(ref)])
    text = "## Accuracy on the device\n\n" + markdown_table(["", "accuracy"], rows)
    if ref:
        text += f"\n\nsame top-1 prediction as the reference: {acc['same_predictions']:,} of {acc['labels']:,} inputs"
    if acc.get("note"):
        text += f"\n\nnote: {acc['note']}"
    m = dev["confusion_matrix"]
    text += "\n\nConfusion matrix on the device (rows: true class, columns: predicted class):\n\n"
    text += markdown_table(["true \\ predicted", *[str(c) for c in range(len(m))]],
                           [[c, *row] for c, row in enumerate(m)])
    return text


def samples_csv(rep: dict) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    unit = rep["latency"]["unit"]
    if rep["protocol"] == "mlperf":
        w.writerow(["window", "input", "iterations", "elapsed_us", "latency_us", "throughput", "verified"])
        for win in (rep.get("mlperf") or {}).get("windows", []):
            w.writerow([win["window"], win["input"], win["iterations"], win["elapsed_us"], win["latency_us"],
                        win["throughput"], win["verified"]])
    else:
        w.writerow(["run", "input", "ticks", f"latency_{unit}", "roundtrip_ms"])
        for s in rep.get("samples", []):
            w.writerow([s["run"], s["input"], s["ticks"], s["latency"], s["roundtrip_ms"]])
    return buf.getvalue()


def write_csv(rep: dict, path: str | Path) -> Path:
    return atomic_write_text(path, samples_csv(rep))


def write_plot(rep: dict, path: str | Path) -> Path:
    """Histogram and timeline of the per-run latencies (PNG, matplotlib's Agg backend, written atomically).

    Numbers are written in full (``156,880``, never matplotlib's ``+1.568e5`` offset); both axes carry units; when
    every run took the same count (QEMU ``-icount`` is deterministic) the plot says so instead of drawing a
    one-bin histogram around an offset."""
    from edgeq._plot import plain_axis, pyplot, save_png

    plt = pyplot("--plot")
    unit = rep["latency"]["unit"]
    if rep["protocol"] == "mlperf":
        values = [w["latency_us"] * (1000 if unit == "instructions" else 1)
                  for w in (rep.get("mlperf") or {}).get("windows", [])]
        xlabel = "window"
    else:
        values = [s["latency"] for s in rep.get("samples", [])]
        xlabel = "timed run"
    per = {"instructions": "instructions per inference", "cycles": "cycles per inference",
           "us": "us per inference"}.get(unit, f"{unit} per inference")
    acc = rep.get("accuracy")
    if acc:
        fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(16, 4.4), gridspec_kw={"width_ratios": [1, 1, 0.9]})
        import numpy as np

        from edgeq._plot import confusion_heatmap

        d = acc["device"]
        ref = acc.get("reference")
        title = f"device: accuracy {100 * (d['accuracy'] or 0):.2f} %"
        if ref:
            title += f" ({ref['engine']} {100 * (ref['accuracy'] or 0):.2f} %)"
        confusion_heatmap(fig, ax3, np.array(d["confusion_matrix"]), title + "\nconfusion matrix (samples)")
    else:
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    dev = rep.get("device") or {}
    where = rep.get("board") or rep.get("port")
    emulated = " (emulated: QEMU -icount counts instructions, not time)" if unit == "instructions" else ""
    fig.suptitle(f"{dev.get('model', '')} on {where} ({dev.get('backend', '')}, {rep['protocol']} protocol, "
                 f"{len(values):,} runs){emulated}", fontsize=10)
    same = bool(values) and min(values) == max(values)
    if values:
        lo, hi = min(values), max(values)
        if same:
            pad = max(1.0, 0.02 * abs(lo))
            ax1.bar([lo], [len(values)], width=pad / 4, color="#4477aa")
            ax1.set_xlim(lo - pad, lo + pad)
            ax1.text(lo, len(values), f"all {len(values):,} runs: {lo:,.0f}", ha="center", va="bottom", fontsize=9)
            ax1.set_ylim(0, len(values) * 1.15)
        else:
            ax1.hist(values, bins=min(50, max(5, len(values) // 4)), color="#4477aa")
            for key, style in (("p50", "-"), ("p99", "--")):
                v = rep["latency"].get(key)
                if v is not None:
                    ax1.axvline(v, color="#cc3311", linestyle=style, label=f"{key} {v:,.0f}")
            ax1.legend(fontsize=8)
        ax2.plot(range(len(values)), values, ".", markersize=4, color="#4477aa")
        ax2.set_ylim(0, hi * 1.1 if hi > 0 else 1)  # from 0: a 0.1 % jitter is not drawn as a cliff
    ax1.set_xlabel(f"latency ({per})")
    ax1.set_ylabel("runs")
    ax1.set_title("distribution", fontsize=9)
    ax2.set_xlabel(f"{xlabel} (index)")
    ax2.set_ylabel(f"latency ({per})")
    ax2.set_title("every run in order", fontsize=9)
    from matplotlib.ticker import MaxNLocator

    ax1.xaxis.set_major_locator(MaxNLocator(5))  # seven-digit counts need room
    plain_axis(ax1.xaxis)
    plain_axis(ax1.yaxis, decimals=0)
    plain_axis(ax2.xaxis, decimals=0)
    plain_axis(ax2.yaxis)
    return save_png(fig, path, dpi=100)


# -------------------------------------------------------------------------------------------------------- compare
def load_report(path: str | Path) -> dict:
    p = Path(path)
    if not p.is_file():
        raise EdgeqError("no such report", where=str(p))
    from edgeq._fs import MAX_TEXT_BYTES, read_input_bytes

    try:
        rep = json.loads(read_input_bytes(p, what="JSON report", max_bytes=MAX_TEXT_BYTES))
    except (ValueError, UnicodeDecodeError) as exc:
        raise EdgeqError(f"not a JSON report: {exc}", where=str(p)) from None
    if not isinstance(rep, dict) or not isinstance(rep.get("latency"), dict):
        raise EdgeqError("not an edgeq bench report (no 'latency')", where=str(p),
                         hint="give files written by edgeq bench --json or -o")
    return rep


def _label(rep: dict, path: str) -> str:
    dev = rep.get("device") or {}
    parts = [dev.get("model"), dev.get("backend"), rep.get("board")]
    return " ".join(str(p) for p in parts if p) or Path(path).name


def compare(a_path: str, b_path: str) -> dict:
    """Ratios B/A of every latency statistic (both reports must count in the same unit, or both convert to us)."""
    a, b = load_report(a_path), load_report(b_path)
    la, lb = a["latency"], b["latency"]
    if la.get("unit") != lb.get("unit"):
        if a.get("latency_us") and b.get("latency_us"):
            la, lb = a["latency_us"], b["latency_us"]
        elif la.get("unit") == "us" and b.get("latency_us"):
            lb = b["latency_us"]
        elif lb.get("unit") == "us" and a.get("latency_us"):
            la = a["latency_us"]
        else:
            raise EdgeqError(f"the reports count in different units ({la.get('unit')} vs {lb.get('unit')})",
                             hint="compare runs of the same board (instructions on QEMU, cycles/us on hardware)")
    rows = []
    for k in STAT_KEYS:
        va, vb = la.get(k), lb.get(k)
        ratio = (vb / va) if (va and vb is not None) else None
        rows.append({"statistic": k, "a": va, "b": vb, "ratio": None if ratio is None else round(ratio, 4)})
    speedup = (la["p50"] / lb["p50"]) if la.get("p50") and lb.get("p50") else None
    return {"a": {"path": a_path, "label": _label(a, a_path)}, "b": {"path": b_path, "label": _label(b, b_path)},
            "unit": la.get("unit"), "rows": rows, "speedup_p50": None if speedup is None else round(speedup, 4),
            "warnings": _compare_warnings(a, b)}


def _compare_warnings(a: dict, b: dict) -> list[str]:
    w = []
    for rep, name in ((a, "A"), (b, "B")):
        if not rep.get("complete", True):
            w.append(f"{name} is a partial run")
        if rep.get("mismatches"):
            w.append(f"{name} had {rep['mismatches']} output mismatches")
    if (a.get("device") or {}).get("board") != (b.get("device") or {}).get("board"):
        w.append("different boards")
    return w


def compare_text(cmp: dict) -> str:
    lines = [f"# A = {cmp['a']['label']} ({cmp['a']['path']})", f"# B = {cmp['b']['label']} ({cmp['b']['path']})", "",
             f"| statistic | A ({cmp['unit']}) | B ({cmp['unit']}) | B/A |", "|---|---|---|---|"]
    for r in cmp["rows"]:
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.3f}"
        lines.append(f"| {r['statistic']} | {_fmt(r['a'])} | {_fmt(r['b'])} | {ratio} |")
    sp = cmp["speedup_p50"]
    if sp:
        lines += ["", f"B is {sp:.2f}x faster than A (p50)" if sp >= 1 else f"B is {1 / sp:.2f}x slower than A (p50)"]
    for w in cmp["warnings"]:
        lines.append(f"warning: {w}")
    return "\n".join(lines)
