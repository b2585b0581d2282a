"""The few matplotlib conventions every edgeq PNG follows, so plots read the same everywhere.

* numbers in full with thousands separators (``156,880``), never matplotlib's offset/scientific notation
  (``+1.568e5``);
* a unit on every axis label;
* accuracy axes from 0 to 100 % with the values written on the bars, so a 0.2 pp difference is not drawn as a cliff.

matplotlib is imported only when a plot is written (``edgeq[plot]``); a missing matplotlib is a ToolchainError.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

from edgeq.errors import ToolchainError


def pyplot(what: str = "the plot") -> Any:
    """``matplotlib.pyplot`` on the Agg backend (no display needed)."""
    try:
        import matplotlib  # noqa: PLC0415

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ModuleNotFoundError:
        raise ToolchainError(f"{what} needs matplotlib", hint='pip install "edgeq[plot]"') from None
    return plt


def thousands(value: float, decimals: int = 0) -> str:
    """``156880.0`` -> ``156,880``; ``decimals`` digits after the point."""
    return f"{value:,.{decimals}f}"


def plain_axis(axis: Any, *, decimals: int | None = None) -> None:
    """Tick labels in full with thousands separators (no offset, no scientific notation). ``axis`` is
    ``ax.xaxis`` or ``ax.yaxis``; ``decimals`` None picks 0 for whole-number ticks, else enough to tell them apart."""
    import math  # noqa: PLC0415

    from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter  # noqa: PLC0415

    log = axis.get_scale() == "log"
    if decimals == 0 and not log:
        axis.set_major_locator(MaxNLocator(integer=True))  # counts and indices: no 0.5 ticks printed as "0"
    if log:
        axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        axis.set_minor_formatter(NullFormatter())  # 2x10^0, 3x10^0 ... between the decades: unreadable

    def fmt(v: float, _pos: Any) -> str:
        if decimals is not None:
            return thousands(v, decimals)
        if log:
            return thousands(v, max(0, -math.floor(math.log10(v))) if v > 0 else 0)
        ticks = [t for t in axis.get_majorticklocs()]
        step = min((abs(b - a) for a, b in zip(ticks, ticks[1:]) if b != a), default=1.0)
        d = 0 if step >= 1 else min(6, len(f"{step:.6f}".rstrip("0").split(".")[1]))
        return thousands(v, d)

    axis.set_major_formatter(FuncFormatter(fmt))


def accuracy_bars(ax: Any, labels: list[str], accuracies_pct: list[float], colors: list[str] | None = None,
                  notes: list[str] | None = None) -> None:
    """Accuracy bars on a 0-100 % axis with each value written on its bar (plus an optional second line)."""
    xs = range(len(labels))
    ax.bar(xs, accuracies_pct, color=colors)
    ax.set_xticks(list(xs))
    ax.set_xticklabels(labels, fontsize=8)
    ax.set_ylim(0, 112)
    ax.set_yticks([0, 20, 40, 60, 80, 100])
    ax.set_ylabel("accuracy (%)")
    for i, a in enumerate(accuracies_pct):
        text = f"{a:.2f} %" + (f"\n{notes[i]}" if notes and notes[i] else "")
        ax.text(i, a + 1.5, text, ha="center", va="bottom", fontsize=8)


def save_png(fig: Any, path: str | os.PathLike, *, dpi: int = 110) -> Path:
    """Write ``fig`` as a PNG atomically and close it."""
    from edgeq._fs import atomic_write_bytes  # noqa: PLC0415

    plt = pyplot()
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    return atomic_write_bytes(path, buf.getvalue())


def confusion_heatmap(fig: Any, ax: Any, m: Any, title: str) -> None:
    """A confusion matrix (rows: true class, columns: predicted class) as a heat map with the counts written in, and
    a colour bar in samples. Shared by ``edgeq evaluate --plot`` and ``edgeq bench --labels --plot``."""
    im = ax.imshow(m, cmap="Blues")
    n_true, n_pred = m.shape
    ax.set_xticks(range(n_pred))
    ax.set_yticks(range(n_true))
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title, fontsize=9)
    hi = m.max() if m.size else 0
    for i in range(n_true):
        for j in range(n_pred):
            if m[i, j]:
                ax.text(j, i, f"{int(m[i, j]):,}", ha="center", va="center", fontsize=7,
                        color="white" if m[i, j] > hi / 2 else "black")
    cb = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    cb.set_label("samples")
    plain_axis(cb.ax.yaxis, decimals=0)
