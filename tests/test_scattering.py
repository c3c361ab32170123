"""Time scattering: Morlet designs, scalogram, scattering and the torch module.

Against the stored kymatio 0.3.0 references (no kymatio needed), against
kymatio 0.3.0 live (skipped without it), and against direct formulas.
"""

import math
import subprocess
import sys
import warnings

import numpy as np
import pytest
from conftest import reference_files

from modspec import ParameterError, filters
from modspec.features.scattering import (
    _kymatio_padding,
    scalogram,
    scattering,
    scattering_meta,
)

REFERENCES = reference_files("kymatio030_scattering1d_*.npz")
WITH_FILTERS = [
    "kymatio030_scattering1d_J6_Q8-2_Tdefault_N4096.npz",
    "kymatio030_scattering1d_J6_Q8_Tdefault_N300.npz",
    "kymatio030_scattering1d_J8_Q8_T512_N4096.npz",
]


def _params(ref):
    """(J, Q, T, max_order, n_samples) of a reference file ('None' -> None, Q as an int or a tuple)."""
    Q = ref["param_Q"]
    Q = int(Q) if Q.ndim == 0 else tuple(int(q) for q in Q)
    T = None if str(ref["param_T"]) == "None" else int(ref["param_T"])
    return int(ref["param_J"]), Q, T, int(ref["param_max_order"]), int(ref["param_shape"])


def _order_errors(out, expected, order):
    """max |out - expected| / max |expected| for each scattering order present."""
    return {
        o: float(np.abs(out[..., order == o, :] - expected[..., order == o, :]).max()
                 / np.abs(expected[..., order == o, :]).max())
        for o in np.unique(order)
    }


def _kymatio():
    """kymatio 0.3.0's NumPy frontend (imported directly: ``import kymatio.numpy`` fails with recent SciPy)."""
    kymatio = pytest.importorskip("kymatio", reason="kymatio is not installed (the 'bench' extra)")
    if kymatio.__version__ != "0.3.0":
        pytest.skip(f"live parity is pinned to kymatio 0.3.0, found {kymatio.__version__}")
    from kymatio.scattering1d.frontend.numpy_frontend import ScatteringNumPy1D

    return ScatteringNumPy1D


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


# --------------------------------------------------------------------------- filters


@pytest.mark.parametrize("name", WITH_FILTERS)
def test_filterbank_matches_stored_kymatio_filters(reference, name):
    ref = reference(name)
    J, Q, T, _, _ = _params(ref)
    bank = filters.scattering_filterbank(int(ref["N_padded"]), J, Q, T)
    for key in ("psi1_f", "psi2_f", "phi_f"):
        got, expected = getattr(bank, key), ref[key]
        assert got.shape == expected.shape
        assert np.abs(got - expected).max() <= 1e-13 * np.abs(expected).max(), key
    for key in ("psi1_xi", "psi1_sigma", "psi2_xi", "psi2_sigma"):
        np.testing.assert_allclose(getattr(bank, key), ref[key], rtol=1e-15, atol=0)
    np.testing.assert_array_equal(bank.psi1_j, ref["psi1_j"])
    np.testing.assert_array_equal(bank.psi2_j, ref["psi2_j"])
    assert bank.phi_sigma == pytest.approx(float(ref["phi_sigma"]), rel=1e-15)
    assert bank.log2_T == int(ref["phi_j"]) == int(ref["log2_T"])
    assert bank.Q == tuple(int(q) for q in ref["Q_effective"]) and bank.T == int(ref["T_effective"])


@pytest.mark.parametrize("name", REFERENCES)
def test_padding_matches_kymatio(reference, name):
    ref = reference(name)
    J, _, T, _, n_samples = _params(ref)
    n_padded, pad_left, _ = _kymatio_padding(n_samples, 2**J if T is None else T)
    assert (n_padded, pad_left) == (int(ref["N_padded"]), int(ref["pad_left"]))


@pytest.mark.parametrize("N, J, Q, T", [(8192, 6, (8, 2), 64), (512, 6, (8, 1), 64), (4096, 3, (1, 1), 2),
                                        (2048, 4, (16, 3), 5)])
def test_filterbank_and_levels_match_kymatio_live(N, J, Q, T):
    _kymatio()
    from kymatio.scattering1d.filter_bank import scattering_filter_factory

    phi, psi1, psi2 = scattering_filter_factory(N, J, Q, T)
    bank = filters.scattering_filterbank(N, J, Q, T)
    for ours, theirs in ((bank.psi1_f, psi1), (bank.psi2_f, psi2)):
        assert len(ours) == len(theirs)
        for h, psi in zip(ours, theirs):
            for k, level in enumerate(psi["levels"]):
                assert np.abs(filters.periodize_fourier(h, 2**k) - level).max() <= 1e-13 * np.abs(level).max()
    assert bank.psi2_levels.tolist() == [len(psi["levels"]) - 1 for psi in psi2]
    assert bank.phi_levels == len(phi["levels"]) - 1
    for k, level in enumerate(phi["levels"]):
        assert np.abs(filters.periodize_fourier(bank.phi_f, 2**k) - level).max() <= 1e-13 * level.max()
    assert [p["xi"] for p in psi1] == bank.psi1_xi.tolist()
    assert [p["sigma"] for p in psi2] == bank.psi2_sigma.tolist()
    assert [p["j"] for p in psi2] == bank.psi2_j.tolist()


def test_filterbank_properties():
    N = 4096
    bank = filters.scattering_filterbank(N, 6, 8)
    freqs = np.fft.fftfreq(N)
    # Each wavelet peaks at its centre frequency, has zero mean and unit L1 norm in time.
    peaks = freqs[np.abs(bank.psi1_f).argmax(axis=1)]
    assert np.all(np.abs(peaks - bank.psi1_xi) <= 1.0 / N)
    assert np.abs(bank.psi1_f[:, 0]).max() <= 1e-12 * np.abs(bank.psi1_f).max()
    np.testing.assert_allclose(np.abs(np.fft.ifft(bank.psi1_f, axis=1)).sum(axis=1), 1.0, rtol=1e-12)
    # xi decreases, sigma does not increase, j does not decrease; phi is an even low-pass peaking at 0.
    assert np.all(np.diff(bank.psi1_xi) < 0) and np.all(np.diff(bank.psi1_sigma) <= 0)
    assert np.all(np.diff(bank.psi1_j) >= 0)
    assert bank.phi_f.argmax() == 0 and bank.phi_sigma == 0.1 / 64
    np.testing.assert_allclose(bank.phi_f[1:], bank.phi_f[1:][::-1], atol=1e-15 * bank.phi_f.max())
    # Memoised and read-only.
    assert filters.scattering_filterbank(N, 6, (8, 1), 64) is bank
    with pytest.raises(ValueError, match="read-only"):
        bank.psi1_f[0, 0] = 1.0


def test_periodize_fourier_is_the_mean_of_periods():
    h = np.arange(12.0)
    np.testing.assert_array_equal(filters.periodize_fourier(h, 3), (h[:4] + h[4:8] + h[8:]) / 3)
    with pytest.raises(ParameterError, match="n_periods=5 does not divide"):
        filters.periodize_fourier(h, 5)


@pytest.mark.parametrize("kwargs, match", [
    (dict(N=1024, J=0, Q=8), "J=0 must be a positive integer"),
    (dict(N=1024, J=6, Q=0), r"Q=0 is not allowed: Q1=0"),
    (dict(N=1024, J=6, Q=(8, 0)), r"Q=\(8, 0\) is not allowed: Q2=0"),
    (dict(N=1024, J=6, Q=8, T=0), "T=0 must be None"),
    (dict(N=0, J=6, Q=8), "N=0 must be a positive integer"),
])
def test_filterbank_rejects_bad_parameters(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        filters.scattering_filterbank(**kwargs)


# --------------------------------------------------------------------------- scattering: stored references


@pytest.mark.parametrize("name", REFERENCES)
def test_scattering_matches_stored_kymatio(reference, name):
    ref = reference(name)
    J, Q, T, max_order, _ = _params(ref)
    order = ref["meta_order"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = scattering(ref["x"], J=J, Q=Q, T=T, max_order=max_order)
    assert out.shape == ref["S"].shape and out.dtype == np.float64
    errors = _order_errors(out, ref["S"], order)
    assert max(errors.values()) <= 1e-8, errors
    # kymatio's warning for a low-pass wider than the signal, and only then.
    warned = any("Signal support is too small" in str(w.message) for w in caught)
    assert warned == any("Signal support is too small" in str(w) for w in ref["warnings"])
    # float32 in, float32 out, near the float64 reference.
    out32 = _quiet(scattering, ref["x"].astype(np.float32), J=J, Q=Q, T=T, max_order=max_order)
    assert out32.dtype == np.float32
    errors32 = _order_errors(out32, ref["S"], order)
    assert max(errors32.values()) <= 1e-5, errors32


@pytest.mark.parametrize("name", REFERENCES)
def test_meta_matches_stored_kymatio(reference, name):
    ref = reference(name)
    J, Q, T, max_order, _ = _params(ref)
    meta = scattering_meta(J=J, Q=Q, T=T, max_order=max_order)
    np.testing.assert_array_equal(meta["order"], ref["meta_order"])
    for field in ("xi", "sigma", "j", "n"):
        np.testing.assert_array_equal(meta[field], ref[f"meta_{field}"], err_msg=field)
    assert [str(key) for key in meta["key"]] == ref["meta_key"].tolist() == ref["row_key"].tolist()


# --------------------------------------------------------------------------- scattering: kymatio live

LIVE = [
    # (n_samples, J, Q, T, max_order)
    (2048, 5, 8, None, 2),
    (2048, 5, 8, None, 1),
    (3000, 6, (4, 2), None, 2),
    (3000, 6, (4, 2), 100, 1),
    (1024, 3, 1, None, 2),
    (1500, 4, (12, 3), 7, 2),
    (4096, 8, (8, 1), 512, 2),
]


@pytest.mark.parametrize("n_samples, J, Q, T, max_order", LIVE)
def test_scattering_matches_kymatio_live(rng, n_samples, J, Q, T, max_order):
    ScatteringNumPy1D = _kymatio()
    x = rng.standard_normal((2, n_samples))
    S = _quiet(ScatteringNumPy1D, J=J, shape=n_samples, Q=Q, T=T, max_order=max_order)
    expected = _quiet(S.scattering, x)
    meta = S.meta()
    out = _quiet(scattering, x, J=J, Q=Q, T=T, max_order=max_order)
    assert out.shape == expected.shape
    errors = _order_errors(out, expected, meta["order"])
    assert max(errors.values()) <= 1e-6, errors
    ours = scattering_meta(J=J, Q=Q, T=T, max_order=max_order)
    assert ours["key"] == list(meta["key"])
    for field in ("order", "xi", "sigma", "j", "n"):
        np.testing.assert_array_equal(ours[field], meta[field], err_msg=field)
    out32 = _quiet(scattering, x.astype(np.float32), J=J, Q=Q, T=T, max_order=max_order)
    errors32 = _order_errors(out32, expected, meta["order"])
    assert out32.dtype == np.float32 and max(errors32.values()) <= 1e-5, errors32


@pytest.mark.parametrize("oversampling", [1, 3])
def test_oversampling_matches_kymatio_live(rng, oversampling):
    ScatteringNumPy1D = _kymatio()
    x = rng.standard_normal(2000)
    expected = _quiet(ScatteringNumPy1D, J=5, shape=2000, Q=(4, 2), oversampling=oversampling).scattering(x)
    out = scattering(x, J=5, Q=(4, 2), oversampling=oversampling)
    assert out.shape == expected.shape
    assert np.abs(out - expected).max() <= 1e-10 * np.abs(expected).max()


# --------------------------------------------------------------------------- scattering: properties


def test_batch_is_itemwise(rng):
    y = rng.standard_normal((2, 3, 1500)).astype(np.float32)
    out = scattering(y, J=5, Q=(4, 2))
    assert out.shape[:2] == (2, 3)
    for i in range(2):
        for j in range(3):
            np.testing.assert_array_equal(out[i, j], scattering(y[i, j], J=5, Q=(4, 2)))


def test_one_signal_and_noncontiguous_input(rng):
    y = rng.standard_normal((1500, 2))[:, 0]
    out = scattering(y, J=5, Q=4)
    np.testing.assert_array_equal(out, scattering(np.ascontiguousarray(y), J=5, Q=4))
    assert out.ndim == 2 and out.shape[0] == scattering_meta(J=5, Q=4)["order"].size


def test_scattering_warns_for_second_order_wavelets_above_first_order():
    with pytest.warns(UserWarning, match=r"J=3, Q=\(1, 3\): 2 second-order paths .*xi2 >= xi1") as record:
        scattering(np.zeros(512), J=3, Q=(1, 3))
    assert record[0].filename == __file__
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scattering(np.zeros(512), J=3, Q=(1, 3), max_order=1)
        scattering(np.zeros(512), J=3, Q=(8, 2))


def test_scattering_inside_a_pool_task_runs_inline(rng):
    # A transform called from a worker of the shared pool must not wait on that pool.
    from modspec.kernels.cpu import _thread_pool

    y = rng.standard_normal((3, 1500))
    future = _thread_pool().submit(scattering, y, J=5, Q=4)
    np.testing.assert_array_equal(future.result(timeout=120), scattering(y, J=5, Q=4))


def test_scattering_of_silence_is_zero():
    out = scattering(np.zeros(1024, np.float32), J=4, Q=2)
    assert out.dtype == np.float32 and not out.any()


def test_kernels_compile_lazily():
    code = """
import numpy as np
from modspec.features.scattering import scattering
from modspec.kernels import cpu_scattering
assert cpu_scattering.all_kernels(), "no kernels found"
assert not [k for k in cpu_scattering.all_kernels() if k.signatures], "compiled at import"
scattering(np.zeros(512, np.float32), J=3, Q=1)
print(sorted(k.py_func.__name__ for k in cpu_scattering.all_kernels() if k.signatures))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "_fold" in result.stdout and "_modulus_lowpass" in result.stdout


# --------------------------------------------------------------------------- scalogram


def _direct_scalogram(y, J, Q, hop):
    """|y * psi1| at full rate with a generous reflect padding and a full-length FFT, every hop samples."""
    n = y.shape[-1]
    n_padded = 4 * 2 ** math.ceil(math.log2(n))
    pad = (n_padded - n) // 2
    padded = np.pad(y, (pad, n_padded - n - pad), mode="reflect")
    psi = filters.scattering_filterbank(n_padded, J, Q).psi1_f
    U = np.abs(np.fft.ifft(np.fft.fft(padded) * psi, axis=-1))
    return U[:, pad : pad + n : hop]


@pytest.mark.parametrize("hop_length", [1, 8])
def test_scalogram_equals_direct_formula(rng, hop_length):
    y = rng.standard_normal(3000)
    S, freqs = scalogram(y, J=6, Q=4, hop_length=hop_length)
    expected = _direct_scalogram(y, 6, 4, hop_length)
    assert S.shape == expected.shape == (filters.wavelet_geometry(6, 4).xi.size, -(-3000 // hop_length))
    assert np.abs(S - expected).max() <= 1e-12 * expected.max()
    np.testing.assert_array_equal(freqs, filters.wavelet_geometry(6, 4).xi)
    S32, _ = scalogram(y.astype(np.float32), J=6, Q=4, hop_length=hop_length)
    assert S32.dtype == np.float32 and np.abs(S32 - expected).max() <= 1e-5 * expected.max()


def test_scalogram_rows_match_first_order_paths(rng):
    # Row n is the path (n,): its time average is that of the order-1 scattering times 2**k1
    # (kymatio 0.3.0 averages |U1| at the rate 2**k1, k1 = min(j1, log2 T), with a filter
    # periodised by a mean, which divides S1 by 2**k1).
    y = rng.standard_normal(4096)
    S, _ = scalogram(y, J=6, Q=8, hop_length=64)
    S1 = scattering(y, J=6, Q=8, max_order=1)[1:]
    assert S.shape == S1.shape
    k1 = np.minimum(filters.wavelet_geometry(6, 8).j, 6)
    ratio = S.mean(axis=1) / (S1.mean(axis=1) * 2.0**k1)
    assert np.all(np.abs(ratio - 1) < 0.1), ratio


@pytest.mark.parametrize("n", [6, 15, 30])
def test_scalogram_peaks_at_the_wavelet_of_a_tone(n):
    sr = 16000
    xi = filters.wavelet_geometry(8, 8).xi
    t = np.arange(8192) / sr
    y = np.sin(2 * np.pi * xi[n] * sr * t).astype(np.float32)
    S, freqs = scalogram(y, J=8, Q=8, hop_length=16, sr=sr)
    assert S.mean(axis=-1).argmax() == n
    np.testing.assert_allclose(freqs, xi * sr)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("kwargs, match", [
    (dict(J=8), r"J=8 is too large for signals of 200 samples: the largest wavelet spans 2\*\*J = 256"),
    (dict(J=0), "J=0 must be a positive integer"),
    (dict(J=-2), "J=-2 must be a positive integer"),
    (dict(J=2.5), "J=2.5 must be a positive integer"),
    (dict(J=4, Q=0), "Q=0 is not allowed: Q1=0 must be a positive integer"),
    (dict(J=4, Q=(8, -1)), r"Q=\(8, -1\) is not allowed: Q2=-1"),
    (dict(J=4, Q=(1, 2, 3)), r"Q=\(1, 2, 3\) is not allowed"),
    (dict(J=4, T=300), r"T=300 is larger than the signal \(200 samples\)"),
    (dict(J=4, T=0), "T=0 must be None"),
    (dict(J=4, max_order=3), "max_order=3 is not supported"),
    (dict(J=4, oversampling=-1), "oversampling=-1 must be a non-negative integer"),
])
def test_scattering_rejects_bad_parameters(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        scattering(np.zeros(200), **kwargs)


def test_scattering_rejects_bad_signals():
    with pytest.raises(ParameterError, match=r"dtype int16; only float32 and float64 are accepted"):
        scattering(np.zeros(512, np.int16), J=4)
    with pytest.raises(ParameterError, match="non-finite"):
        scattering(np.full(512, np.nan), J=4)
    with pytest.raises(ParameterError, match="complex dtype"):
        scattering(np.zeros(512, np.complex64), J=4)
    with pytest.raises(ParameterError, match="must be a NumPy array"):
        scattering([0.0] * 512, J=4)


@pytest.mark.parametrize("kwargs, match", [
    (dict(J=9), "J=9 is too large for signals of 300 samples"),
    (dict(J=4, hop_length=3), "hop_length=3 must be a power of 2"),
    (dict(J=4, hop_length=512), "hop_length=512 must be a power of 2 between 1 and the signal length"),
    (dict(J=4, sr=-1), "sr=-1 must be None or a positive number"),
])
def test_scalogram_rejects_bad_parameters(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        scalogram(np.zeros(300), **kwargs)
    with pytest.raises(ParameterError, match="dtype int32"):
        scalogram(np.zeros(300, np.int32), J=4)


# --------------------------------------------------------------------------- torch module


@pytest.fixture
def nn_scattering():
    pytest.importorskip("torch", reason="torch is not installed (the 'torch' extra)")
    from modspec.nn.scattering import Scattering1D

    return Scattering1D


@pytest.mark.parametrize("n_samples, J, Q, T, max_order", [(2048, 5, (8, 2), None, 2), (1500, 4, 4, 10, 1),
                                                           (300, 5, 8, None, 2)])
def test_module_equals_function(rng, nn_scattering, n_samples, J, Q, T, max_order):
    import torch

    y = rng.standard_normal((2, 1, n_samples))
    layer = _quiet(nn_scattering, J, n_samples, Q=Q, T=T, max_order=max_order)
    out32 = layer(torch.from_numpy(y.astype(np.float32)))
    expected32 = _quiet(scattering, y.astype(np.float32), J=J, Q=Q, T=T, max_order=max_order)
    assert out32.dtype == torch.float32 and tuple(out32.shape) == expected32.shape
    assert np.abs(out32.numpy() - expected32).max() <= 1e-4 * np.abs(expected32).max()
    layer.double()
    out64 = layer(torch.from_numpy(y)).numpy()
    expected64 = _quiet(scattering, y, J=J, Q=Q, T=T, max_order=max_order)
    assert np.abs(out64 - expected64).max() <= 1e-10 * np.abs(expected64).max()
    meta = layer.meta()
    assert meta["key"] == scattering_meta(J=J, Q=Q, T=T, max_order=max_order)["key"]
    assert len(meta["key"]) == layer.n_paths == out64.shape[-2]


def test_module_buffers_and_gradcheck(nn_scattering):
    import torch

    layer = nn_scattering(3, 256, Q=2)
    assert set(dict(layer.named_buffers())) == {"psi1_f", "psi2_f", "phi_f"}
    assert layer.psi1_f.shape == (layer.psi1_f.shape[0], layer.n_padded)
    layer.double()
    np.testing.assert_array_equal(layer.phi_f.numpy(), filters.scattering_filterbank(layer.n_padded, 3, 2).phi_f)
    x = torch.randn(1, 256, dtype=torch.float64, generator=torch.Generator().manual_seed(0), requires_grad=True)
    assert torch.autograd.gradcheck(layer, (x,), fast_mode=True)
    # The modulus has a finite (zero) gradient at 0: silence does not give NaNs.
    silence = torch.zeros(1, 256, dtype=torch.float64, requires_grad=True)
    layer(silence).sum().backward()
    assert torch.isfinite(silence.grad).all()


def test_module_rejects_bad_input(nn_scattering):
    import torch

    with pytest.raises(ParameterError, match="J=9 is too large for signals of 300 samples"):
        nn_scattering(9, 300)
    with pytest.raises(ParameterError, match="shape=0 must be the signal length"):
        nn_scattering(3, 0)
    layer = nn_scattering(3, 256)
    with pytest.raises(ParameterError, match="y has 255 samples but the module was built for shape=256"):
        layer(torch.zeros(255))
    with pytest.raises(ParameterError, match="y has dtype torch.float64 but Scattering1D holds 'phi_f'"):
        layer(torch.zeros(256, dtype=torch.float64))
    with pytest.raises(ParameterError, match="y has dtype torch.int16"):
        layer(torch.zeros(256, dtype=torch.int16))
