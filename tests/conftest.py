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
