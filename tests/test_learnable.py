"""Sinc and harmonic front ends: modspec.features against independent formulas, modspec.nn against features."""

import numpy as np
import pytest

import modspec.features as mf
from modspec import ParameterError, filters

torch = pytest.importorskip("torch")
import modspec.nn as mn
from modspec.nn.learnable import harmonic_weights, sinc_filters

SR = 16000


def _sinc_bank_by_hand(low_hz, high_hz, kernel_size, sr):
    """SincNet's g[n] = 2 f2 sinc(2 pi f2 n) - 2 f1 sinc(2 pi f1 n), sinc(x) = sin x / x, Hamming-windowed."""
    n = np.arange(kernel_size) - (kernel_size - 1) / 2
    bank = []
    for f1, f2 in zip(np.asarray(low_hz) / sr, np.asarray(high_hz) / sr):
        g = []
        for t in n:
            if t == 0:
                g.append(2 * f2 - 2 * f1)
            else:
                g.append(np.sin(2 * np.pi * f2 * t) / (np.pi * t) - np.sin(2 * np.pi * f1 * t) / (np.pi * t))
        window = 0.54 - 0.46 * np.cos(2 * np.pi * np.arange(kernel_size) / (kernel_size - 1))
        bank.append(np.array(g) * window)
    return np.array(bank)


def _strided_conv_by_hand(y, bank, stride):
    """Valid cross-correlation of a 1-D signal with each filter, every ``stride`` samples."""
    full = np.array([np.correlate(y, g, mode="valid") for g in bank])
    return full[:, ::stride]


@pytest.mark.parametrize("kernel_size, stride", [(64, 10), (31, 1), (16, 40)])
def test_sinc_filterbank_equals_direct_convolution(rng, kernel_size, stride):
    y = rng.standard_normal(1500)
    out = mf.sinc_filterbank(y, SR, n_filters=12, kernel_size=kernel_size, stride=stride)
    bank = filters.sinc_bandpass(12, kernel_size, sr=SR)
    expected = _strided_conv_by_hand(y, _sinc_bank_by_hand(bank.low_hz, bank.high_hz, kernel_size, SR), stride)
    assert out.shape == expected.shape == (12, (1500 - kernel_size) // stride + 1)
    np.testing.assert_allclose(out, expected, atol=1e-12 * np.abs(expected).max())


def test_sinc_filterbank_vahidi_layer_shape_and_dtype(rng):
    y = rng.standard_normal((2, 5 * SR)).astype(np.float32)
    out = mf.sinc_filterbank(y, SR)
    assert out.shape == (2, 80, 7975)  # 1-80-256-10 on 5 s at 16 kHz
    assert out.dtype == np.float32
    reference = mf.sinc_filterbank(y.astype(np.float64), SR)
    assert np.abs(out - reference).max() <= 1e-5 * np.abs(reference).max()


def test_sinc_filterbank_selects_the_band_of_a_tone():
    t = np.arange(SR) / SR
    bank = filters.sinc_bandpass(40, 256, sr=SR)
    for k in (5, 20, 35):
        centre = np.sqrt(bank.low_hz[k] * bank.high_hz[k])
        out = mf.sinc_filterbank(np.sin(2 * np.pi * centre * t), SR, n_filters=40, rectify="square")
        assert out.mean(axis=-1).argmax() == k


@pytest.mark.parametrize("rectify, function", [("relu", lambda x: np.maximum(x, 0)), ("abs", np.abs),
                                               ("square", np.square)])
def test_sinc_filterbank_rectification(rng, rectify, function):
    y = rng.standard_normal(4000)
    linear = mf.sinc_filterbank(y, SR, n_filters=8)
    np.testing.assert_allclose(mf.sinc_filterbank(y, SR, n_filters=8, rectify=rectify), function(linear),
                               rtol=1e-12, atol=1e-14)


def test_sinc_filterbank_batch_equals_items(rng):
    y = rng.standard_normal((2, 3, 3000))
    out = mf.sinc_filterbank(y, SR, n_filters=10)
    for index in np.ndindex(2, 3):
        np.testing.assert_allclose(out[index], mf.sinc_filterbank(y[index], SR, n_filters=10), rtol=1e-12, atol=1e-14)


def test_sinc_filterbank_explicit_cutoffs(rng):
    y = rng.standard_normal(2000)
    low, high = np.array([100.0, 1000.0, 3000.0]), np.array([300.0, 2000.0, 7000.0])
    out = mf.sinc_filterbank(y, SR, kernel_size=101, stride=5, low_hz=low, high_hz=high)
    expected = _strided_conv_by_hand(y, _sinc_bank_by_hand(low, high, 101, SR), 5)
    np.testing.assert_allclose(out, expected, atol=1e-12 * np.abs(expected).max())


@pytest.mark.parametrize("kwargs, match", [
    ({"low_hz": [100.0, 9000.0], "high_hz": [200.0, 9500.0]}, "Nyquist"),
    ({"low_hz": [-5.0], "high_hz": [200.0]}, "low_hz=-5.0"),
    ({"low_hz": [500.0], "high_hz": [400.0]}, "f1 < f2"),
    ({"kernel_size": 0}, "kernel_size=0"),
    ({"n_filters": -3}, "n_filters=-3"),
    ({"stride": 0}, "stride=0"),
    ({"rectify": "tanh"}, "rectify='tanh'"),
    ({"kernel_size": 5000}, "fewer than kernel_size=5000"),
])
def test_sinc_filterbank_rejects_bad_input(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        mf.sinc_filterbank(np.zeros(4000), SR, **kwargs)


def test_sinc_filterbank_rejects_integer_audio():
    with pytest.raises(ParameterError, match="int16"):
        mf.sinc_filterbank(np.zeros(4000, dtype=np.int16), SR)


# ---------------------------------------------------------------- harmonic spectrogram


def _won_harmonic_spectrogram(y, sr, n_fft, hop, n_harmonic, semitone_scale, Q):
    """Won et al.'s HarmonicSTFT written out: librosa-style STFT, triangles, 10 log10(max(x, 1e-10))."""
    librosa = pytest.importorskip("librosa")
    power = np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop, window="hann", center=True,
                                pad_mode="constant")) ** 2
    high_midi = int(np.round(12 * np.log2(sr / (2 * n_harmonic) / 440.0) + 69))
    level = (high_midi - 24) * semitone_scale
    midi = np.linspace(24, high_midi, level + 1)[:-1]
    f0 = 440.0 * 2 ** ((midi - 69) / 12)
    centres = np.concatenate([f0 * (h + 1) for h in range(n_harmonic)])
    bandwidth = (0.1079 * centres + 24.7) / Q
    bins = np.linspace(0, sr // 2, n_fft // 2 + 1)[:, None]
    up = bins * (2 / bandwidth) + 1 - 2 * centres / bandwidth
    down = bins * (-2 / bandwidth) + 1 + 2 * centres / bandwidth
    fb = np.maximum(0, np.minimum(up, down))  # (n_freq, n_harmonic * level)
    spec = fb.T @ power
    return 10 * np.log10(np.maximum(spec, 1e-10)).reshape(n_harmonic, level, -1)


@pytest.mark.parametrize("n_harmonic, Q", [(6, 1.0), (1, 1.0), (3, 0.7)])
def test_harmonic_spectrogram_equals_won_et_al(rng, n_harmonic, Q):
    y = rng.standard_normal(SR)
    out = mf.harmonic_spectrogram(y, SR, n_harmonic=n_harmonic, Q=Q)
    expected = _won_harmonic_spectrogram(y, SR, 512, 256, n_harmonic, 2, Q)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, atol=1e-8)


def test_harmonic_spectrogram_tmnn_shape_dtype_and_linear_output(rng):
    y = rng.standard_normal((2, 5 * SR)).astype(np.float32)
    out = mf.harmonic_spectrogram(y, SR)
    assert out.shape == (2, 6, 128, 313) and out.dtype == np.float32
    linear = mf.harmonic_spectrogram(y, SR, db=False)
    np.testing.assert_allclose(out, 10 * np.log10(np.maximum(linear, 1e-10)), atol=1e-3)


def test_harmonic_spectrogram_tone_lights_its_band():
    f0 = filters.harmonic_f0(sr=SR)
    t = np.arange(SR) / SR
    for band in (40, 70):
        # A long FFT resolves the narrow low triangles (~36 Hz wide at 100 Hz).
        out = mf.harmonic_spectrogram(np.sin(2 * np.pi * f0[band] * t), SR, n_fft=8192, db=False)
        # The fundamental's own band and harmonic 1; harmonic 2 of the band an octave lower.
        assert out[0].mean(axis=-1).argmax() == band
        assert out[1].mean(axis=-1).argmax() == band - 24


def test_harmonic_spectrogram_explicit_f0(rng):
    y = rng.standard_normal(8000)
    f0 = filters.harmonic_f0(sr=SR)
    np.testing.assert_allclose(mf.harmonic_spectrogram(y, SR, f0=f0), mf.harmonic_spectrogram(y, SR), atol=1e-12)
    shifted = mf.harmonic_spectrogram(y, SR, f0=f0[:10] * 1.01)
    assert shifted.shape == (6, 10, 32)


@pytest.mark.parametrize("kwargs, match", [
    ({"Q": 0.0}, "Q=0.0"),
    ({"n_harmonic": 0}, "n_harmonic=0"),
    ({"f0": [100.0, -1.0]}, "f0"),
    ({"power": -1.0}, "power=-1.0"),
    ({"n_fft": 0}, "n_fft=0"),
])
def test_harmonic_spectrogram_rejects_bad_input(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        mf.harmonic_spectrogram(np.zeros(4000), SR, **kwargs)


# ---------------------------------------------------------------- torch modules


def test_torch_designers_equal_numpy_designers():
    bank = filters.sinc_bandpass(20, 101, sr=SR)
    window = torch.tensor(np.hamming(101), dtype=torch.float64)
    taps = sinc_filters(torch.tensor(bank.low_hz), torch.tensor(bank.high_hz), window, SR)
    np.testing.assert_allclose(taps.numpy(), bank.filters, atol=1e-15)
    harmonic = filters.harmonic(sr=SR, n_fft=512, Q=1.7)
    weights = harmonic_weights(torch.tensor(harmonic.center_hz[0]), torch.tensor(1.7, dtype=torch.float64),
                               torch.tensor(filters.harmonic_fft_frequencies(SR, 512)), 6)
    np.testing.assert_allclose(weights.numpy(), harmonic.weights, atol=1e-12)


@pytest.mark.parametrize("rectify", [None, "relu", "square"])
@pytest.mark.parametrize("learnable", [True, False])
def test_sinc_conv_matches_features_float32(rng, rectify, learnable):
    y = rng.standard_normal((2, 8000)).astype(np.float32)
    layer = mn.SincConv(rectify=rectify, learnable=learnable)
    with torch.no_grad():
        out = layer(torch.from_numpy(y)).numpy()
    low, high = (t.detach().numpy() for t in layer.cutoffs())
    expected = mf.sinc_filterbank(y.astype(np.float64), SR, low_hz=low, high_hz=high, rectify=rectify)
    assert out.shape == expected.shape == (2, 80, 775)
    assert np.abs(out - expected).max() <= 1e-4 * np.abs(expected).max()
    # The initial cut-offs are the NumPy design's.
    np.testing.assert_allclose(low, filters.sinc_bandpass(80, 256, sr=SR).low_hz, rtol=1e-6)


def test_sinc_conv_float64_and_constraints(rng):
    y = rng.standard_normal(3000)
    layer = mn.SincConv(16, 65, 4, sr=SR).double()
    with torch.no_grad():
        layer.low_hz[0] = 10.0  # below min_low_hz
        layer.high_hz[1] = layer.low_hz[1] - 5.0  # crossed
        layer.low_hz[2] = 7990.0  # too close to Nyquist
        out = layer(torch.from_numpy(y)).numpy()
    low, high = (t.detach().numpy() for t in layer.cutoffs())
    expected_low, expected_high = filters.sinc_constraints(layer.low_hz.detach().numpy(),
                                                           layer.high_hz.detach().numpy(), sr=SR)
    np.testing.assert_allclose(low, expected_low, rtol=1e-15)
    np.testing.assert_allclose(high, expected_high, rtol=1e-15)
    assert np.all(low >= 50) and np.all(high - low >= 50 - 1e-9) and np.all(high <= SR / 2)
    expected = mf.sinc_filterbank(y, SR, kernel_size=65, stride=4, low_hz=low, high_hz=high)
    np.testing.assert_allclose(out, expected, atol=1e-10 * np.abs(expected).max())


def test_sinc_conv_learns_its_cutoffs(rng):
    layer = mn.SincConv(8, 64, 8, sr=SR, rectify="square")
    assert {name for name, _ in layer.named_parameters()} == {"low_hz", "high_hz"}
    assert "window" in dict(layer.named_buffers())
    loss = layer(torch.from_numpy(rng.standard_normal(2000).astype(np.float32))).mean()
    loss.backward()
    assert torch.all(torch.isfinite(layer.low_hz.grad)) and layer.high_hz.grad.abs().sum() > 0
    fixed = mn.SincConv(8, 64, 8, sr=SR, learnable=False)
    assert list(fixed.parameters()) == [] and {"low_hz", "high_hz"} <= set(dict(fixed.named_buffers()))


@pytest.mark.parametrize("learn_f0", [False, True])
@pytest.mark.parametrize("n_harmonic", [6, 1])
def test_harmonic_spectrogram_module_matches_features(rng, learn_f0, n_harmonic):
    y = rng.standard_normal((2, 8000)).astype(np.float32)
    module = mn.HarmonicSpectrogram(sr=SR, n_harmonic=n_harmonic, Q=1.3, learn_f0=learn_f0)
    with torch.no_grad():
        out = module(torch.from_numpy(y)).numpy()
    f0 = module.f0.detach().double().numpy()
    expected = mf.harmonic_spectrogram(y.astype(np.float64), SR, n_harmonic=n_harmonic, Q=float(module.Q.detach()), f0=f0)
    assert out.shape == expected.shape
    # dB: compare where the power is well above the floor.
    np.testing.assert_allclose(out, expected, atol=1e-3)
    module64 = mn.HarmonicSpectrogram(sr=SR, n_harmonic=n_harmonic, Q=1.3, learn_Q=False).double()
    with torch.no_grad():
        out64 = module64(torch.from_numpy(y.astype(np.float64))).numpy()
    expected64 = mf.harmonic_spectrogram(y.astype(np.float64), SR, n_harmonic=n_harmonic, Q=1.3)
    np.testing.assert_allclose(out64, expected64, atol=1e-9)


def test_harmonic_spectrogram_parameters_and_buffers():
    module = mn.HarmonicSpectrogram(sr=SR, learn_f0=True)
    assert {name for name, _ in module.named_parameters()} == {"Q", "f0"}
    fixed = mn.HarmonicSpectrogram(sr=SR, learn_Q=False)
    assert {name for name, _ in fixed.named_parameters()} == set()
    assert {"Q", "f0", "fft_freqs", "spectrogram.window"} <= set(dict(fixed.named_buffers()))


def test_gradcheck_sinc_conv(rng):
    layer = mn.SincConv(3, 17, 3, sr=SR, min_low_hz=10.0, min_band_hz=10.0).double()
    y = torch.tensor(rng.standard_normal((2, 64)), requires_grad=True)
    low = layer.low_hz.detach().clone().requires_grad_(True)
    high = layer.high_hz.detach().clone().requires_grad_(True)

    def run(y, low, high):
        return torch.func.functional_call(layer, {"low_hz": low, "high_hz": high}, (y,))

    assert torch.autograd.gradcheck(run, (y, low, high))


def test_gradcheck_harmonic_spectrogram(rng):
    # 38 bands of 2 harmonics up to 200 Hz: small enough for a full Jacobian.
    module = mn.HarmonicSpectrogram(sr=400, n_fft=32, hop_length=16, n_harmonic=2, Q=0.5, learn_f0=True).double()
    y = torch.tensor(rng.standard_normal(96), requires_grad=True)
    params = {"Q": module.Q.detach().clone().requires_grad_(True),
              "f0": module.f0.detach().clone().requires_grad_(True)}

    def run(y, Q, f0):
        return torch.func.functional_call(module, {"Q": Q, "f0": f0}, (y,))

    assert torch.autograd.gradcheck(run, (y, params["Q"], params["f0"]))


def test_modules_reject_bad_input():
    with pytest.raises(ParameterError, match="rectify='tanh'"):
        mn.SincConv(rectify="tanh")
    with pytest.raises(ParameterError, match="Nyquist|sr/2"):
        mn.SincConv(sr=16000, fmax=9000.0)
    with pytest.raises(ParameterError, match="fewer than kernel_size=256"):
        mn.SincConv()(torch.zeros(100))
    with pytest.raises(ParameterError, match="float64"):
        mn.SincConv()(torch.zeros(1000, dtype=torch.float64))
    with pytest.raises(ParameterError, match="Q=-1"):
        mn.HarmonicSpectrogram(Q=-1.0)
