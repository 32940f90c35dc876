"""The right measurements for each kind of data set, in one call: ``evaluate(dataset, samples)``.

* 2-D: the VEEGAN/PacGAN mode metrics (ring and grid) and MMD against held-out real points;
* 1-D: MMD against held-out real points;
* binary: MMD against held-out real data and, for bars-and-stripes, how many samples are valid
  patterns and how many of the patterns appear;
* images: :func:`image_metrics`, from a classifier trained on the real training images.

Each result carries a ``reference`` entry: the same metrics for held-out *real* data, the ceiling a
perfect generator would reach with the same number of samples.
"""
from __future__ import annotations

from typing import Any

from .. import backend as B
from ..data.binary import bars_and_stripes
from ..data.registry import Dataset, get_dataset
from .classifier import IMAGE_SHAPES, class_probabilities, get_classifier, predict
from .frechet import frechet_distance
from .mmd import mmd
from .modes import kl_to_uniform, mode_metrics

N_SAMPLES_2D = 2_500  # VEEGAN and PacGAN report their mode metrics over 2,500 samples


# ----------------------------------------------------------------------------------- images
def _as_images(samples: Any, image_shape: tuple[int, ...], dataset_name: str) -> Any:
    x = B.np.asarray(B.to_host(samples), dtype=B.float32)
    size = int(B.np.prod(image_shape))
    if x.ndim < 2 or x[0].size != size or len(x) < 2:
        raise ValueError(f"image_metrics: {dataset_name} samples must be at least 2 images of shape "
                         f"{image_shape} (or flattened to {size} values), got an array of shape {x.shape}")
    if not B.np.isfinite(x).all():
        raise ValueError("image_metrics: the samples hold NaN or infinite values")
    return x.reshape((len(x),) + tuple(image_shape))


def _class_metrics(logits: Any, n_classes: int) -> dict[str, Any]:
    probabilities = class_probabilities(logits)  # (n, classes)
    predicted = probabilities.argmax(axis=1)
    counts = B.np.bincount(predicted, minlength=n_classes)
    return {
        "classes_covered": int((counts > 0).sum()),
        "n_classes": n_classes,
        # KL(histogram of predicted classes || uniform): 0 when every class is equally frequent
        "kl_to_uniform": kl_to_uniform(counts),
        # mean over samples of max_c p(c | x): how sure the classifier is that it sees a digit
        "mean_confidence": float(probabilities.max(axis=1).mean()),
    }


def _check_labels(labels: Any, n: int, n_classes: int) -> Any:
    y = B.np.asarray(B.to_host(labels))
    if y.shape != (n,) or y.dtype.kind not in "iu" or (n and (y.min() < 0 or y.max() >= n_classes)):
        raise ValueError(f"evaluate: labels must be {n} integers in [0, {n_classes}), one per sample, got an array "
                         f"of shape {y.shape} and dtype {y.dtype}")
    return y


def image_metrics(samples: Any, dataset_name: str, cache_dir: str | None = None,
                  labels: Any = None) -> dict[str, Any]:
    """Classifier-based metrics of image ``samples`` (n, C, H, W) with values in [0, 1], as the data.

    Returns ``classes_covered``, ``n_classes``, ``kl_to_uniform`` (predicted-class histogram against
    uniform), ``mean_confidence`` (mean max class probability), ``frechet_distance`` (squared
    Frechet distance between Gaussians fitted to the classifier's 64-d features of the samples and
    of real held-out images), ``n_samples``, and ``reference``: the same metrics for real held-out
    images. The held-out split is halved: the first half is the real side of every Frechet
    distance, the second half is the reference "sample". Frechet distances shrink as n grows
    (the covariance estimates sharpen), so compare them at similar n.
    """
    if dataset_name not in IMAGE_SHAPES:
        raise ValueError(f"image_metrics: no classifier for dataset {dataset_name!r}; "
                         f"image metrics exist for {', '.join(IMAGE_SHAPES)}")
    x = _as_images(samples, IMAGE_SHAPES[dataset_name], dataset_name)
    classifier = get_classifier(dataset_name, root=cache_dir)
    held_out = get_dataset(dataset_name, "test")
    half = len(held_out.x) // 2
    _, real_features = predict(classifier, held_out.x[:half])
    reference_logits, reference_features = predict(classifier, held_out.x[half:])
    logits, features = predict(classifier, x)
    n_classes = int(logits.shape[1])

    result = _class_metrics(logits, n_classes)
    result["frechet_distance"] = frechet_distance(features, real_features)
    result["n_samples"] = len(x)
    reference = _class_metrics(reference_logits, n_classes)
    reference["frechet_distance"] = frechet_distance(reference_features, real_features)
    reference["n_samples"] = len(held_out.x) - half
    if labels is not None:
        y = _check_labels(labels, len(x), n_classes)
        result["label_accuracy"] = float((logits.argmax(axis=1) == y).mean())
        reference["label_accuracy"] = float((reference_logits.argmax(axis=1) == held_out.y[half:]).mean())
    result["reference"] = reference
    return result


# ------------------------------------------------------------------------------ the others
def _points(samples: Any, dim: int, where: str) -> Any:
    x = B.np.asarray(B.to_host(samples), dtype=B.float64)
    x = x.reshape(len(x), -1) if x.ndim > 1 else x.reshape(-1, 1)
    if x.shape[1] != dim:
        raise ValueError(f"evaluate: {where} samples must have {dim} values each, got an array of "
                         f"shape {B.np.shape(samples)}")
    return x[:N_SAMPLES_2D]


def _two_d(data: Dataset, samples: Any) -> dict[str, Any]:
    x = _points(samples, 2, data.name)
    result: dict[str, Any] = {"n_samples": len(x), "mmd": mmd(x, data.x)}
    if data.centres is not None:
        result.update(mode_metrics(x, data.centres, data.std))
        result["reference"] = mode_metrics(data.x[:len(x)], data.centres, data.std)
    return result


def _binary(data: Dataset, samples: Any) -> dict[str, Any]:
    x = _points(samples, data.x.shape[1], data.name)
    result: dict[str, Any] = {"n_samples": len(x), "mmd": mmd(x, data.x)}
    if data.name == "bars-and-stripes":
        result.update(_pattern_metrics(x))
        result["reference"] = _pattern_metrics(data.x[:len(x)])
    return result


def _pattern_metrics(x: Any) -> dict[str, Any]:
    """The share of samples (rounded to {0, 1} at 0.5) that are bars-and-stripes patterns."""
    patterns = bars_and_stripes(3)
    # (n, 14): does sample i equal pattern j in every pixel?
    matches = ((x[:, None, :] > 0.5) == (patterns[None, :, :] > 0.5)).all(axis=2)
    return {"valid_pct": float(100.0 * matches.any(axis=1).mean()),
            "patterns_covered": int(matches.any(axis=0).sum()), "n_patterns": len(patterns)}


def evaluate(dataset_name: str, samples: Any, labels: Any = None) -> dict[str, Any]:
    """The metrics that fit ``dataset_name``'s kind (see the module docstring), as a JSON-ready dict.

    For 2-D, 1-D and binary data at most the first 2,500 samples are used, against the held-out
    split (2,500 points for the toys, 2,500 patterns drawn uniformly for bars-and-stripes).
    ``labels``, one per sample for a class-conditional model, add ``label_accuracy`` to the image
    metrics (other kinds of data have no classifier to check them with, and ignore them).
    """
    if dataset_name in IMAGE_SHAPES:
        result = image_metrics(samples, dataset_name, labels=labels)
        kind = "image"
    else:
        n = N_SAMPLES_2D if dataset_name == "bars-and-stripes" else None
        data = get_dataset(dataset_name, "test", n=n)  # raises for an unknown name
        kind = data.kind
        if kind == "2d":
            result = _two_d(data, samples)
        elif kind == "1d":
            x = _points(samples, 1, data.name)
            result = {"n_samples": len(x), "mmd": mmd(x, data.x)}
        else:
            result = _binary(data, samples)
    return {"dataset": dataset_name, "kind": kind, **result}
