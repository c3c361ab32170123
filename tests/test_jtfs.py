"""Joint time-frequency scattering: frequential filters, jtfs, its meta and Raghavan's tensor.

Against the stored outputs of kymatio's development branch (its
TimeFrequencyScattering is not on PyPI), and against properties of the
transform (spin of glissandi, scale invariance of S2 / S1, padding).
"""

import numpy as np
import pytest
from conftest import reference_files

from modspec import ParameterError, filters
from modspec.features.scattering import jtfs, jtfs_meta, jtfs_tensor

REFERENCES = reference_files("kymatio_dev_jtfs_*.npz")
META_FIELDS = ["order", "n", "n_fr", "xi", "sigma", "j", "xi_fr", "sigma_fr", "j_fr", "spin"]


def _params(ref):
    def optional(key):
        return None if str(ref[key]) == "None" else int(ref[key])

    return {
        "J": int(ref["param_J"]),
        "J_fr": int(ref["param_J_fr"]),
        "Q": tuple(int(q) for q in ref["param_Q"]),
        "Q_fr": int(ref["param_Q_fr"]),
        "T": optional("param_T"),
        "F": optional("param_F"),
        "format": str(ref["param_format"]),
    }


def _order_errors(out, expected, order):
    """max |out - expected| / max |expected| per order (paths on axis 1)."""
    return {
        int(o): float(np.abs(out[:, order == o] - expected[:, order == o]).max() / np.abs(expected[:, order == o]).max())
        for o in np.unique(order)
    }


def _glissando(f0, f1, n=16384, sr=16000):
    t = np.arange(n) / sr
    c = np.log(f1 / f0) / (n / sr)
    return 0.5 * np.sin(2 * np.pi * f0 * (np.exp(c * t) - 1) / c)


@pytest.mark.parametrize("name", REFERENCES)
def test_frequential_filters_match_kymatio_dev(reference, name):
    ref = reference(name)
    p = _params(ref)
    bank = filters.frequential_filterbank(int(ref["N_padded_fr"]), p["J_fr"], p["Q_fr"], p["F"])
    np.testing.assert_allclose(bank.psi_f, ref["psi_fr_f"], rtol=0, atol=1e-13 * np.abs(ref["psi_fr_f"]).max())
    np.testing.assert_allclose(bank.phi_f, ref["phi_fr_f"], rtol=0, atol=1e-13 * np.abs(ref["phi_fr_f"]).max())
    np.testing.assert_array_equal(bank.xi, ref["psi_fr_xi"])
    np.testing.assert_array_equal(bank.sigma, ref["psi_fr_sigma"])
    np.testing.assert_array_equal(bank.j, ref["psi_fr_j"])
    assert bank.F == int(ref["F_effective"]) and bank.log2_F == int(ref["log2_stride_fr"])


@pytest.mark.parametrize("name", REFERENCES)
def test_meta_matches_kymatio_dev_row_by_row(reference, name):
    ref = reference(name)
    p = _params(ref)
    meta = jtfs_meta(**p)
    assert [str(key) for key in meta["key"]] == list(ref["row_key"])
    rows = ref["meta_index_of_row"]  # kymatio's meta() is sorted differently from its array output
    for field in META_FIELDS:
        np.testing.assert_array_equal(meta[field], ref["meta_" + field][rows], err_msg=field)
    if p["format"] == "joint":
        for field in ("n1_start", "n1_stop", "n1_step"):
            np.testing.assert_array_equal(meta[field], ref["meta_" + field][rows], err_msg=field)
    np.testing.assert_array_equal(meta["order"], ref["row_order"])


@pytest.mark.parametrize("compact", [False, True])
@pytest.mark.parametrize("name", REFERENCES)
def test_jtfs_matches_kymatio_dev_float64(reference, name, compact):
    ref = reference(name)
    p = _params(ref)
    S = jtfs(ref["x"], compact=compact, **p)
    assert S.shape == ref["S"].shape and S.dtype == np.float64
    errors = _order_errors(S, ref["S"], jtfs_meta(**p)["order"])
    assert max(errors.values()) <= 1e-10, errors
    # and every path on its own (the bar: 1e-4 relative per path)
    axes = tuple(i for i in range(S.ndim) if i != 1)
    per_path = np.abs(S - ref["S"]).max(axis=axes) / np.abs(ref["S"]).max(axis=axes)
    assert per_path.max() <= 1e-8


@pytest.mark.parametrize("name", REFERENCES)
def test_jtfs_float32(reference, name):
    ref = reference(name)
    p = _params(ref)
    S = jtfs(ref["x"].astype(np.float32), **p)
    assert S.dtype == np.float32
    errors = _order_errors(S.astype(np.float64), ref["S"], jtfs_meta(**p)["order"])
    assert max(errors.values()) <= 1e-5, errors


def test_joint_rows_are_the_time_rows():
    y = _glissando(100, 4000, n=4096)
    kw = {"J": 6, "J_fr": 2, "Q": (8, 2)}
    joint, time = jtfs(y, format="joint", **kw), jtfs(y, format="time", **kw)
    meta_joint, meta_time = jtfs_meta(format="joint", **kw), jtfs_meta(format="time", **kw)
    row_of = {key: i for i, key in enumerate(meta_time["key"])}
    for c, key in enumerate(meta_joint["key"]):
        for i, n1 in enumerate(range(meta_joint["n1_start"][c], meta_joint["n1_stop"][c], meta_joint["n1_step"][c])):
            np.testing.assert_array_equal(joint[c, i], time[row_of[(n1, *key)]])
    assert joint.shape[:2] == (len(meta_joint["key"]), 88 // 4)


def test_batch_shape_and_independence():
    rng = np.random.default_rng(0)
    y = rng.standard_normal((2, 3, 2048))
    S = jtfs(y, J=5, J_fr=2, Q=(4, 1))
    assert S.shape[:2] == (2, 3) and S.shape[-2] == len(jtfs_meta(J=5, J_fr=2, Q=(4, 1))["key"])
    np.testing.assert_allclose(S[1, 2], jtfs(y[1, 2], J=5, J_fr=2, Q=(4, 1)), rtol=1e-12, atol=1e-15)


def test_compact_padding_changes_only_rounding():
    y = _glissando(200, 3000, n=6000)
    kw = {"J": 6, "J_fr": 2, "Q": (8, 2), "T": 128}
    exact, compact = jtfs(y, compact=False, **kw), jtfs(y, compact=True, **kw)
    assert np.abs(exact - compact).max() <= 1e-12 * np.abs(exact).max()


def test_glissandi_up_and_down_have_opposite_spins():
    up, down = _glissando(80, 5000), _glissando(5000, 80)
    kw = {"J": 6, "J_fr": 2, "Q": (8, 2)}
    meta = jtfs_meta(**kw)
    energy = {}
    for name, y in (("up", up), ("down", down)):
        S = jtfs(y, **kw)
        energy[name] = {s: float((S[(meta["order"] == 2) & (meta["spin"] == s)] ** 2).sum()) for s in (1, -1)}
    assert energy["up"][1] > 2 * energy["up"][-1]
    assert energy["down"][-1] > 2 * energy["down"][1]
    _, spins = jtfs_tensor(np.stack([up, down]), return_spin=True, **kw)
    assert spins.tolist() == [1, -1]


def test_jtfs_tensor_shape_and_scale_invariance():
    y = _glissando(100, 3000, n=8192)
    kw = {"J": 6, "J_fr": 2, "Q": (8, 2)}
    X = jtfs_tensor(y, eps=0.0, **kw)
    meta = jtfs_meta(**kw)
    n_temporal = len(set(meta["n"][meta["order"] == 2, 1].tolist()))
    n_frequential = int((filters.frequential_filterbank(88, 2).spin == 1).sum())
    assert X.shape == (jtfs(y, **kw).shape[-1], n_temporal, n_frequential)
    assert np.isfinite(X).all() and (X >= 0).all()
    # S2 and S1 are both homogeneous in the amplitude, so their ratio is not
    np.testing.assert_allclose(jtfs_tensor(10.0 * y, eps=0.0, **kw), X, rtol=1e-7, atol=1e-8 * X.max())


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"J_fr": 0}, "J_fr"),
        ({"J_fr": 7}, "J_fr=7 is too large"),
        ({"Q_fr": 0}, "Q_fr"),
        ({"F": 0}, "F=0"),
        ({"F": 1000}, "F=1000"),
        ({"format": "spiral"}, "format"),
        ({"format": "joint", "F": 8}, "format='joint' needs F <= 2\\*\\*J_fr"),
        ({"T": 4}, "T=4 is too small"),
        ({"J": 0}, "J=0"),
    ],
)
def test_bad_parameters(kwargs, match):
    params = {"J": 6, "J_fr": 2, "Q": (8, 2), **kwargs}
    with pytest.raises(ParameterError, match=match):
        jtfs(np.zeros(4096), **params)


def test_bad_signals():
    with pytest.raises(ParameterError):
        jtfs(np.arange(4096), J=6, J_fr=2, Q=8)  # integers
    with pytest.raises(ParameterError):
        jtfs(np.full(4096, np.nan), J=6, J_fr=2, Q=8)
    with pytest.raises(ParameterError, match="J=6 is too large"):
        jtfs(np.zeros(32), J=6, J_fr=2, Q=8)


@pytest.mark.parametrize("J, Q1, J_fr, F, expected", [
    (6, 8, 3, 8, 120),    # kymatio's N_padded_fr: (56 + 64) // 8 * 8
    (6, 8, 2, 4, 88),     # (56 + 32) // 4 * 4
    (6, 8, 2, 16, 80),    # 88 is not a multiple of F's subsampling 16: 88 // 16 * 16
    (6, 8, 3, 24, 112),   # 120 // 8 * 8 = 120 is not a multiple of 16 either
])
def test_frequential_padding_fits_the_averaging(J, Q1, J_fr, F, expected):
    from modspec.features.scattering import _jtfs_n_fr

    n = _jtfs_n_fr(J, Q1, J_fr, F)
    assert n == expected
    assert n % 2 ** int(np.log2(F)) == 0 and n % 2**J_fr == 0 and n >= (J + 1) * Q1 + 8
