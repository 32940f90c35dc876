"""Shared test fixtures.

* ``backend``: every test that takes it runs once per array backend. The CuPy case skips, saying
  why, on a machine without CuPy or without a GPU, and runs where there is one.
* A hypothesis profile with few examples and no deadline, so property tests stay fast on 2 cores.
* Isolation: the data and cache folders (``TINYGEN_DATA``, ``TINYGEN_CACHE``) point into a
  temporary folder for the whole session, so tests never read or write the user's real cache.
* One BLAS thread: the tests multiply many small matrices, for which OpenBLAS's threads cost
  more than they give (and, on a busy 2-core machine, far more). Benchmarks keep the default.
"""
from __future__ import annotations

import os
from typing import Iterator

import pytest
from hypothesis import HealthCheck, settings

from tinygen import backend as B

settings.register_profile(
    "tinygen", max_examples=20, deadline=None,
    # the backend fixture is the same for every example of a test, so sharing it is intended
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.load_profile("tinygen")

try:  # threadpoolctl comes with scikit-learn, a tinygen dependency
    from threadpoolctl import threadpool_limits

    _blas_limit = threadpool_limits(limits=1, user_api="blas")
except ImportError:  # pragma: no cover - then BLAS keeps its default threads
    _blas_limit = None


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Point tinygen's data and cache folders at a session-wide temporary folder."""
    root = tmp_path_factory.mktemp("tinygen-cache")
    saved = {k: os.environ.get(k) for k in ("TINYGEN_DATA", "TINYGEN_CACHE")}
    os.environ["TINYGEN_DATA"] = str(root / "data")
    os.environ["TINYGEN_CACHE"] = str(root / "cache")
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(params=["numpy", "cupy"])
def backend(request: pytest.FixtureRequest) -> Iterator[str]:
    """Make ``request.param`` the active backend for one test, then restore the previous one."""
    if request.param == "cupy":
        problem = B.gpu_status()
        if problem is not None:
            pytest.skip(f"cupy backend not available: {problem}")
    previous = "numpy" if B.xp is B.np else "cupy"
    B.use(request.param)
    try:
        yield request.param
    finally:
        B.use(previous)
