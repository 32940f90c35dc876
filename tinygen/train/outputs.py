"""What a finished run leaves in its folder, besides the checkpoint and the loss log.

``samples.npy`` (2,500 points for the 2-D and 1-D toys, on which the mode metrics are defined;
1,000 images or binary patterns for the image metrics), ``samples_labels.npy`` for a
class-conditional model (its labels drawn uniformly over the classes, so the metrics can check
them), ``samples.png``, ``losses.png``, ``progress.gif`` and ``metrics.json``.
"""
from __future__ import annotations

import json
from typing import Any, Mapping

from .. import backend as B
from .log import LOSS_LOG, read_log
from .pictures import animate_progress, save_samples_picture
from .run import Run
from .sampling import sample_with_conditions

N_FINAL_SAMPLES = {"2d": 2500, "1d": 2500, "image": 1000, "binary": 1000}


def json_ready(value: Any) -> Any:
    """Metrics as plain Python numbers (NumPy scalars and arrays are not JSON)."""
    if isinstance(value, Mapping):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


def write_outputs(run: Run, n_samples: int | None = None) -> dict[str, Any]:
    """The final samples (and their labels), their picture, the loss curves, the GIF and the metrics."""
    from .. import metrics
    from ..viz import plots

    n = n_samples or N_FINAL_SAMPLES[run.dataset.kind]
    samples, conditions = sample_with_conditions(run, n)
    B.np.save(run.out / "samples.npy", samples)
    if "label" in conditions:
        B.np.save(run.out / "samples_labels.npy", conditions["label"])
    save_samples_picture(samples, run.dataset, run.out / "samples.png",
                         title=f"{run.spec.name} on {run.dataset.name}, step {run.step}")
    plots.loss_curves(read_log(run.out / LOSS_LOG), run.out / "losses.png",
                      title=f"{run.spec.name} on {run.dataset.name}")
    animate_progress(run)
    run.metrics = json_ready(metrics.evaluate(run.dataset.name, samples, labels=conditions.get("label")))
    with open(run.out / "metrics.json", "w") as file:
        json.dump(run.metrics, file, indent=2)
    return run.metrics
