"""Data: generated toys, binary patterns, images, the seeded mini-batch loader and the registry.

Everything here is host-side NumPy (float32 data, int64 labels); the training loop moves batches
to the device. Every data set is a pure function of its arguments: randomness comes from an
explicit ``seed``, never from tinygen's global random stream.
"""
from .binary import bars_and_stripes, binarized_digits
from .images import (BASE_URLS, CHECKSUMS, MNIST_FILES, ChecksumError, DatasetNotFoundError, data_dir,
                     file_digest, load_digits, load_mnist, read_idx, verify_file)
from .loader import DataLoader
from .registry import Dataset, get_dataset, list_datasets
from .toys import (gaussian_mixture_1d, grid_centres, grid_of_gaussians, ring_centres, ring_of_gaussians,
                   swiss_roll, two_moons)

__all__ = [
    "BASE_URLS", "CHECKSUMS", "MNIST_FILES", "ChecksumError", "DataLoader", "Dataset", "DatasetNotFoundError",
    "bars_and_stripes", "binarized_digits", "data_dir", "file_digest", "gaussian_mixture_1d", "get_dataset",
    "grid_centres", "grid_of_gaussians", "list_datasets", "load_digits", "load_mnist", "read_idx",
    "ring_centres", "ring_of_gaussians", "swiss_roll", "two_moons", "verify_file",
]
