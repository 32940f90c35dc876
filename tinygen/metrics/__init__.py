"""Measurements of sample quality: mode metrics for the 2-D mixtures, maximum mean discrepancy,
the Frechet distance, classifier-based image metrics, and ``evaluate`` that picks the right ones
for a data set."""
from .classifier import Classifier, cache_dir, get_classifier
from .evaluate import evaluate, image_metrics
from .frechet import frechet_distance, frechet_distance_gaussians, sqrtm_psd
from .mmd import mmd
from .modes import kl_to_uniform, mode_metrics, nearest_centre

__all__ = ["Classifier", "cache_dir", "evaluate", "frechet_distance", "frechet_distance_gaussians",
           "get_classifier", "image_metrics", "kl_to_uniform", "mmd", "mode_metrics", "nearest_centre",
           "sqrtm_psd"]
