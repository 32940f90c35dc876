"""Pictures of samples and training: image grids, 2-D scatter plots and 1-D densities beside the
real data, loss curves, and animated GIFs of samples over training.

Everything draws on a bare ``matplotlib.figure.Figure`` with the Agg canvas, never through pyplot:
no window is opened, no global backend is switched, and nothing needs a display, so the same code
runs on a laptop, a GPU server and CI. Each function writes one file and returns its path.
matplotlib is imported on first use, so ``import tinygen`` stays quick.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from .. import backend as B
from ..autograd import Tensor

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PathLike = str | os.PathLike[str]


def _figure(width: float, height: float) -> Figure:
    # imported here, not at the top: ``import tinygen`` should not pay for matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)  # attaches itself as fig.canvas: rendering to files, no display
    return fig


def _save(fig: Figure, path: PathLike, dpi: int = 100) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    return path


def _host(array: Any, name: str) -> Any:
    a = B.np.asarray(B.to_host(array.data if isinstance(array, Tensor) else array), dtype=B.float64)
    if a.size == 0:
        raise ValueError(f"{name}: got an empty array (shape {a.shape})")
    return a


# ----------------------------------------------------------------------------------- images
def _as_nchw(images: Any, where: str) -> Any:
    """(n, C, H, W) from (n, C, H, W), (n, H, W), or (n, D) with D a perfect square (one channel)."""
    x = _host(images, where)
    if x.ndim == 2:
        side = math.isqrt(x.shape[1])
        if side * side != x.shape[1]:
            raise ValueError(f"{where}: flattened images of {x.shape[1]} values are not square; pass "
                             f"(n, C, H, W) or (n, H, W)")
        x = x.reshape(len(x), 1, side, side)
    elif x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"{where}: expected images (n, C, H, W) with C = 1 or 3, or (n, H, W); got shape {x.shape}")
    return x


def image_mosaic(images: Any, nrow: int | None = None, value_range: tuple[float, float] = (0.0, 1.0),
                 padding: int = 1, where: str = "image_mosaic") -> Any:
    """One (H', W', 3) picture of the images laid out ``nrow`` per row (as torchvision's make_grid),
    values mapped from ``value_range`` to [0, 1] and clipped, separated by grey lines."""
    x = _as_nchw(images, where)
    n, c, h, w = x.shape
    per_row = nrow or math.ceil(math.sqrt(n))
    rows = math.ceil(n / per_row)
    low, high = value_range
    x = B.np.clip((x - low) / (high - low), 0.0, 1.0)
    x = B.np.repeat(x, 3, axis=1) if c == 1 else x  # (n, 3, h, w)
    canvas = B.np.full((rows * (h + padding) + padding, per_row * (w + padding) + padding, 3), 0.5)
    for i in range(n):
        r, col = divmod(i, per_row)
        top, left = padding + r * (h + padding), padding + col * (w + padding)
        canvas[top:top + h, left:left + w] = x[i].transpose(1, 2, 0)
    return canvas


def sample_grid(images: Any, path: PathLike, nrow: int | None = None, title: str | None = None,
                value_range: tuple[float, float] = (0.0, 1.0)) -> Path:
    """A grid of images (n, C, H, W) or (n, H, W), ``nrow`` per row, saved as a picture (PNG).

    Values in ``value_range`` (the data's [0, 1] by default; pass (-1, 1) for tanh outputs) map to
    black..white; values outside are clipped.
    """
    mosaic = image_mosaic(images, nrow, value_range, where="sample_grid")
    scale = 6.0 / max(mosaic.shape[:2])  # the longer side about 6 inches
    fig = _figure(max(mosaic.shape[1] * scale, 2.0), max(mosaic.shape[0] * scale, 2.0) + (0.4 if title else 0))
    ax = fig.add_subplot()
    ax.imshow(mosaic, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return _save(fig, path)


# ------------------------------------------------------------------------------- 2-D points
def _points(samples: Any, where: str) -> Any:
    x = _host(samples, where)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"{where}: expected points of shape (n, 2), got {x.shape}")
    return x


def _limits(*point_sets: Any) -> tuple[tuple[float, float], tuple[float, float]]:
    """Axis limits holding the 1st..99th percentile of every set, with a margin: a few wild
    samples of a diverging generator must not shrink the picture of the rest to a dot."""
    stacked = B.np.concatenate([p[B.np.isfinite(p).all(axis=1)] for p in point_sets])
    if len(stacked) == 0:
        return (-1.0, 1.0), (-1.0, 1.0)
    low, high = B.np.percentile(stacked, 1, axis=0), B.np.percentile(stacked, 99, axis=0)
    margin = 0.15 * B.np.maximum(high - low, 1e-3)
    return (low[0] - margin[0], high[0] + margin[0]), (low[1] - margin[1], high[1] + margin[1])


def marker_size(n: int) -> float:
    """The area (points^2, matplotlib's ``s``) of one dot when ``n`` dots share a panel.

    s = 150 / sqrt(n), kept within [2, 36]: a few dots are drawn at matplotlib's default size
    (36), and as their number grows each gets smaller, more slowly than 1/n, so that a dense
    cloud still reads as a density and a sparse one still shows every point: about 5 for 1,000
    points, 3 for 2,500, 2 from 5,600 on.
    """
    if isinstance(n, bool) or not isinstance(n, (int, B.np.integer)) or n < 1:
        raise ValueError(f"marker_size: n must be a positive number of points, got {n!r}")
    return float(min(36.0, max(2.0, 150.0 / math.sqrt(n))))


def _scatter(ax: Any, points: Any, limits: tuple[Any, Any], title: str, color: str,
             axis_labels: tuple[str, str] = ("$x_1$", "$x_2$")) -> None:
    ax.scatter(points[:, 0], points[:, 1], s=marker_size(len(points)), alpha=0.5, color=color, linewidths=0)
    ax.set_xlim(*limits[0])
    ax.set_ylim(*limits[1])
    ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel(axis_labels[0])
    ax.set_ylabel(axis_labels[1])
    ax.set_title(title)


def scatter_2d(samples: Any, path: PathLike, real: Any = None, title: str | None = None,
               axis_labels: tuple[str, str] = ("$x_1$", "$x_2$")) -> Path:
    """2-D samples (n, 2) as a scatter plot; with ``real`` given, the real data in a panel beside
    them on the same axes. ``axis_labels`` name the two coordinates ($x_1$ and $x_2$ by default)."""
    x = _points(samples, "scatter_2d")
    sets = [x] if real is None else [_points(real, "scatter_2d (real)"), x]
    limits = _limits(*sets)
    fig = _figure(5.0 * len(sets), 5.0)
    if real is not None:
        _scatter(fig.add_subplot(1, 2, 1), sets[0], limits, "real data", "tab:blue", axis_labels)
    _scatter(fig.add_subplot(1, len(sets), len(sets)), x, limits, "samples", "tab:orange", axis_labels)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def density_1d(samples: Any, path: PathLike, real: Any = None, title: str | None = None) -> Path:
    """Histogram densities of 1-D samples (n,) or (n, 1), over the real data's when given."""
    x = _host(samples, "density_1d").reshape(-1)
    sets = [x] if real is None else [x, _host(real, "density_1d (real)").reshape(-1)]
    finite = B.np.concatenate([s[B.np.isfinite(s)] for s in sets])
    low, high = (B.np.percentile(finite, [0.5, 99.5]) if len(finite) else (-1.0, 1.0))
    bins = B.np.linspace(low - 0.05 * (high - low) - 1e-3, high + 0.05 * (high - low) + 1e-3, 81)
    fig = _figure(6.0, 4.0)
    ax = fig.add_subplot()
    if real is not None:
        ax.hist(sets[1], bins=bins, density=True, alpha=0.5, color="tab:blue", label="real data")
    ax.hist(x, bins=bins, density=True, alpha=0.5, color="tab:orange", label="samples")
    ax.set_xlabel("x")
    ax.set_ylabel("density")
    ax.legend()
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return _save(fig, path)


# ------------------------------------------------------------------------------ loss curves
_NOT_LOSSES = ("step", "epoch", "time", "elapsed")


def _series(log: Mapping[str, Sequence[float]] | Sequence[Mapping[str, Any]]) -> dict[str, tuple[Any, Any]]:
    """{name: (x, y)} from either {name: [values]} or a list of records {"step": s, name: value}."""
    if isinstance(log, Mapping):
        return {k: (B.np.arange(1, len(v) + 1), B.np.asarray(v, dtype=B.float64)) for k, v in log.items()
                if k not in _NOT_LOSSES and len(v)}
    if not isinstance(log, Sequence) or not all(isinstance(r, Mapping) for r in log):
        raise TypeError(f"loss_curves: log must be a dict of lists or a list of dicts, got {type(log).__name__}")
    names = [k for k in dict.fromkeys(k for r in log for k in r) if k not in _NOT_LOSSES]
    series = {}
    for name in names:
        pairs = [(r.get("step", i + 1), r[name]) for i, r in enumerate(log)
                 if isinstance(r.get(name), (int, float)) and not isinstance(r.get(name), bool)]
        if pairs:
            steps, values = zip(*pairs)
            series[name] = (B.np.asarray(steps, dtype=B.float64), B.np.asarray(values, dtype=B.float64))
    return series


def _moving_average(y: Any, window: int) -> Any:
    kernel = B.np.ones(window) / window
    return B.np.convolve(y, kernel, mode="valid")


def loss_curves(log: Mapping[str, Sequence[float]] | Sequence[Mapping[str, Any]], path: PathLike,
                title: str | None = None) -> Path:
    """Each loss against the step. ``log`` is {name: [value per step]} or the loss log's records
    [{"step": 1, "loss_d": ..., "loss_g": ...}, ...]. Long noisy curves get a moving average drawn
    over the raw values."""
    series = _series(log)
    if not series:
        raise ValueError("loss_curves: the log holds no numeric values to plot")
    fig = _figure(7.0, 4.0)
    ax = fig.add_subplot()
    for i, (name, (x, y)) in enumerate(series.items()):
        color = f"C{i % 10}"
        window = len(y) // 50
        if window >= 2:
            ax.plot(x, y, color=color, alpha=0.25, linewidth=0.8)
            ax.plot(x[window - 1:], _moving_average(y, window), color=color, label=f"{name} (mean of {window})")
        else:
            ax.plot(x, y, color=color, label=name)
    ax.set_xlabel("step")
    ax.set_ylabel(next(iter(series)) if len(series) == 1 else "value (see the legend)")
    ax.legend()
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return _save(fig, path)


# ------------------------------------------------------------------------------- animation
def _is_point_set(frame: Any) -> bool:
    return frame.ndim == 2 and frame.shape[1] == 2


def animate(frames: Sequence[Any], path: PathLike, fps: int = 4, titles: Sequence[str] | None = None,
            real: Any = None, value_range: tuple[float, float] = (0.0, 1.0)) -> Path:
    """An animated GIF, one frame per entry of ``frames``: image batches (n, C, H, W) / (n, H, W)
    drawn as grids, or 2-D point sets (n, 2) drawn as scatter plots on fixed axes (over ``real``
    in grey when given). Written with matplotlib's PillowWriter (Pillow comes with matplotlib)."""
    from matplotlib.animation import PillowWriter

    if len(frames) == 0:
        raise ValueError("animate: got no frames")
    if titles is not None and len(titles) != len(frames):
        raise ValueError(f"animate: {len(titles)} titles for {len(frames)} frames")
    arrays = [_host(f, "animate") for f in frames]
    points = all(_is_point_set(a) for a in arrays)
    if not points and any(_is_point_set(a) for a in arrays):
        raise ValueError("animate: frames mix 2-D point sets and images")
    background = _points(real, "animate (real)") if (points and real is not None) else None
    limits = _limits(*arrays, *([background] if background is not None else [])) if points else None
    fig = _figure(5.0, 5.0)
    ax = fig.add_subplot()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = PillowWriter(fps=fps)
    with writer.saving(fig, str(path), dpi=80):
        for i, frame in enumerate(arrays):
            ax.clear()
            if points:
                if background is not None:
                    ax.scatter(background[:, 0], background[:, 1], s=marker_size(len(background)), color="0.75",
                               linewidths=0)
                _scatter(ax, frame, limits, titles[i] if titles else f"frame {i + 1}", "tab:orange")
            else:
                ax.imshow(image_mosaic(frame, value_range=value_range, where="animate"), interpolation="nearest")
                ax.set_axis_off()
                ax.set_title(titles[i] if titles else f"frame {i + 1}")
            writer.grab_frame()
    return path
