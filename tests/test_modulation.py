"""Temporal modulation: envelopes, TMNN / (Sinc)ModNet filterbanks, instance norm, modulation spectra."""

import numpy as np
import pytest
import scipy.signal
from conftest import rel_err

import modspec.features as mf
from modspec import filters
from modspec.errors import ParameterError
from modspec.features.modulation import (
    envelope,
    instance_normalize,
    modulation_filterbank,
    modulation_sinc_filters,
    modulation_spectrum,
)

torch = pytest.importorskip("torch", reason="modspec.nn needs the torch extra")

from modspec.nn.learnable import sinc_filters
from modspec.nn.modulation import (
    InstanceNorm,
    ModulationFilterbank,
    ModulationSpectrum,
)

TOL32 = 1e-4
TOL64 = 1e-10
SR = 16000
TMNN_RATE = SR / 256  # 512-point FFT, 50 % overlap: 62.5 frames per second


def _np(x):
    return x.detach().numpy()


def _am_tone(fm, *, seconds=4.0, fc=1000.0, depth=0.5, sr=SR):
    t = np.arange(int(seconds * sr)) / sr
    return (1 + depth * np.sin(2 * np.pi * fm * t)) * np.sin(2 * np.pi * fc * t)


def _direct_filterbank(S, bank, stride, padding):
    """An independent TMNN filterbank: a loop of np.convolve with reversed taps over every row."""
    K = bank.shape[1]
    left, right = ((K - 1) // 2, K // 2) if padding == "same" else (0, 0)
    rows = S.reshape(-1, S.shape[-1])
    out = []
    for row in rows:
        padded = np.concatenate([np.zeros(left), row, np.zeros(right)])
        out.append([np.convolve(padded, h[::-1], mode="valid")[::stride] for h in bank])
    out = np.array(out)
    return out.reshape(S.shape[:-1] + out.shape[1:])


@pytest.fixture
def envelopes(rng):
    """(2, 6, 400) float64 positive band envelopes with slow and fast modulations."""
    n = np.arange(400)
    slow = 1 + 0.5 * np.sin(2 * np.pi * 3 * n / TMNN_RATE + rng.uniform(0, 6, (2, 6, 1)))
    return slow + 0.2 * rng.random((2, 6, 400))


# ---------------------------------------------------------------- envelopes


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_elementwise_envelopes(rng, dtype):
    x = rng.standard_normal((3, 2, 257)).astype(dtype)
    for kind, expected in [("abs", np.abs(x)), ("square", x * x), ("halfwave", np.where(x > 0, x, 0))]:
        out = envelope(x, kind=kind)
        assert out.dtype == dtype and out.shape == x.shape
        np.testing.assert_array_equal(out, expected.astype(dtype))
    assert np.all(envelope(x, kind="halfwave") >= 0) and np.any(x < 0)


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-6), (np.float32, 1e-5)])
def test_hilbert_envelope_of_a_tone_is_flat(dtype, tol):
    n = np.arange(4000)
    x = (0.7 * np.sin(2 * np.pi * 37 * n / 4000 + 0.3)).astype(dtype)  # 37 whole periods
    env = envelope(x, kind="hilbert")
    assert env.dtype == dtype
    assert np.max(np.abs(env[200:-200] - 0.7)) < tol
    assert np.max(np.abs(env - 0.7)) < tol  # whole periods: no edge effect at all


def test_hilbert_envelope_recovers_amplitude_modulation():
    y = _am_tone(6.0, seconds=1.0)  # every component has a whole number of periods in 1 s
    t = np.arange(y.size) / SR
    np.testing.assert_allclose(envelope(y, kind="hilbert"), 1 + 0.5 * np.sin(2 * np.pi * 6 * t), atol=1e-8)


@pytest.mark.parametrize("n", [511, 512])
def test_hilbert_envelope_equals_scipy_along_any_axis(rng, n):
    x = rng.standard_normal((n, 3))
    np.testing.assert_allclose(envelope(x, kind="hilbert", axis=0), np.abs(scipy.signal.hilbert(x, axis=0)),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(envelope(x.T, kind="hilbert"), np.abs(scipy.signal.hilbert(x.T)), rtol=1e-12,
                               atol=1e-12)


# ---------------------------------------------------------------- modulation filterbank: definition


@pytest.mark.parametrize("kernel_size", [33, 32])
@pytest.mark.parametrize("stride", [1, 160])
@pytest.mark.parametrize("padding", ["same", "valid"])
def test_filterbank_equals_direct_convolution(rng, padding, stride, kernel_size):
    S = rng.random((2, 3, 1000))
    bank = rng.standard_normal((4, kernel_size))
    out = modulation_filterbank(S, filters=bank, stride=stride, padding=padding, all_pass=True)
    direct = _direct_filterbank(S, bank, stride, padding)
    n_out = (999 // stride + 1) if padding == "same" else (1000 - kernel_size) // stride + 1
    assert out.shape == (2, 3, 5, n_out) and direct.shape == (2, 3, 4, n_out)
    np.testing.assert_allclose(out[:, :, 1:], direct, rtol=1e-10, atol=1e-10)
    # The all-pass channel is the input at the centres of the output frames.
    first = 0 if padding == "same" else (kernel_size - 1) // 2
    centres = first + stride * np.arange(n_out)
    np.testing.assert_array_equal(out[:, :, 0], S[..., centres])


@pytest.mark.parametrize("kind", ["sinc", "fir"])
def test_filterbank_designs(envelopes, kind):
    kwargs = {"n_filters": 3, "kernel_size": 41}
    out = modulation_filterbank(envelopes, frame_rate=TMNN_RATE, kind=kind, max_mod_hz=24.0, **kwargs)
    if kind == "sinc":
        bank = filters.modulation_sinc(3, 41, frame_rate=TMNN_RATE, max_mod_hz=24.0).filters
    else:
        bank = filters.modulation_fir_init(3, 41)
    np.testing.assert_allclose(out, _direct_filterbank(envelopes, bank, 1, "same"), rtol=1e-10, atol=1e-12)
    # an explicit bank overrides kind, n_filters and kernel_size; frame_rate is then optional
    np.testing.assert_array_equal(modulation_filterbank(envelopes, kind="fir", filters=bank), out)


@pytest.mark.parametrize("rectify, fn", [("relu", lambda x: np.maximum(x, 0)), ("abs", np.abs), ("square", np.square)])
def test_rectification_spares_the_all_pass_channel(envelopes, rectify, fn):
    kwargs = {"frame_rate": TMNN_RATE, "n_filters": 4, "kernel_size": 31, "all_pass": True, "min_mod_hz": 1.0}
    plain = modulation_filterbank(envelopes, **kwargs)
    rectified = modulation_filterbank(envelopes, rectify=rectify, **kwargs)
    assert np.any(plain[:, :, 1:] < 0)  # band-passes of positive envelopes do go negative
    np.testing.assert_allclose(rectified[:, :, 1:], fn(plain[:, :, 1:]), rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(rectified[:, :, 0], plain[:, :, 0])


def test_sinc_filter_passes_its_band_and_stops_far_outside():
    n = np.arange(600)
    t = n / TMNN_RATE
    S = 1 + np.cos(2 * np.pi * 6 * t) + np.cos(2 * np.pi * 25 * t)  # DC, in band, far above
    out = modulation_filterbank(S[None], frame_rate=TMNN_RATE, n_filters=1, kernel_size=101, padding="valid",
                                min_mod_hz=4.0, max_mod_hz=8.0)[0, 0]
    t_out = t[50 : 50 + out.size]  # valid: output frame n is centred on input frame n + 50
    basis = np.stack([np.ones_like(t_out)] + [f(2 * np.pi * fm * t_out) for fm in (6, 25) for f in (np.cos, np.sin)])
    coef = np.linalg.lstsq(basis.T, out, rcond=None)[0]
    gain_dc, gain_6, gain_25 = abs(coef[0]), np.hypot(*coef[1:3]), np.hypot(*coef[3:5])
    assert 0.9 < gain_6 < 1.1  # unit pass-band gain, linear phase: centred output
    assert coef[1] > 0.9  # in phase with the input (no delay)
    assert gain_25 < 0.01 and gain_dc < 0.01


# ---------------------------------------------------------------- modulation filterbank: shapes, batches, dtypes


def test_tmnn_and_sincmodnet_shapes(rng):
    S = rng.random((96, 313)).astype(np.float32)  # TMNN: 96 bands, 5 s at 62.5 frames per second
    out = modulation_filterbank(S, frame_rate=TMNN_RATE, n_filters=4, kernel_size=101, all_pass=True)
    assert out.shape == (96, 5, 313) and out.dtype == np.float32
    np.testing.assert_array_equal(out[:, 0], S)
    S = rng.random((80, 8000)).astype(np.float32)  # SincModNet: 80 bands at 1.6 kHz, 5 s
    out = modulation_filterbank(S, frame_rate=1600.0, n_filters=20, kernel_size=128, stride=160, padding="valid")
    assert out.shape == (80, 20, 50) and out.dtype == np.float32


def test_filterbank_batch_equals_items(envelopes):
    kwargs = {"frame_rate": TMNN_RATE, "n_filters": 3, "kernel_size": 21, "stride": 4, "all_pass": True, "rectify": "square"}
    batch = modulation_filterbank(envelopes, **kwargs)
    for i in range(2):
        np.testing.assert_array_equal(batch[i], modulation_filterbank(envelopes[i], **kwargs))


def test_filterbank_float32(envelopes):
    kwargs = {"frame_rate": TMNN_RATE, "n_filters": 3, "kernel_size": 21, "all_pass": True}
    out32 = modulation_filterbank(envelopes.astype(np.float32), **kwargs)
    assert out32.dtype == np.float32
    assert rel_err(out32, modulation_filterbank(envelopes, **kwargs)) <= TOL32


# ---------------------------------------------------------------- instance norm


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_instance_normalize_per_channel_per_example(rng, dtype):
    S = (rng.random((2, 3, 10, 4, 50)) * np.array([1, 10, 100, 1000])[:, None]).astype(dtype)
    Z = instance_normalize(S)
    assert Z.dtype == dtype and Z.shape == S.shape
    np.testing.assert_allclose(Z.mean(axis=(-3, -1)), 0, atol=1e-5)
    np.testing.assert_allclose(Z.var(axis=(-3, -1)), 1, rtol=1e-3)  # eps=1e-5 against variances >= 0.08
    expected = torch.nn.functional.instance_norm(torch.from_numpy(S.reshape(6, 10, 4, 50)).transpose(1, 2), eps=1e-5)
    assert rel_err(Z.reshape(6, 10, 4, 50), _np(expected.transpose(1, 2))) <= (TOL32 if dtype == np.float32 else 1e-12)


# ---------------------------------------------------------------- modulation spectrum


@pytest.mark.parametrize("fm", [6.0, 2.5, 11.0])
def test_modulation_spectrum_peaks_at_the_modulation_rate(fm):
    y = _am_tone(fm)
    spectrum, mod_freqs = modulation_spectrum(y, sr=SR)
    n_frames = 1 + y.size // 256
    assert spectrum.shape == mod_freqs.shape == (n_frames // 2 + 1,)
    np.testing.assert_allclose(mod_freqs, np.fft.rfftfreq(n_frames, 256 / SR))
    step = mod_freqs[1]
    above_dc = mod_freqs >= 1.0  # DC and the Hann window's main lobe around it (2 bins) excluded
    peak = mod_freqs[above_dc][np.argmax(spectrum[above_dc])]
    assert abs(peak - fm) <= step
    module = ModulationSpectrum(sr=SR, n_samples=y.size).double()
    out = _np(module(torch.from_numpy(y)))
    assert abs(module.mod_freqs[above_dc][np.argmax(out[above_dc])] - fm) <= step
    np.testing.assert_array_equal(module.mod_freqs, mod_freqs)


def test_modulation_spectrum_definition(rng):
    # Mel magnitudes, log(1 + C x), mean removed, periodic Hann, rfft, RMS over bands: written out here.
    y = rng.standard_normal((2, 8000)) * np.linspace(0.1, 1.0, 8000)
    M = mf.melspectrogram(y, sr=SR, n_fft=256, hop_length=100, n_mels=20, power=1.0)
    G = np.log1p(7.0 * M)
    G = (G - G.mean(axis=-1, keepdims=True)) * scipy.signal.get_window("hann", M.shape[-1], fftbins=True)
    expected = np.sqrt(np.mean(np.abs(np.fft.rfft(G, axis=-1)) ** 2, axis=-2))
    spectrum, mod_freqs = modulation_spectrum(y, sr=SR, n_fft=256, hop_length=100, n_mels=20, C=7.0)
    assert rel_err(spectrum, expected) <= 1e-12
    # the same from the envelopes
    from_S, freqs_S = modulation_spectrum(S=M, frame_rate=SR / 100, C=7.0)
    np.testing.assert_array_equal(from_S, spectrum)
    np.testing.assert_array_equal(freqs_S, mod_freqs)
    assert from_S.shape == (2, 41) and mod_freqs[-1] == pytest.approx(40 * 160 / 81)  # 81 frames at 160 Hz


def test_modulation_spectrum_options(rng):
    S = rng.random((3, 8, 100)) + 0.1
    cbrt, _ = modulation_spectrum(S=S, frame_rate=50.0, compression="cbrt", detrend=False, window=None)
    expected = np.sqrt(np.mean(np.abs(np.fft.rfft(np.cbrt(S), axis=-1)) ** 2, axis=-2))
    assert rel_err(cbrt, expected) <= 1e-12
    raw, _ = modulation_spectrum(S=S, frame_rate=50.0, compression=None, window=("kaiser", 4.0))
    G = (S - S.mean(axis=-1, keepdims=True)) * scipy.signal.get_window(("kaiser", 4.0), 100)
    assert rel_err(raw, np.sqrt(np.mean(np.abs(np.fft.rfft(G, axis=-1)) ** 2, axis=-2))) <= 1e-12
    detrended_flat, _ = modulation_spectrum(S=S, frame_rate=50.0, compression=None, window=None)
    assert np.all(detrended_flat[..., 0] < 1e-12 * detrended_flat.max())  # mean removed, no taper: DC is zero


def test_modulation_spectrum_float32_and_batches(rng):
    y = rng.standard_normal((2, 3, 8000)).astype(np.float32)
    spectrum, _ = modulation_spectrum(y, sr=SR)
    assert spectrum.dtype == np.float32 and spectrum.shape == (2, 3, 17)  # 32 frames
    assert rel_err(spectrum, modulation_spectrum(y.astype(np.float64), sr=SR)[0]) <= TOL32
    np.testing.assert_array_equal(spectrum[1, 2], modulation_spectrum(y[1, 2], sr=SR)[0])


# ---------------------------------------------------------------- torch: designers, parity


def test_torch_sinc_designer_equals_numpy():
    low, high = np.array([0.0, 3.0, 17.5]), np.array([3.0, 9.25, 31.25])
    for K in (101, 64):
        window = torch.from_numpy(np.hamming(K))
        out = sinc_filters(torch.from_numpy(low), torch.from_numpy(high), window, TMNN_RATE)
        assert rel_err(_np(out), filters._sinc_filters(low, high, K, TMNN_RATE)) <= 1e-12


@pytest.mark.parametrize("learnable", [True, False])
@pytest.mark.parametrize(
    "kind, kwargs",
    [
        ("sinc", {"n_filters": 4, "kernel_size": 101, "all_pass": True}),
        ("sinc", {"n_filters": 3, "kernel_size": 20, "stride": 3, "padding": "valid", "min_mod_hz": 2.0, "rectify": "square"}),
        ("fir", {"n_filters": 5, "kernel_size": 32, "stride": 8, "all_pass": True, "rectify": "relu"}),
        ("fir", {"n_filters": 2, "kernel_size": 7, "padding": "valid", "rectify": "abs"}),
    ],
)
def test_filterbank_module_matches_function(envelopes, kind, kwargs, learnable):
    module = ModulationFilterbank(frame_rate=TMNN_RATE, kind=kind, learnable=learnable, **kwargs)
    names = ["low_hz", "high_hz"] if kind == "sinc" else ["filters"]
    assert [name for name, _ in module.named_parameters()] == (names if learnable else [])
    assert set(module.state_dict()) == set(names) | ({"window"} if kind == "sinc" else set())
    expected64 = modulation_filterbank(envelopes, frame_rate=TMNN_RATE, kind=kind, **kwargs)
    out32 = module(torch.from_numpy(envelopes.astype(np.float32)))
    assert out32.dtype == torch.float32 and out32.shape == expected64.shape
    assert rel_err(_np(out32), modulation_filterbank(envelopes.astype(np.float32), frame_rate=TMNN_RATE, kind=kind,
                                                     **kwargs)) <= TOL32
    module.double()  # untrained: refilled from the float64 design
    assert rel_err(_np(module(torch.from_numpy(envelopes))), expected64) <= TOL64


def test_trained_sinc_module_is_reproduced_by_the_function(envelopes):
    module = ModulationFilterbank(3, 51, frame_rate=TMNN_RATE, all_pass=True).double()
    with torch.no_grad():  # push the cut-offs outside the constraints, as an optimiser might
        module.low_hz.copy_(torch.tensor([-2.0, 10.0, 31.0]))
        module.high_hz.copy_(torch.tensor([5.0, 10.1, 45.0]))
    low, high = module.cutoffs()
    bank = modulation_sinc_filters(_np(module.low_hz), _np(module.high_hz), kernel_size=51, frame_rate=TMNN_RATE)
    np.testing.assert_allclose(_np(low), bank.low_hz, rtol=0, atol=0)
    np.testing.assert_allclose(_np(high), bank.high_hz, rtol=0, atol=0)
    nyquist, min_band = TMNN_RATE / 2, TMNN_RATE / 51
    np.testing.assert_allclose(bank.low_hz, [0.0, 10.0, nyquist - min_band])
    np.testing.assert_allclose(bank.high_hz, [7.0, 10.0 + min_band, nyquist])
    assert rel_err(_np(module.filter_bank()), bank.filters) <= 1e-12
    expected = modulation_filterbank(envelopes, filters=bank.filters, all_pass=True)
    assert rel_err(_np(module(torch.from_numpy(envelopes))), expected) <= TOL64


def test_double_keeps_trained_parameters():
    module = ModulationFilterbank(2, 11, frame_rate=100.0)
    with torch.no_grad():
        module.low_hz.add_(0.1)
    module.double()
    assert module.low_hz.dtype == torch.float64 and isinstance(module.low_hz, torch.nn.Parameter)
    torch.testing.assert_close(module.low_hz, torch.tensor([0.1, 25.1], dtype=torch.float32).double())
    np.testing.assert_array_equal(_np(module.high_hz), [25.0, 50.0])  # untrained: the float64 design


def test_filterbank_module_learns(envelopes):
    module = ModulationFilterbank(2, 31, frame_rate=TMNN_RATE, min_mod_hz=1.0, max_mod_hz=20.0, rectify="square")
    module(torch.from_numpy(envelopes.astype(np.float32))).mean().backward()
    assert module.low_hz.grad.abs().min() > 0 and module.high_hz.grad.abs().min() > 0


def test_instance_norm_module_matches_function(rng):
    S = rng.random((2, 10, 4, 30)) * 5
    assert rel_err(_np(InstanceNorm()(torch.from_numpy(S.astype(np.float32)))), instance_normalize(S)) <= TOL32
    assert rel_err(_np(InstanceNorm(eps=0.1)(torch.from_numpy(S))), instance_normalize(S, eps=0.1)) <= TOL64


@pytest.mark.parametrize("kwargs", [{}, {"compression": "cbrt", "window": None, "hop_length": 100, "n_mels": 32},
                                    {"compression": None, "detrend": False, "n_fft": 400, "fmin": 50.0, "fmax": 6000.0}])
def test_modulation_spectrum_module_matches_function(rng, kwargs):
    y = rng.standard_normal((2, 12000)) * np.linspace(0.0, 1.0, 12000)
    expected32 = modulation_spectrum(y.astype(np.float32), sr=SR, **kwargs)[0]
    module = ModulationSpectrum(sr=SR, n_samples=12000, **kwargs)
    out = module(torch.from_numpy(y.astype(np.float32)))
    assert out.dtype == torch.float32 and out.shape == expected32.shape
    assert rel_err(_np(out), expected32) <= TOL32
    assert rel_err(_np(module.double()(torch.from_numpy(y))), modulation_spectrum(y, sr=SR, **kwargs)[0]) <= TOL64
    names = {"melspectrogram.mel_fb", "melspectrogram.spectrogram.window"}
    assert set(module.state_dict()) == names | ({"window"} if kwargs.get("window", "hann") else set())


# ---------------------------------------------------------------- gradients


def _gradcheck(fn, *inputs):
    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("padding, stride, rectify", [("same", 2, None), ("valid", 1, "square")])
def test_gradcheck_sinc_filterbank(rng, padding, stride, rectify):
    # cut-offs away from the constraint bounds (no kink under the finite differences)
    module = ModulationFilterbank(2, 9, frame_rate=100.0, min_mod_hz=5.0, max_mod_hz=40.0, stride=stride,
                                  padding=padding, all_pass=True, rectify=rectify).double()
    x = torch.from_numpy(rng.random((2, 3, 20))).requires_grad_()
    _gradcheck(module, x)
    params = {name: p.detach().clone().requires_grad_() for name, p in module.named_parameters()}
    _gradcheck(lambda low, high: torch.func.functional_call(module, {"low_hz": low, "high_hz": high}, (x.detach(),)),
               params["low_hz"], params["high_hz"])


def test_gradcheck_fir_filterbank(rng):
    module = ModulationFilterbank(3, 8, kind="fir", stride=3, all_pass=True).double()
    x = torch.from_numpy(rng.random((3, 25))).requires_grad_()
    _gradcheck(module, x)
    taps = module.filters.detach().clone().requires_grad_()
    _gradcheck(lambda f: torch.func.functional_call(module, {"filters": f}, (x.detach(),)), taps)


def test_gradcheck_instance_norm(rng):
    _gradcheck(InstanceNorm(), torch.from_numpy(rng.random((2, 3, 4, 5))).requires_grad_())


@pytest.mark.parametrize("compression", ["log", "cbrt"])
def test_gradcheck_modulation_spectrum(rng, compression):
    module = ModulationSpectrum(sr=8000, n_fft=64, n_mels=6, compression=compression, n_samples=256).double()
    _gradcheck(module, torch.from_numpy(rng.standard_normal(256)).requires_grad_())


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda S: envelope(np.arange(10)), r"dtype int64.*astype\(np.float32\)"),
        (lambda S: envelope(S, kind="rms"), r"kind='rms'"),
        (lambda S: envelope(S, kind="hilbert", axis=3), r"axis=3"),
        (lambda S: modulation_filterbank(S.astype(np.int16), frame_rate=62.5), r"dtype int16"),
        (lambda S: modulation_filterbank(S[0, 0], frame_rate=62.5), r"at least 2 axis"),
        (lambda S: modulation_filterbank(S), r"frame_rate=None.*kind='sinc'"),
        (lambda S: modulation_filterbank(S, frame_rate=-62.5), r"frame_rate=-62.5"),
        (lambda S: modulation_filterbank(S, frame_rate=62.5, max_mod_hz=40.0), r"max_mod_hz=40.0.*Nyquist"),
        (lambda S: modulation_filterbank(S, frame_rate=62.5, kernel_size=0), r"kernel_size=0"),
        (lambda S: modulation_filterbank(S, kind="fir", kernel_size=-3), r"kernel_size=-3"),
        (lambda S: modulation_filterbank(S, frame_rate=62.5, n_filters=0), r"n_filters=0"),
        (lambda S: modulation_filterbank(S, frame_rate=62.5, stride=0), r"stride=0"),
        (lambda S: modulation_filterbank(S, frame_rate=62.5, padding="full"), r"padding='full'"),
        (lambda S: modulation_filterbank(S, frame_rate=62.5, kind="gammatone"), r"kind='gammatone'"),
        (lambda S: modulation_filterbank(S, frame_rate=62.5, rectify="tanh"), r"rectify='tanh'"),
        (lambda S: modulation_filterbank(S, frame_rate=62.5, kernel_size=401, padding="valid"),
         r"kernel_size=401 is longer than the 400 frames"),
        (lambda S: modulation_filterbank(S, filters=np.ones(5)), r"filters has shape \(5,\)"),
        (lambda S: modulation_filterbank(S, filters=np.full((2, 3), np.nan)), r"filters contains non-finite"),
        (lambda S: modulation_filterbank(S[..., :0], kind="fir"), r"0 frames"),
        (lambda S: modulation_sinc_filters([1.0], [2.0, 3.0], kernel_size=11, frame_rate=62.5), r"same non-zero"),
        (lambda S: modulation_sinc_filters([1.0], [2.0], kernel_size=11, frame_rate=62.5, min_band_hz=40.0),
         r"min_band_hz=40.0"),
        (lambda S: instance_normalize(S[0]), r"at least 3 axis"),
        (lambda S: instance_normalize(S[None], eps=0.0), r"eps=0.0"),
        (lambda S: modulation_spectrum(), r"exactly one of y"),
        (lambda S: modulation_spectrum(S[0, 0], S=S), r"exactly one of y"),
        (lambda S: modulation_spectrum(S=S), r"frame_rate=None: with S"),
        (lambda S: modulation_spectrum(np.zeros(16000), frame_rate=62.5), r"frame_rate=62.5 goes with S"),
        (lambda S: modulation_spectrum(S=S, frame_rate=62.5, compression="sqrt"), r"compression='sqrt'"),
        (lambda S: modulation_spectrum(S=S, frame_rate=62.5, C=0.0), r"C=0.0"),
        (lambda S: modulation_spectrum(S=S[..., :1], frame_rate=62.5), r"1 frame\(s\).*at least 2"),
        (lambda S: modulation_spectrum(S=S, frame_rate=62.5, window="no-such"), r"window='no-such'"),
        (lambda S: modulation_spectrum(S=S - 2, frame_rate=62.5), r"negative values"),
        (lambda S: modulation_spectrum(np.zeros(16000), n_fft=1), r"hop_length=None"),
        (lambda S: modulation_spectrum(np.zeros(16000), fmax=9000.0), r"fmax=9000.0"),
    ],
)
def test_functions_reject_bad_input(envelopes, call, match):
    with pytest.raises(ParameterError, match=match):
        call(envelopes)


@pytest.mark.parametrize(
    "factory, match",
    [
        (lambda: ModulationFilterbank(), r"frame_rate=None.*kind='sinc'"),
        (lambda: ModulationFilterbank(frame_rate=62.5, max_mod_hz=32.0), r"max_mod_hz=32.0"),
        (lambda: ModulationFilterbank(0, frame_rate=62.5), r"n_filters=0"),
        (lambda: ModulationFilterbank(kernel_size=0, kind="fir"), r"kernel_size=0"),
        (lambda: ModulationFilterbank(kind="fir", stride=-1), r"stride=-1"),
        (lambda: ModulationFilterbank(kind="fir", padding="causal"), r"padding='causal'"),
        (lambda: ModulationFilterbank(kind="learned"), r"kind='learned'"),
        (lambda: ModulationFilterbank(kind="fir", rectify="sigmoid"), r"rectify='sigmoid'"),
        (lambda: ModulationFilterbank(64, frame_rate=62.5), r"min_band_hz=0.6188.*wider than the initial bands"),
        (lambda: ModulationFilterbank(frame_rate=62.5, min_band_hz=0.0), r"min_band_hz=0.0"),
        (lambda: InstanceNorm(eps=-1.0), r"eps=-1.0"),
        (lambda: ModulationSpectrum(n_samples=0), r"n_samples=0"),
        (lambda: ModulationSpectrum(n_samples=100), r"n_samples=100 gives 1 frame"),
        (lambda: ModulationSpectrum(compression="db", n_samples=16000), r"compression='db'"),
        (lambda: ModulationSpectrum(window="no-such", n_samples=16000), r"window='no-such'"),
        (lambda: ModulationSpectrum(sr=8000, fmax=5000.0, n_samples=16000), r"fmax=5000.0"),
    ],
)
def test_modules_reject_bad_arguments(factory, match):
    with pytest.raises(ParameterError, match=match):
        factory()


def test_modules_reject_bad_input():
    bank = ModulationFilterbank(2, 101, frame_rate=62.5, padding="valid")
    with pytest.raises(ParameterError, match=r"kernel_size=101 is longer than the 100 frames"):
        bank(torch.zeros(3, 100))
    with pytest.raises(ParameterError, match=r"at least 2 axes"):
        bank(torch.zeros(300))
    with pytest.raises(ParameterError, match=r"module\.double\(\)"):
        bank(torch.zeros(3, 300, dtype=torch.float64))
    with pytest.raises(ParameterError, match=r"torch\.from_numpy"):
        bank(np.zeros((3, 300), dtype=np.float32))
    with pytest.raises(ParameterError, match=r"dtype torch\.int64"):
        bank(torch.zeros(3, 300, dtype=torch.int64))
    with pytest.raises(ParameterError, match=r"kind='sinc' only"):
        ModulationFilterbank(kind="fir").cutoffs()
    with pytest.raises(ParameterError, match=r"at least 3 axes"):
        InstanceNorm()(torch.zeros(4, 5))
    spectrum = ModulationSpectrum(n_samples=16000)
    with pytest.raises(ParameterError, match=r"built for n_samples=16000 \(63 frames\); build it with n_samples=8000"):
        spectrum(torch.zeros(8000))
    assert spectrum(torch.zeros(16100)).shape == (32,)  # 16100 samples also give 63 frames
