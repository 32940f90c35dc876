"""The pictures: every plot writes a real, non-empty PNG or GIF, headless, with labelled axes and
dots sized for their number; the image grid puts each image where it belongs; the computation
graph is a picture with Graphviz and DOT text with the command that draws it without."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_demos_common import readable_figures  # noqa: F401  (autouse: every saved figure is checked)

from tinygen import backend as B
from tinygen import tensor
from tinygen.data import gaussian_mixture_1d, load_digits, ring_of_gaussians
from tinygen.viz import (animate, density_1d, image_mosaic, loss_curves, marker_size, render_graph, sample_grid,
                         scatter_2d)

np = B.np

PNG = b"\x89PNG\r\n\x1a\n"


def _is_png(path: Path) -> bool:
    return path.exists() and path.stat().st_size > 1000 and path.read_bytes()[:8] == PNG


def _png_size(path: Path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as image:
        return image.size


def test_sample_grid_writes_a_png(tmp_path: Path) -> None:
    x, _ = load_digits("test")
    assert _is_png(sample_grid(x[:20], tmp_path / "grid.png", nrow=5, title="digits"))
    assert _is_png(sample_grid(np.random.default_rng(0).random((6, 3, 8, 8)), tmp_path / "rgb.png"))


def test_image_grids_accept_nchw_nhw_flat_square_and_tensor_images_alike() -> None:
    x, _ = load_digits("test")
    expected = image_mosaic(x[:20], nrow=5)
    for images in (x[:20, 0], x[:20].reshape(20, 64), tensor(x[:20])):
        assert np.array_equal(image_mosaic(images, nrow=5), expected)


def test_sample_grid_creates_missing_folders_and_refuses_odd_shapes(tmp_path: Path) -> None:
    path = sample_grid(np.zeros((4, 1, 8, 8)), tmp_path / "a" / "b" / "grid.png")
    assert _is_png(path)
    with pytest.raises(ValueError, match="sample_grid.*C = 1 or 3"):
        sample_grid(np.zeros((4, 2, 8, 8)), tmp_path / "bad.png")
    with pytest.raises(ValueError, match="not square"):
        sample_grid(np.zeros((4, 10)), tmp_path / "bad.png")


def test_image_mosaic_places_image_i_at_row_i_div_nrow_column_i_mod_nrow() -> None:
    images = np.stack([np.full((1, 2, 3), i / 10) for i in range(5)])  # image i is filled with i/10
    mosaic = image_mosaic(images, nrow=2, padding=1)
    assert mosaic.shape == (3 * 3 + 1, 2 * 4 + 1, 3)  # 3 rows of height 2, 2 columns of width 3
    for i in range(5):
        r, c = divmod(i, 2)
        block = mosaic[1 + 3 * r:1 + 3 * r + 2, 1 + 4 * c:1 + 4 * c + 3]
        assert np.allclose(block, i / 10)
    assert np.allclose(mosaic[0], 0.5)  # the grey separator


def test_image_mosaic_maps_the_value_range_and_clips() -> None:
    images = np.array([[[[-1.0, 0.0, 1.0, 3.0]]]])
    assert np.allclose(image_mosaic(images, value_range=(-1.0, 1.0), padding=0)[0, :, 0], [0.0, 0.5, 1.0, 1.0])


def test_scatter_2d_with_and_without_real_data(tmp_path: Path) -> None:
    real, fake = ring_of_gaussians(500, seed=0), 1.2 * ring_of_gaussians(500, seed=1)
    alone = scatter_2d(fake, tmp_path / "alone.png", title="samples")
    beside = scatter_2d(fake, tmp_path / "beside.png", real=real)
    assert _is_png(alone) and _is_png(beside)
    assert _png_size(beside)[0] > 1.5 * _png_size(alone)[0]  # two panels side by side
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        scatter_2d(np.zeros((5, 3)), tmp_path / "bad.png")


def test_scatter_2d_survives_a_few_wild_samples(tmp_path: Path) -> None:
    fake = ring_of_gaussians(500, seed=1)
    fake[0] = [1e6, -1e6]
    fake[1] = [np.nan, 0.0]
    assert _is_png(scatter_2d(fake, tmp_path / "wild.png", real=ring_of_gaussians(500)))


def test_density_1d_writes_a_png(tmp_path: Path) -> None:
    path = density_1d(gaussian_mixture_1d(1000, seed=1), tmp_path / "d.png", real=gaussian_mixture_1d(1000))
    assert _is_png(path)


def test_loss_curves_from_a_dict_and_from_log_records(tmp_path: Path) -> None:
    steps = 300
    log = {"loss_d": list(np.linspace(1.4, 0.6, steps)), "loss_g": list(np.linspace(0.7, 2.0, steps))}
    records = [{"step": 10 * i, "loss": 1.0 / (i + 1), "note": "text is skipped"} for i in range(30)]
    assert _is_png(loss_curves(log, tmp_path / "dict.png"))
    assert _is_png(loss_curves(records, tmp_path / "records.png", title="vae"))
    with pytest.raises(ValueError, match="no numeric values"):
        loss_curves([{"step": 1}], tmp_path / "empty.png")


@pytest.mark.parametrize("kind", ["images", "points"])
def test_animate_writes_a_gif_with_one_frame_per_entry(tmp_path: Path, kind: str) -> None:
    from PIL import Image

    if kind == "images":
        x, _ = load_digits("test")
        frames = [x[:16] * s for s in (0.25, 0.5, 1.0)]
        real = None
    else:
        real = ring_of_gaussians(300)
        frames = [s * ring_of_gaussians(300, seed=1) for s in (0.2, 0.6, 1.0)]
    path = animate(frames, tmp_path / f"{kind}.gif", fps=5, real=real)
    assert path.read_bytes()[:6] in (b"GIF87a", b"GIF89a")
    with Image.open(path) as gif:
        assert gif.n_frames == 3


def test_animate_refuses_mixed_frames(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="mix"):
        animate([np.zeros((4, 2)), np.zeros((4, 1, 8, 8))], tmp_path / "mixed.gif")


def test_plots_never_load_pyplot_or_need_a_display(tmp_path: Path) -> None:
    code = ("import sys; from tinygen.viz import sample_grid, animate; from tinygen.backend import np; "
            f"sample_grid(np.zeros((4, 1, 8, 8)), {str(tmp_path / 'g.png')!r}); "
            f"animate([np.zeros((4, 2)), np.ones((4, 2))], {str(tmp_path / 'a.gif')!r}); "
            "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot was imported'")
    env = {"PATH": "/usr/bin:/bin", "MPLBACKEND": "TkAgg", "HOME": str(tmp_path)}  # no DISPLAY
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert _is_png(tmp_path / "g.png") and (tmp_path / "a.gif").stat().st_size > 0


# ------------------------------------------------------------------------------ dot sizes
def test_marker_size_shrinks_with_the_number_of_points_within_readable_bounds() -> None:
    # s = 150 / sqrt(n), between 2 and matplotlib's default 36
    assert marker_size(1) == 36.0 and marker_size(10) == 36.0
    assert marker_size(100) == pytest.approx(15.0) and marker_size(2500) == pytest.approx(3.0)
    assert marker_size(10**6) == 2.0
    sizes = [marker_size(n) for n in (20, 100, 1000, 2500, 5000)]
    assert sizes == sorted(sizes, reverse=True) and len(set(sizes)) == len(sizes)
    with pytest.raises(ValueError, match="marker_size: n must be a positive number of points, got 0"):
        marker_size(0)


def test_scatter_2d_sizes_each_panels_dots_by_its_own_count(tmp_path: Path, monkeypatch) -> None:
    from matplotlib.figure import Figure

    drawn = []
    real_savefig = Figure.savefig
    monkeypatch.setattr(Figure, "savefig", lambda fig, *a, **k: (drawn.append(fig), real_savefig(fig, *a, **k))[1])
    scatter_2d(ring_of_gaussians(300, seed=1), tmp_path / "s.png", real=ring_of_gaussians(2500),
               axis_labels=("u", "v"))
    (fig,) = drawn
    real_panel, samples_panel = fig.axes
    assert real_panel.collections[0].get_sizes()[0] == pytest.approx(marker_size(2500))
    assert samples_panel.collections[0].get_sizes()[0] == pytest.approx(marker_size(300))
    assert (samples_panel.get_xlabel(), samples_panel.get_ylabel()) == ("u", "v")


# -------------------------------------------------------------------- the computation graph
def _small_graph():
    x = tensor([1.0, 2.0], requires_grad=True)
    return (x * 3.0).sum()


def test_without_graphviz_render_graph_saves_dot_text_and_prints_how_to_draw_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(shutil, "which", lambda name, *args, **kwargs: None)  # as on a machine without it
    written = render_graph(_small_graph(), tmp_path / "graph.png")
    assert written == tmp_path / "graph.dot" and written.read_text().startswith("digraph")
    assert not (tmp_path / "graph.png").exists()
    out = capsys.readouterr().out
    assert f"dot -Tpng {tmp_path / 'graph.dot'} -o {tmp_path / 'graph.png'}" in out
    assert render_graph(_small_graph(), tmp_path / "asked.dot") == tmp_path / "asked.dot"  # asked for text
    assert capsys.readouterr().out == ""


def test_with_graphviz_render_graph_pipes_the_dot_text_to_dot_for_the_format_asked(tmp_path, monkeypatch, capsys):
    # a stand-in ``dot`` on the PATH: checks it is given DOT text and writes the format it was asked for
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "dot"
    fake.write_text(f"#!{sys.executable}\n"
                    "import sys\n"
                    "assert sys.stdin.read().startswith('digraph')\n"
                    "args = sys.argv[1:]\n"
                    "open(args[args.index('-o') + 1], 'wb').write(b'\\x89PNG\\r\\n\\x1a\\n' + args[0].encode())\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    assert render_graph(_small_graph(), tmp_path / "graph.png").read_bytes() == PNG + b"-Tpng"
    assert render_graph(_small_graph(), tmp_path / "graph.svg").read_bytes() == PNG + b"-Tsvg"
    assert render_graph(_small_graph(), tmp_path / "bare") == tmp_path / "bare.png"
    assert capsys.readouterr().out == "" and not (tmp_path / "graph.dot").exists()


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz (dot) is not installed")
def test_render_graph_with_the_real_graphviz_writes_a_png(tmp_path):
    assert _is_png(render_graph(_small_graph(), tmp_path / "graph.png"))
