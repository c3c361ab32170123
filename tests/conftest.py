import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def _reference_dir():
    """../shared/reference beside the checkout (CI layout), or $MODSPEC_REFERENCE_DIR."""
    candidates = [os.environ.get("MODSPEC_REFERENCE_DIR"), REPO.parent / "shared" / "reference", "/work/shared/reference"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "manifest.json").exists():
            return Path(candidate)
    return None


REFERENCE_DIR = _reference_dir()


@pytest.fixture
def reference():
    """Load a stored reference .npz by file name."""
    if REFERENCE_DIR is None:
        if os.environ.get("CI"):
            pytest.fail("../shared/reference is missing: CI must run with shared/ beside the clone")
        pytest.skip("reference vectors not found: set MODSPEC_REFERENCE_DIR to shared/reference")

    def load(name):
        return np.load(REFERENCE_DIR / name)

    return load


def reference_files(pattern):
    """Names of the stored references matching a glob (for parametrisation)."""
    if REFERENCE_DIR is None:
        return [pytest.param(None, marks=pytest.mark.skip(reason="reference vectors not found"))]
    return sorted(p.name for p in REFERENCE_DIR.glob(pattern))


@pytest.fixture
def rng():
    return np.random.default_rng(20261121)


def rel_err(a, b):
    """max |a - b| / max |b|, the parity measure of the issue."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def pytest_configure(config):
    """Make numba-cuda's performance warnings errors too, where it is installed.

    pyproject.toml makes ``numba.NumbaPerformanceWarning`` an error (a host
    array handed to a kernel is a silent copy); numba-cuda, which replaces
    ``numba.cuda`` where it is installed (the GPU machines), raises its own
    class, which is not a subclass of numba's and cannot be named in
    pyproject.toml where numba-cuda is absent.
    """
    import importlib.metadata

    try:
        importlib.metadata.distribution("numba-cuda")  # without importing numba.cuda here
    except importlib.metadata.PackageNotFoundError:
        return
    config.addinivalue_line("filterwarnings", "error::numba.cuda.core.errors.NumbaPerformanceWarning")
