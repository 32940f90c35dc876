"""The judge behind the image metrics: a small classifier trained with tinygen on the real
training images, whose predictions and penultimate-layer features are used to score samples.

It is trained on first use (seconds on the 8x8 digits) and cached as ``.npz`` in
``$TINYGEN_CACHE/classifiers/`` (default ``~/.cache/tinygen``); the weights are never committed.
Training runs on the CPU with its own seeded random stream: tinygen's global stream is saved
before and restored after, so evaluating a model does not change what the caller draws next.

The network is a small CNN: two 3x3 convolutions with 2x2 max pooling, then two linear layers.
``Classifier`` also builds an MLP (``arch="mlp"``), a convolution-free baseline; the cache file
name says which architecture it holds, so the two never mix. The features are the 64 activations
before the last layer.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Iterator

from .. import backend as B
from .. import nn
from ..autograd import Tensor, no_grad
from ..data.loader import DataLoader
from ..data.registry import get_dataset
from ..ops import cross_entropy, softmax
from ..optim import Adam

CLASSIFIER_DATASETS = ("digits", "mnist", "fashion-mnist")
FEATURES = 64
VERSION = 1  # bump when the architecture or the training recipe changes: old caches are ignored

# (epochs, batch size, learning rate) per data set. With the CNN on 2 CPU cores: about 3 s on the
# digits (held-out accuracy 0.98); about 70 ms a step of 128 MNIST images, so roughly a minute for
# MNIST and two for Fashion-MNIST (estimated from the time of one step)
RECIPES = {"digits": (20, 64, 2e-3), "mnist": (2, 128, 1e-3), "fashion-mnist": (3, 128, 1e-3)}
IMAGE_SHAPES = {"digits": (1, 8, 8), "mnist": (1, 28, 28), "fashion-mnist": (1, 28, 28)}
N_CLASSES = 10


def cache_dir() -> Path:
    """tinygen's cache: ``$TINYGEN_CACHE``, or ``~/.cache/tinygen`` when it is not set."""
    value = os.environ.get("TINYGEN_CACHE", "").strip()
    return Path(value).expanduser() if value else Path.home() / ".cache" / "tinygen"


def architecture() -> str:
    """The architecture that :func:`get_classifier` trains and caches: "cnn"."""
    return "cnn"


class Classifier(nn.Module):
    """logits = head(features(x)); ``features`` is the 64-d representation the Frechet distance uses."""

    def __init__(self, image_shape: tuple[int, int, int], n_classes: int, arch: str) -> None:
        super().__init__()
        c, h, w = image_shape
        if arch == "cnn":
            self.features = nn.Sequential(
                nn.Conv2d(c, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # (N, 16, H/2, W/2)
                nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (N, 32, H/4, W/4)
                nn.Flatten(), nn.Linear(32 * (h // 4) * (w // 4), FEATURES), nn.ReLU())  # (N, 64)
        elif arch == "mlp":
            self.features = nn.Sequential(
                nn.Flatten(), nn.Linear(c * h * w, 256), nn.ReLU(),  # (N, 256)
                nn.Linear(256, FEATURES), nn.ReLU())                 # (N, 64)
        else:
            raise ValueError(f"Classifier: arch must be 'cnn' or 'mlp', got {arch!r}")
        self.head = nn.Linear(FEATURES, n_classes)  # (N, n_classes)
        self.arch = arch

    def forward(self, x: Any) -> Any:
        return self.head(self.features(x))


@contextlib.contextmanager
def _one_blas_thread() -> Iterator[None]:
    """Limit BLAS to one thread (through threadpoolctl, which scikit-learn brings) while training.

    The matrices here are small, so extra BLAS threads buy nothing; on a busy 2-core machine
    OpenBLAS threads competing for the cores made this training about 10x slower (17 s against
    1.6 s for the same 10 epochs, measured).
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # no threadpoolctl: train with the default threads
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


@contextlib.contextmanager
def _private_cpu_stream(seed: int) -> Iterator[None]:
    """Run on the NumPy backend with a CPU stream seeded by ``seed``; restore both afterwards."""
    previous_backend = B.current_backend()
    previous_state = B.get_rng_state()
    B.use("numpy")
    B.manual_seed(seed)
    try:
        yield
    finally:
        B.set_rng_state(previous_state)
        B.use(previous_backend)


def _train(dataset_name: str, arch: str, seed: int) -> tuple[Classifier, float]:
    """Fit the classifier on the training split with Adam; returns it and its test accuracy."""
    train, test = get_dataset(dataset_name, "train"), get_dataset(dataset_name, "test")
    epochs, batch_size, lr = RECIPES[dataset_name]
    model = Classifier(train.image_shape, train.n_classes, arch)
    optimizer = Adam(model.parameters(), lr=lr)
    loader = DataLoader(train.x, train.y, batch_size=batch_size, seed=seed)
    for _ in range(epochs):
        for x, y in loader:
            optimizer.zero_grad()
            loss = cross_entropy(model(Tensor(x, device="cpu")), Tensor(y, device="cpu"))
            loss.backward()
            optimizer.step()
    logits, _ = predict(model, test.x)
    return model, float((logits.argmax(1) == test.y).mean())


def predict(model: Classifier, images: Any, batch_size: int = 500) -> tuple[Any, Any]:
    """Logits (n, classes) and features (n, 64) of images (n, C, H, W), as host arrays. The
    classifier lives on the CPU whatever the active backend, so the images are moved there."""
    model.eval()
    logits, features = [], []
    with no_grad():
        for start in range(0, len(images), batch_size):
            batch = B.to_host(images[start:start + batch_size]).astype(B.float32, copy=False)
            h = model.features(Tensor(batch, device="cpu"))
            features.append(B.to_host(h.data))
            logits.append(B.to_host(model.head(h).data))
    return B.np.concatenate(logits), B.np.concatenate(features)


def class_probabilities(logits: Any) -> Any:
    """softmax over classes, for host logits (n, classes)."""
    return softmax(Tensor(B.to_host(logits), device="cpu"), dim=1).data


def _cache_path(dataset_name: str, arch: str, seed: int, root: Path | None) -> Path:
    return (root or cache_dir()) / "classifiers" / f"{dataset_name}-{arch}-seed{seed}-v{VERSION}.npz"


def _save(model: Classifier, accuracy: float, path: Path) -> None:
    """Write the weights as .npz: to a temporary name first, then renamed, so a crash mid-write
    never leaves a half-written cache that a later run would trust."""
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {f"state.{k}": v for k, v in model.state_dict().items()}
    arrays["test_accuracy"] = B.np.asarray(accuracy)
    partial = path.with_name(path.name + ".part")
    with open(partial, "wb") as f:
        B.np.savez(f, **arrays)
    os.replace(partial, path)


def _load(path: Path, image_shape: tuple[int, int, int], n_classes: int, arch: str) -> Classifier | None:
    """The cached classifier, or None when the file is unreadable or does not fit (then retrain)."""
    model = Classifier(image_shape, n_classes, arch)
    try:
        with B.np.load(path, allow_pickle=False) as archive:
            state = {k[len("state."):]: archive[k] for k in archive.files if k.startswith("state.")}
        model.load_state_dict(state)
    except (OSError, ValueError, KeyError):  # corrupt file or changed architecture
        return None
    return model


_loaded: dict[Path, Classifier] = {}  # classifiers already read in this process, by cache file


def get_classifier(dataset_name: str, seed: int = 0, root: str | os.PathLike[str] | None = None) -> Classifier:
    """The classifier for ``dataset_name`` ("digits", "mnist", "fashion-mnist"): loaded from the cache
    (``root``, default :func:`cache_dir`) or trained now and cached."""
    if dataset_name not in CLASSIFIER_DATASETS:
        raise ValueError(f"get_classifier: no classifier for dataset {dataset_name!r}; "
                         f"image metrics exist for {', '.join(CLASSIFIER_DATASETS)}")
    arch = architecture()
    path = _cache_path(dataset_name, arch, seed, Path(root).expanduser() if root is not None else None)
    if path in _loaded:
        return _loaded[path]
    with _private_cpu_stream(seed), _one_blas_thread():
        model = None
        if path.exists():
            model = _load(path, IMAGE_SHAPES[dataset_name], N_CLASSES, arch)
        if model is None:
            model, accuracy = _train(dataset_name, arch, seed)
            _save(model, accuracy, path)
    model.eval()
    _loaded[path] = model
    return model
