"""Plots people can read: every PNG edgeq writes (bench, bench --local, evaluate, the QAT report) shows numbers in
full with thousands separators, never matplotlib's offset notation ("+1.568e5"), a unit on every value axis, and
accuracy from 0 %. The figures are drawn and inspected before they are saved."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("matplotlib", reason="plots need matplotlib (pip install 'edgeq[plot]')")


@pytest.fixture
def figures(monkeypatch):
    """Every figure edgeq would save, drawn, instead of writing it."""
    import edgeq._plot as plot

    caught = []

    def keep(fig, path, **kw):
        fig.canvas.draw()
        caught.append(fig)
        return path

    monkeypatch.setattr(plot, "save_png", keep)
    return caught


def _check(fig) -> list[str]:
    labels = []
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            assert axis.get_offset_text().get_text() == "", f"offset notation on {axis.get_label_text()!r}"
            for t in axis.get_ticklabels():
                assert "e+" not in t.get_text() and "e-" not in t.get_text(), t.get_text()
        labels += [ax.get_xlabel(), ax.get_ylabel()]
    return labels


def _device_report(values, unit="instructions"):
    return {"protocol": "edgeq", "board": "qemu-m4", "device": {"model": "m", "backend": "portable"},
            "latency": {"unit": unit, "p50": float(np.median(values)), "p99": float(np.percentile(values, 99))},
            "samples": [{"latency": v} for v in values]}


@pytest.mark.parametrize("values", [[156880] * 20, list(np.arange(1_568_000, 1_569_500, 75))],
                         ids=["constant (QEMU -icount)", "spread"])
def test_device_bench_plot(figures, values):
    from edgeq.bench.report import write_plot

    write_plot(_device_report(values), "unused.png")
    (fig,) = figures
    labels = _check(fig)
    assert "latency (instructions per inference)" in labels and "runs" in labels
    ticks = [t.get_text() for ax in fig.axes for t in ax.get_xticklabels() + ax.get_yticklabels()]
    assert any("," in t for t in ticks), ticks  # thousands separators
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    if len(set(values)) == 1:
        assert f"all 20 runs: {values[0]:,}" in texts


def test_local_bench_plot(figures, shared_models):
    from edgeq.runtime.loader import available_runtimes

    if not available_runtimes():
        pytest.skip("no TFLite runtime (pip install 'edgeq[pi]')")
    from edgeq.bench import local

    rep = local([shared_models / "kws_ref_model.tflite", shared_models / "ad01_int8.tflite"], runs=10, warmup=1)
    rep.plot("unused.png")
    labels = _check(figures[0])
    assert all("(us" in ln for ln in labels if "latency" in ln) and any("latency" in ln for ln in labels)


def test_accuracy_axis_starts_at_zero(figures):
    from edgeq._plot import accuracy_bars, pyplot, save_png

    plt = pyplot()
    fig, ax = plt.subplots()
    accuracy_bars(ax, ["float32", "int8"], [99.6, 99.8])
    save_png(fig, "unused.png")
    assert ax.get_ylim()[0] == 0 and ax.get_ylim()[1] >= 100
    assert ax.get_ylabel() == "accuracy (%)"
    assert [t.get_text() for t in ax.texts] == ["99.60 %", "99.80 %"]
