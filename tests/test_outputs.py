"""What a run leaves behind reads well: metrics rounded to four significant digits, a loss log
numbered as the console numbers steps, a progress GIF whose frames stay evenly spaced across a
resume, and every file created with the same permissions."""
from __future__ import annotations

import json
import math
import os
import re
import stat
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_demos_common import readable_figures, unreadable_parts  # noqa: F401  (autouse: figures checked)
from test_train_loop import _line_spec as train_loop_line_spec
from test_train_loop import without_tqdm

import tinygen
from tinygen.models.registry import ModelSpec
from tinygen.train import read_log, train
from tinygen.train.log import truncate_log
from tinygen.train.outputs import json_ready, rounded
from tinygen.train.pictures import animate_progress, evenly_spaced, progress_frames


def _line_spec() -> ModelSpec:
    """test_train_loop's one-layer model (every step draws random numbers), never failing."""
    return train_loop_line_spec({})


# ------------------------------------------------------------------------------ metrics
def test_floats_are_rounded_to_four_significant_digits_ints_and_bools_kept() -> None:
    metrics = {"kl": np.float32(0.123456789), "fid": 12345.6789, "tiny": -1.23456789e-7, "zero": 0.0,
               "n_samples": np.int64(2500), "modes": 8, "flag": np.bool_(True), "ok": False,
               "reference": {"hq": 97.654321, "per_mode": np.array([0.333333, 0.25, 1 / 3], np.float64)},
               "pair": (np.float64(2 / 3), 7), "gone": float("inf"), "name": "ring"}
    ready = json_ready(metrics)
    assert ready["kl"] == 0.1235 and ready["fid"] == 12350.0 and ready["tiny"] == -1.235e-07
    assert ready["zero"] == 0.0 and ready["gone"] == math.inf and ready["name"] == "ring"
    assert ready["n_samples"] == 2500 and type(ready["n_samples"]) is int and type(ready["modes"]) is int
    assert ready["flag"] is True and ready["ok"] is False
    assert ready["reference"] == {"hq": 97.65, "per_mode": [0.3333, 0.25, 0.3333]}
    assert ready["pair"] == [0.6667, 7] and type(ready["pair"][1]) is int
    json.dumps(ready)  # plain Python values only


def test_rounding_keeps_significant_digits_not_decimal_places() -> None:
    # round(x, 4) would turn 1.23e-5 into 0.0 and leave 12345.6789 long: both wrong here
    assert rounded(1.2345678e-5) == 1.235e-5 and rounded(12345.6789) == 12350.0
    assert rounded(0.99996) == 1.0 and rounded(-2.71828) == -2.718 and rounded(3.0) == 3.0
    assert math.isnan(rounded(float("nan")))


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A short run with all its outputs, written under the umask 027 (files should be 0640);
    ``run.unreadable`` lists what ``unreadable_parts`` found in the figures it saved."""
    from matplotlib.figure import Figure

    out = tmp_path_factory.mktemp("finished")
    problems: list[str] = []
    real_savefig = Figure.savefig

    def checked_savefig(fig: Any, fname: Any, *args: Any, **kwargs: Any) -> Any:
        problems.extend(unreadable_parts(fig))
        return real_savefig(fig, fname, *args, **kwargs)

    previous = os.umask(0o027)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(Figure, "savefig", checked_savefig)
            run = train(_line_spec(), out=out, steps=8, sample_every=4, progress=False)  # 2 pictures: a GIF
    finally:
        os.umask(previous)
    run.unreadable = problems
    return run


def test_a_runs_pictures_label_their_axes_and_size_their_dots(finished_run) -> None:
    assert finished_run.unreadable == []
    assert {p.name for p in finished_run.out.iterdir()} >= {"samples.png", "losses.png", "progress.gif"}


def test_metrics_json_is_rounded_and_matches_the_run(finished_run) -> None:
    written = json.loads((finished_run.out / "metrics.json").read_text())
    assert written == finished_run.metrics
    floats = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)
        elif isinstance(value, float):
            floats.append(value)

    walk(written)
    assert floats, written
    assert all(rounded(x) == x for x in floats), [x for x in floats if rounded(x) != x]
    assert type(written["n_modes"]) is int and type(written["reference"]["modes_covered"]) is int


# ------------------------------------------------------------------------ permissions
def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_outputs_are_created_with_the_umask_like_any_file(finished_run) -> None:
    out = finished_run.out
    files = [out / name for name in ("samples.npy", "samples.png", "losses.png", "losses.jsonl",
                                     "metrics.json", "progress.gif")]
    files += sorted((out / "progress").iterdir())
    assert {path.name: _mode(path) for path in files} == {path.name: 0o640 for path in files}


def test_the_checkpoint_is_created_with_the_umask_like_the_other_outputs(finished_run) -> None:
    assert _mode(finished_run.out / "checkpoint.npz") == 0o640


# ------------------------------------------------------------------------- the console
def test_without_tqdm_the_progress_line_comes_every_twentieth_of_the_run(monkeypatch, capsys) -> None:
    from tinygen.train.progress import ProgressBar

    without_tqdm(monkeypatch)
    with ProgressBar(total=100, initial=0, description="gan", enabled=True) as bar:
        for done in range(1, 101):
            bar.update(done, {"loss": 0.5})
    steps = [int(line.split("step ")[1].split("/")[0]) for line in capsys.readouterr().err.splitlines()]
    assert steps == list(range(5, 101, 5))
    with ProgressBar(total=7, initial=3, description="gan", enabled=True) as bar:  # short, resumed
        for done in range(4, 8):
            bar.update(done, {"loss": 0.5})
    assert [line.split(" ")[2] for line in capsys.readouterr().err.splitlines()] == ["4/7", "5/7", "6/7", "7/7"]


# ------------------------------------------------------------------------- the loss log
def test_the_loss_log_numbers_steps_as_the_console_does(tmp_path, monkeypatch, capsys) -> None:
    without_tqdm(monkeypatch)  # the plain progress lines, whose numbers can be read back
    train(_line_spec(), out=tmp_path, steps=5, progress=True, outputs=False, sample_every=0)
    printed = re.findall(r"step (\d+)/5 fit=(\S+) weight_norm=(\S+)", capsys.readouterr().err)
    assert printed and printed[-1][0] == "5"  # the last step is always printed
    log = {record["step"]: record for record in read_log(tmp_path / "losses.jsonl")}
    assert sorted(log) == [1, 2, 3, 4, 5]
    for k, fit, weight_norm in printed:  # the console's step k is the log's step k, value for value
        assert f"{log[int(k)]['fit']:.4g}" == fit and f"{log[int(k)]['weight_norm']:.4g}" == weight_norm


def test_a_resumed_log_keeps_the_checkpoints_steps_and_continues_the_numbering(tmp_path) -> None:
    train(_line_spec(), out=tmp_path, steps=4, progress=False, outputs=False, sample_every=0)
    with open(tmp_path / "losses.jsonl", "a") as log:  # a step written after the checkpoint, then a crash
        log.write(json.dumps({"step": 5, "fit": 9.0, "weight_norm": 9.0}) + "\n")
    train(_line_spec(), out=tmp_path, steps=7, resume=True, progress=False, outputs=False, sample_every=0)
    records = read_log(tmp_path / "losses.jsonl")
    assert [r["step"] for r in records] == [1, 2, 3, 4, 5, 6, 7] and records[4]["fit"] != 9.0


def test_truncate_log_keeps_the_first_k_steps(tmp_path) -> None:
    path = tmp_path / "losses.jsonl"
    path.write_text("".join(json.dumps({"step": k, "loss": k / 10}) + "\n" for k in range(1, 7)))
    truncate_log(path, 4)  # a checkpoint after 4 steps
    assert [r["step"] for r in read_log(path)] == [1, 2, 3, 4]


# ---------------------------------------------------------------------- the progress GIF
def test_evenly_spaced_thins_the_denser_leg_of_a_resumed_run() -> None:
    # 500 steps pictured every 63, then resumed up to 1,000 and pictured every 125
    first, second = list(range(63, 500, 63)) + [500], [625, 750, 875, 1000]
    assert evenly_spaced(first + second, 1000) == [126, 252, 378, 500, 625, 750, 875, 1000]
    # one uninterrupted run keeps every picture, the last one too
    assert evenly_spaced(list(range(13, 100, 13)) + [100], 100) == list(range(13, 100, 13)) + [100]
    # a resumed run with a shorter total: the picture beyond it belongs to another future
    assert evenly_spaced([125, 250, 375, 500, 525, 600, 875], 600) == [125, 250, 375, 500, 600]
    assert evenly_spaced([4, 8], 8) == [4, 8] and evenly_spaced([], 8) == []


def test_a_resumed_runs_gif_frames_are_evenly_spaced(tmp_path, monkeypatch) -> None:
    from PIL import Image

    import tinygen.train.pictures

    # the frames are the saved samples (.npy); their .png pictures are not needed here
    monkeypatch.setattr(tinygen.train.pictures, "save_samples_picture", lambda *args, **kwargs: None)
    spec = _line_spec()
    # quick runs take 4 pictures: every 4 steps up to 16, then every 8 up to 32 after the resume
    train(spec, out=tmp_path, steps=16, quick=True, progress=False, outputs=False)
    run = train(spec, out=tmp_path, steps=32, quick=True, resume=True, progress=False, outputs=False)
    taken = sorted(int(p.stem.split("_")[1]) for p in (tmp_path / "progress").glob("step_*.npy"))
    assert taken == [4, 8, 12, 16, 24, 32]  # as the loop records them
    shown = [int(p.stem.split("_")[1]) for p in progress_frames(run)]
    assert shown == [8, 16, 24, 32]
    with Image.open(animate_progress(run)) as gif:
        assert gif.n_frames == len(shown)
