"""Shared test fixtures.

* ``backend``: every test that takes it runs once per array backend. The CuPy case skips, saying
  why, on a machine without CuPy or without a GPU, and runs where there is one.
* A hypothesis profile with few examples and no deadline, so property tests stay fast on 2 cores.
"""
from __future__ import annotations

from typing import Iterator

import pytest
from hypothesis import HealthCheck, settings

from tinygen import backend as B

settings.register_profile(
    "tinygen", max_examples=20, deadline=None,
    # the backend fixture is the same for every example of a test, so sharing it is intended
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.load_profile("tinygen")


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
