"""What a finished run leaves in its folder, besides the checkpoint and the loss log.

``samples.npy`` (2,500 points for the 2-D and 1-D toys, on which the mode metrics are defined;
1,000 images or binary patterns for the image metrics), ``samples_labels.npy`` for a
class-conditional model (its labels drawn uniformly over the classes, so the metrics can check
them), ``samples.png``, ``losses.png``, ``progress.gif`` and ``metrics.json`` (floats to four
significant digits).
"""
from __future__ import annotations

import json
import math
from typing import Any, Mapping

from .. import backend as B
from .log import LOSS_LOG, read_log
from .pictures import animate_progress, save_samples_picture
from .run import Run
from .sampling import sample_with_conditions

N_FINAL_SAMPLES = {"2d": 2500, "1d": 2500, "image": 1000, "binary": 1000}
SIGNIFICANT_DIGITS = 4  # of the floats in metrics.json


def rounded(x: float, digits: int = SIGNIFICANT_DIGITS) -> float:
    """``x`` to ``digits`` significant digits: 0.123456 -> 0.1235, 12345.6 -> 12350.0, 1.5e-07 stays."""
    if not math.isfinite(x) or x == 0:
        return x
    return float(f"{x:.{digits}g}")


def json_ready(value: Any, digits: int = SIGNIFICANT_DIGITS) -> Any:
    """Metrics as plain Python values for JSON, floats rounded to ``digits`` significant digits.

    NumPy scalars and arrays become Python numbers and lists; integers and booleans stay as they
    are; dicts and lists are rounded all the way down. Four digits are more than any of the
    metrics can resolve (they are estimated from a few thousand samples) and keep the file readable.
    """
    if isinstance(value, Mapping):
        return {str(k): json_ready(v, digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v, digits) for v in value]
    if hasattr(value, "tolist"):  # NumPy arrays and scalars: Python lists and numbers, then rounded
        return json_ready(value.tolist(), digits)
    if isinstance(value, float):
        return rounded(value, digits)
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
