"""modspec.nn: torch modules agree with modspec.features, differentiate, and validate."""

import subprocess
import sys
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="modspec.nn needs the torch extra")

import modspec.features as mf  # noqa: E402
import modspec.nn as mn  # noqa: E402
from conftest import rel_err  # noqa: E402
from nn_cases import NN_NAMES, nn_cases  # noqa: E402
from modspec import filters  # noqa: E402
from modspec.errors import ParameterError  # noqa: E402

TOL32 = 1e-4
TOL64 = 1e-10
SR = 16000
STFT = dict(n_fft=512, hop_length=128)


@pytest.fixture
def signal(rng):
    """A (2, 3, n) float32 batch of noise plus tones of very different levels."""
    t = np.arange(4000) / SR
    tones = np.sin(2 * np.pi * 440.0 * t) + 1e-3 * np.sin(2 * np.pi * 3000.0 * t)
    return (0.1 * rng.standard_normal((2, 3, t.size)) + tones).astype(np.float32)


def _np(x):
    return x.detach().numpy()


# ---------------------------------------------------------------- import


def test_import_modspec_does_not_import_torch():
    code = "import sys, modspec, modspec.features, modspec.filters; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_missing_torch_names_the_extra(monkeypatch):
    for name in [m for m in sys.modules if m == "modspec.nn" or m.startswith("modspec.nn.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    with pytest.raises(ImportError, match=r"modspec\.nn needs PyTorch: pip install 'modspec\[torch\]'"):
        import modspec.nn  # noqa: F401


def test_exports():
    assert {"Spectrogram", "MelSpectrogram", "AmplitudeToDB", "LogCompression", "Standardize", "SincConv",
            "HarmonicSpectrogram"} <= set(mn.__all__)
    assert all(hasattr(mn, name) for name in mn.__all__)


# ---------------------------------------------------------------- Spectrogram


@pytest.mark.parametrize("power", [1.0, 2.0, 1.5, None])
@pytest.mark.parametrize("pad_mode", ["constant", "reflect"])
@pytest.mark.parametrize("center", [True, False])
def test_spectrogram_matches_features_float32(signal, center, pad_mode, power):
    module = mn.Spectrogram(center=center, pad_mode=pad_mode, power=power, **STFT)
    out = module(torch.from_numpy(signal))
    kwargs = dict(center=center, pad_mode=pad_mode, **STFT)
    expected = mf.stft(signal, **kwargs) if power is None else mf.spectrogram(signal, power=power, **kwargs)
    assert out.shape == expected.shape == (2, 3, 257, 1 + (4000 if center else 4000 - 512) // 128)
    assert out.dtype == (torch.complex64 if power is None else torch.float32)
    assert rel_err(_np(out), expected) <= TOL32


def test_spectrogram_pad_mode_is_used(signal):
    y = torch.from_numpy(signal)
    constant = mn.Spectrogram(pad_mode="constant", **STFT)(y)
    reflect = mn.Spectrogram(pad_mode="reflect", **STFT)(y)
    assert not torch.allclose(constant[..., 0], reflect[..., 0])  # edge frames differ
    torch.testing.assert_close(constant[..., 5:-5], reflect[..., 5:-5])  # interior frames do not


@pytest.mark.parametrize("window, win_length", [("hamming", 400), (("kaiser", 8.0), None), ("hann", 300)])
def test_spectrogram_window_and_win_length(signal, window, win_length):
    module = mn.Spectrogram(n_fft=512, hop_length=100, win_length=win_length, window=window)
    expected = mf.spectrogram(signal, n_fft=512, hop_length=100, win_length=win_length, window=window)
    assert rel_err(_np(module(torch.from_numpy(signal))), expected) <= TOL32


def test_spectrogram_default_hop_and_1d_input(signal):
    module = mn.Spectrogram(n_fft=256)
    assert module.hop_length == 64
    y = signal[0, 0]
    out = module(torch.from_numpy(y))
    assert out.shape == (129, 1 + 4000 // 64)
    assert rel_err(_np(out), mf.spectrogram(y, n_fft=256)) <= TOL32


@pytest.mark.parametrize("n_samples", [2, 5, 100])
def test_spectrogram_reflect_shorter_than_padding(rng, n_samples):
    # n_fft // 2 >= n_samples: np.pad reflects repeatedly, torch.stft alone refuses.
    y = rng.standard_normal((2, n_samples))
    module = mn.Spectrogram(n_fft=256, hop_length=16, pad_mode="reflect", power=None).double()
    with pytest.warns(UserWarning, match="too large"):
        out = module(torch.from_numpy(y))
    with pytest.warns(UserWarning, match="too large"):
        expected = mf.stft(y, n_fft=256, hop_length=16, pad_mode="reflect")
    assert rel_err(_np(out), expected) <= TOL64


def test_spectrogram_batched_equals_items(signal):
    module = mn.Spectrogram(**STFT)
    batch = module(torch.from_numpy(signal))
    items = torch.stack([module(torch.from_numpy(item)) for item in signal.reshape(6, -1)])
    torch.testing.assert_close(batch.reshape(items.shape), items, rtol=0, atol=0)


# ---------------------------------------------------------------- MelSpectrogram


@pytest.mark.parametrize("power", [1.0, 2.0])
@pytest.mark.parametrize("htk, norm", [(False, "slaney"), (True, "slaney"), (True, None), (False, 2.0)])
@pytest.mark.parametrize("center, pad_mode", [(True, "constant"), (True, "reflect"), (False, "constant")])
def test_melspectrogram_matches_features_float32(signal, htk, norm, center, pad_mode, power):
    kwargs = dict(
        sr=SR, n_fft=512, hop_length=256, n_mels=64, fmin=30.0, fmax=7000.0, htk=htk, norm=norm,
        center=center, pad_mode=pad_mode, power=power,
    )
    out = mn.MelSpectrogram(**kwargs)(torch.from_numpy(signal))
    expected = mf.melspectrogram(signal, **kwargs)
    assert out.shape == expected.shape and out.dtype == torch.float32
    assert rel_err(_np(out), expected) <= TOL32


def test_melspectrogram_defaults_match_features(rng):
    y = rng.standard_normal((2, 22050)).astype(np.float32)
    module = mn.MelSpectrogram()
    assert module.mel_fb.shape == (128, 1025)
    assert rel_err(_np(module(torch.from_numpy(y))), mf.melspectrogram(y)) <= TOL32


# ---------------------------------------------------------------- AmplitudeToDB


@pytest.fixture
def power_spec(signal):
    return mf.spectrogram(signal, **STFT)  # (2, 3, 257, 32), spans well over 80 dB


@pytest.mark.parametrize("top_db", [80.0, 40.0, None])
@pytest.mark.parametrize("ref", [1.0, 0.5, "max"])
def test_power_to_db_matches_features(power_spec, ref, top_db):
    out = mn.AmplitudeToDB("power", ref=ref, top_db=top_db)(torch.from_numpy(power_spec))
    expected = mf.power_to_db(power_spec, ref=np.max if ref == "max" else ref, top_db=top_db)
    assert out.dtype == torch.float32
    assert rel_err(_np(out), expected) <= TOL32
    if top_db is not None:  # the clipping acts, per spectrogram
        floor = expected.max(axis=(-2, -1), keepdims=True) - top_db
        assert np.any(np.isclose(expected, floor)) and np.all(expected >= floor - 1e-3)


@pytest.mark.parametrize("top_db", [80.0, None])
@pytest.mark.parametrize("ref", [1.0, 0.5, "max"])
def test_amplitude_to_db_matches_features(power_spec, ref, top_db):
    magnitude = np.sqrt(power_spec)
    out = mn.AmplitudeToDB("magnitude", ref=ref, top_db=top_db)(torch.from_numpy(magnitude))
    expected = mf.amplitude_to_db(magnitude, ref=np.max if ref == "max" else ref, top_db=top_db)
    assert rel_err(_np(out), expected) <= TOL32


def test_amplitude_to_db_complex_input(signal):
    D = mf.stft(signal, **STFT)
    out = mn.AmplitudeToDB("magnitude", ref="max")(torch.from_numpy(D))
    assert out.dtype == torch.float32
    assert rel_err(_np(out), mf.amplitude_to_db(D, ref=np.max)) <= TOL32


def test_db_is_per_spectrogram(power_spec):
    # ref='max' and top_db reduce over each item's last two axes: batch == items one by one.
    power_spec = power_spec * np.array([1.0, 1e3, 1e-3], dtype=np.float32)[None, :, None, None]
    module = mn.AmplitudeToDB(ref="max", top_db=60.0)
    batch = module(torch.from_numpy(power_spec))
    for i in range(2):
        for j in range(3):
            torch.testing.assert_close(batch[i, j], module(torch.from_numpy(power_spec[i, j])))
    assert torch.allclose(batch.amax(dim=(-2, -1)), torch.zeros(2, 3), atol=1e-5)


def test_db_default_amin_by_stype():
    assert mn.AmplitudeToDB("power").amin == 1e-10
    assert mn.AmplitudeToDB("magnitude").amin == 1e-5
    S = torch.zeros(3, 4)
    assert torch.all(mn.AmplitudeToDB("power", top_db=None)(S) == -100.0)
    assert torch.all(mn.AmplitudeToDB("magnitude", top_db=None)(S) == -100.0)


# ---------------------------------------------------------------- LogCompression, Standardize


@pytest.mark.parametrize("C", [10000.0, 1.0, 0.1])
def test_log_compression_matches_features(power_spec, C):
    out = mn.LogCompression(C=C)(torch.from_numpy(power_spec))
    assert out.dtype == torch.float32
    assert rel_err(_np(out), mf.log_compress(power_spec, C=C)) <= TOL32


def test_log_compression_learnable(power_spec):
    fixed, learnable = mn.LogCompression(), mn.LogCompression(C=10000.0, learnable=True)
    assert isinstance(learnable.C, torch.nn.Parameter) and learnable.C.requires_grad
    assert not isinstance(fixed.C, torch.nn.Parameter) and "C" in dict(fixed.named_buffers())
    assert [name for name, _ in learnable.named_parameters()] == ["C"]
    x = torch.from_numpy(power_spec)
    torch.testing.assert_close(learnable(x), fixed(x))
    learnable(x).sum().backward()
    assert learnable.C.grad is not None and learnable.C.grad > 0


@pytest.mark.parametrize("mode", ["sample", "frequency"])
def test_standardize_statistics_of_input_matches_features(power_spec, mode):
    S = mf.power_to_db(power_spec)
    out = mn.Standardize(mode=mode)(torch.from_numpy(S))
    expected = mf.standardize(S, mode=mode)
    assert out.dtype == torch.float32 and out.shape == S.shape
    assert rel_err(_np(out), expected) <= TOL32


@pytest.mark.parametrize("mode", ["sample", "frequency"])
def test_standardize_given_statistics_matches_features(power_spec, rng, mode):
    S = mf.power_to_db(power_spec)
    if mode == "frequency":
        mean, std = rng.normal(-40, 5, 257), rng.uniform(5, 20, 257)
    else:
        mean, std = -42.5, 17.25
    module = mn.Standardize(mode=mode, mean=mean, std=std)
    assert set(module.state_dict()) == {"mean", "std"}
    # compare against the functional API given the module's own (float32) statistics
    out = module(torch.from_numpy(S))
    expected = mf.standardize(S, mode=mode, mean=_np(module.mean), std=_np(module.std))
    assert rel_err(_np(out), expected) <= TOL32
    with pytest.raises(AssertionError):  # the statistics are used, not the input's
        torch.testing.assert_close(out, mn.Standardize(mode=mode)(torch.from_numpy(S)))


# ---------------------------------------------------------------- float64


def test_float64_modules_match_features_float64(signal):
    y = signal.astype(np.float64)
    yt = torch.from_numpy(y)
    spec = mn.Spectrogram(pad_mode="reflect", power=1.0, **STFT).double()
    assert spec.window.dtype == torch.float64
    out = spec(yt)
    assert out.dtype == torch.float64
    assert rel_err(_np(out), mf.spectrogram(y, pad_mode="reflect", power=1.0, **STFT)) <= TOL64

    mel_kwargs = dict(sr=SR, n_fft=512, hop_length=256, n_mels=40, htk=True)
    mel = mn.MelSpectrogram(**mel_kwargs).double()
    M = mf.melspectrogram(y, **mel_kwargs)
    assert rel_err(_np(mel(yt)), M) <= TOL64

    Mt = torch.from_numpy(M)
    for ref in (1.0, "max"):
        db = mn.AmplitudeToDB(ref=ref, top_db=70.0).double()(Mt)
        assert db.dtype == torch.float64
        assert rel_err(_np(db), mf.power_to_db(M, ref=np.max if ref == "max" else ref, top_db=70.0)) <= TOL64
    mag_db = mn.AmplitudeToDB("magnitude", ref="max")(torch.sqrt(Mt))
    assert rel_err(_np(mag_db), mf.amplitude_to_db(np.sqrt(M), ref=np.max)) <= TOL64

    log = mn.LogCompression(C=0.1).double()  # 0.1 is not a float32: the buffer is refilled in float64
    assert rel_err(_np(log(Mt)), mf.log_compress(M, C=0.1)) <= TOL64

    mean, std = np.linspace(-1.1, 1.3, 40), np.linspace(0.3, 2.9, 40)
    standardize = mn.Standardize("frequency", mean=mean, std=std).double()
    assert rel_err(_np(standardize(Mt)), mf.standardize(M, mode="frequency", mean=mean, std=std)) <= TOL64
    assert rel_err(_np(mn.Standardize("sample")(Mt)), mf.standardize(M, mode="sample")) <= TOL64


# ---------------------------------------------------------------- buffers, state_dict, dtype


def test_buffers_in_state_dict():
    mel = mn.MelSpectrogram(sr=SR, n_fft=512, n_mels=40)
    assert set(mel.state_dict()) == {"mel_fb", "spectrogram.window"}
    assert set(dict(mel.named_buffers())) == {"mel_fb", "spectrogram.window"}
    assert mel.mel_fb.shape == (40, 257) and mel.spectrogram.window.shape == (512,)
    assert set(mn.Spectrogram(n_fft=64).state_dict()) == {"window"}
    assert set(mn.LogCompression().state_dict()) == {"C"}
    assert set(mn.LogCompression(learnable=True).state_dict()) == {"C"}
    assert set(mn.Standardize().state_dict()) == set()
    assert list(mn.AmplitudeToDB().state_dict()) == []
    np.testing.assert_array_equal(
        _np(mel.mel_fb), filters.mel(sr=SR, n_fft=512, n_mels=40, dtype=np.float64).astype(np.float32)
    )


def test_buffers_follow_module_dtype():
    mel = mn.MelSpectrogram(sr=SR, n_fft=512, n_mels=40)
    assert mel.mel_fb.dtype == mel.spectrogram.window.dtype == torch.get_default_dtype() == torch.float32
    mel.double()
    assert mel.mel_fb.dtype == mel.spectrogram.window.dtype == torch.float64
    # refilled from the float64 design, not widened from float32
    np.testing.assert_array_equal(_np(mel.mel_fb), filters.mel(sr=SR, n_fft=512, n_mels=40, dtype=np.float64))
    np.testing.assert_array_equal(_np(mel.spectrogram.window), filters.get_window("hann", 512))
    mel.float()
    assert mel.mel_fb.dtype == torch.float32
    with pytest.raises(ParameterError, match=r"module\.double\(\)"):
        mel(torch.zeros(1000, dtype=torch.float64))


def test_default_dtype_float64_gives_float64_buffers():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        mel = mn.MelSpectrogram(sr=SR, n_fft=512, n_mels=40)
        standardize = mn.Standardize(mean=1.0, std=2.0)
    finally:
        torch.set_default_dtype(previous)
    assert mel.mel_fb.dtype == mel.spectrogram.window.dtype == standardize.mean.dtype == torch.float64


def test_changed_buffers_survive_dtype_conversion():
    module = mn.Standardize("frequency", mean=np.zeros(5), std=np.ones(5))
    module.load_state_dict({"mean": torch.full((5, 1), 0.1), "std": torch.full((5, 1), 3.0)})
    module.double()
    assert module.mean.dtype == torch.float64
    torch.testing.assert_close(module.mean, torch.full((5, 1), 0.1, dtype=torch.float32).double())
    torch.testing.assert_close(module.std, torch.full((5, 1), 3.0, dtype=torch.float64))


# ---------------------------------------------------------------- gradients


def _gradcheck(module, x, fast_mode=False):
    assert torch.autograd.gradcheck(module, (x,), eps=1e-6, atol=1e-5, rtol=1e-4, fast_mode=fast_mode)


GRAD_STFT = dict(n_fft=64, hop_length=32)


@pytest.mark.parametrize("power, pad_mode", [(2.0, "constant"), (1.0, "reflect"), (None, "constant")])
def test_gradcheck_spectrogram(rng, power, pad_mode):
    x = torch.from_numpy(rng.standard_normal(256)).requires_grad_()
    # complex output: the full Jacobian is twice as large; fast mode checks random projections of it
    _gradcheck(mn.Spectrogram(power=power, pad_mode=pad_mode, **GRAD_STFT).double(), x, fast_mode=power is None)


def test_gradcheck_melspectrogram(rng):
    x = torch.from_numpy(rng.standard_normal(256)).requires_grad_()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no empty mel band at this size
        module = mn.MelSpectrogram(sr=8000, n_mels=8, **GRAD_STFT).double()
    _gradcheck(module, x)


@pytest.mark.parametrize("stype, ref", [("power", 1.0), ("power", "max"), ("magnitude", 2.0), ("magnitude", "max")])
def test_gradcheck_amplitude_to_db(rng, stype, ref):
    x = torch.from_numpy(rng.uniform(0.5, 2.0, (2, 6, 5))).requires_grad_()  # far above amin
    _gradcheck(mn.AmplitudeToDB(stype, ref=ref, top_db=None), x)


@pytest.mark.parametrize("learnable", [False, True])
def test_gradcheck_log_compression(rng, learnable):
    module = mn.LogCompression(C=100.0, learnable=learnable).double()
    x = torch.from_numpy(rng.uniform(0.0, 1.0, (2, 6, 5))).requires_grad_()
    _gradcheck(module, x)
    if learnable:
        C = module.C.detach().clone().requires_grad_()
        assert torch.autograd.gradcheck(lambda C: torch.func.functional_call(module, {"C": C}, (x.detach(),)), (C,))


@pytest.mark.parametrize("mode, fixed", [("sample", False), ("frequency", False), ("frequency", True)])
def test_gradcheck_standardize(rng, mode, fixed):
    stats = dict(mean=rng.normal(size=6), std=rng.uniform(1, 2, 6)) if fixed else {}
    module = mn.Standardize(mode, **stats).double()
    _gradcheck(module, torch.from_numpy(rng.standard_normal((2, 6, 5))).requires_grad_())


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "factory, match",
    [
        (lambda: mn.Spectrogram(n_fft=0), "n_fft"),
        (lambda: mn.Spectrogram(n_fft=-512), "n_fft"),
        (lambda: mn.Spectrogram(n_fft=512.0), "n_fft"),
        (lambda: mn.Spectrogram(n_fft=512, hop_length=0), "hop_length"),
        (lambda: mn.Spectrogram(n_fft=512, win_length=1024), "win_length"),
        (lambda: mn.Spectrogram(n_fft=512, win_length=2), "hop_length"),
        (lambda: mn.Spectrogram(pad_mode="edge"), "pad_mode"),
        (lambda: mn.Spectrogram(power=0), "power"),
        (lambda: mn.Spectrogram(power=-1.0), "power"),
        (lambda: mn.Spectrogram(power=True), "power"),
        (lambda: mn.Spectrogram(window="no-such-window"), "window"),
        (lambda: mn.Spectrogram(n_fft=4, window=np.ones(3)), "window"),
        (lambda: mn.MelSpectrogram(sr=8000, fmax=5000.0), "fmax"),
        (lambda: mn.MelSpectrogram(sr=0), "sr"),
        (lambda: mn.MelSpectrogram(n_mels=0), "n_mels"),
        (lambda: mn.MelSpectrogram(fmin=-10.0), "fmin"),
        (lambda: mn.MelSpectrogram(norm="area"), "norm"),
        (lambda: mn.MelSpectrogram(power=None), "power"),
        (lambda: mn.MelSpectrogram(n_fft=0), "n_fft"),
        (lambda: mn.AmplitudeToDB(stype="db"), "stype"),
        (lambda: mn.AmplitudeToDB(top_db=-1.0), "top_db"),
        (lambda: mn.AmplitudeToDB(amin=0.0), "amin"),
        (lambda: mn.AmplitudeToDB(ref="min"), "ref"),
        (lambda: mn.AmplitudeToDB(ref=float("nan")), "ref"),
        (lambda: mn.LogCompression(C=0.0), "C"),
        (lambda: mn.LogCompression(C=-1.0), "C"),
        (lambda: mn.LogCompression(C=float("inf")), "C"),
        (lambda: mn.Standardize(mode="time"), "mode"),
        (lambda: mn.Standardize(mean=0.0), "mean and std"),
        (lambda: mn.Standardize(eps=0.0), "eps"),
        (lambda: mn.Standardize(mean=np.zeros(3), std=np.ones(4)), "broadcast"),
        (lambda: mn.Standardize(mean=np.nan, std=1.0), "mean"),
    ],
)
def test_constructor_errors(factory, match):
    with pytest.raises(ParameterError, match=match):
        factory()


@pytest.mark.parametrize(
    "module, x, match",
    [
        (mn.Spectrogram(n_fft=64), torch.tensor(1.0), "at least 1 axis"),
        (mn.Spectrogram(n_fft=64), torch.zeros(2, 256, dtype=torch.int16), "int16"),
        (mn.Spectrogram(n_fft=64), np.zeros(256, dtype=np.float32), "torch.from_numpy"),
        (mn.Spectrogram(n_fft=64), torch.zeros(256, dtype=torch.complex64), "complex"),
        (mn.Spectrogram(n_fft=64), torch.zeros(256, dtype=torch.float64), "dtype"),
        (mn.Spectrogram(n_fft=64), torch.zeros(2, 0), "empty"),
        (mn.Spectrogram(n_fft=64, center=False), torch.zeros(2, 63), "too large"),
        (mn.Spectrogram(n_fft=64, pad_mode="reflect"), torch.zeros(2, 1), "at least 2 samples"),
        (mn.MelSpectrogram(sr=8000, n_fft=64, n_mels=8), torch.tensor(1.0), "at least 1 axis"),
        (mn.MelSpectrogram(sr=8000, n_fft=64, n_mels=8), torch.zeros(256, dtype=torch.int32), "int32"),
        (mn.AmplitudeToDB(), torch.tensor(1.0), "at least 1 axis"),
        (mn.AmplitudeToDB(), torch.zeros(3, 4, dtype=torch.int64), "int64"),
        (mn.AmplitudeToDB("power"), torch.zeros(3, 4, dtype=torch.complex64), "complex"),
        (mn.LogCompression(), torch.tensor(1.0), "at least 1 axis"),
        (mn.LogCompression(), torch.zeros(3, 4, dtype=torch.uint8), "uint8"),
        (mn.Standardize(), torch.zeros(4), "at least 2 axes"),
        (mn.Standardize(), torch.zeros(3, 4, dtype=torch.int16), "int16"),
        (mn.Standardize("frequency", mean=np.zeros(5), std=np.ones(5)), torch.zeros(2, 3, 4), "broadcast"),
    ],
)
def test_forward_errors(module, x, match):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # n_fft > n_samples warns before the error
        with pytest.raises(ParameterError, match=match):
            module(x)


# ---------------------------------------------------------------- CUDA


def _all_modules():
    return [
        (mn.Spectrogram(power=1.0, pad_mode="reflect", **STFT), "signal"),
        (mn.Spectrogram(power=None, **STFT), "signal"),
        (mn.MelSpectrogram(sr=SR, n_fft=512, hop_length=256, n_mels=64), "signal"),
        (mn.AmplitudeToDB(ref="max"), "spec"),
        (mn.AmplitudeToDB("magnitude", top_db=None), "spec"),
        (mn.LogCompression(learnable=True), "spec"),
        (mn.Standardize("frequency"), "spec"),
        (mn.Standardize("frequency", mean=np.linspace(0, 1, 257), std=np.linspace(1, 2, 257)), "spec"),
    ]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (torch.cuda.is_available() is False)")
def test_cuda_matches_cpu(signal, power_spec):
    inputs = {"signal": torch.from_numpy(signal), "spec": torch.from_numpy(power_spec)}
    for module, kind in _all_modules():
        x = inputs[kind]
        expected = module(x)
        gpu = module.cuda()
        assert all(b.is_cuda for b in gpu.buffers()) and all(p.is_cuda for p in gpu.parameters())
        x_gpu = x.cuda().requires_grad_()
        out = gpu(x_gpu)
        assert out.is_cuda and out.dtype == expected.dtype
        assert rel_err(out.detach().cpu().numpy(), expected.detach().numpy()) <= TOL32, module
        (out.abs() if out.is_complex() else out).sum().backward()
        assert x_gpu.grad is not None and torch.isfinite(x_gpu.grad).all()
    # .double() on a CUDA module refills the buffers from the float64 design there too
    mel = mn.MelSpectrogram(sr=SR, n_fft=512, n_mels=40).cuda().double()
    assert mel.mel_fb.is_cuda and mel.mel_fb.dtype == torch.float64
    np.testing.assert_array_equal(mel.mel_fb.cpu().numpy(), filters.mel(sr=SR, n_fft=512, n_mels=40, dtype=np.float64))
    y = signal.astype(np.float64)
    out = mel(torch.from_numpy(y).cuda()).cpu().numpy()
    assert rel_err(out, mf.melspectrogram(y, sr=SR, n_fft=512, n_mels=40)) <= 1e-8


# --- mixed precision -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NN_NAMES)
def test_modules_compute_at_full_precision_under_autocast(rng, name):
    """A float16 input under autocast (what a mixed-precision layer upstream hands on) gives the float32 result."""
    make_module, make_input = nn_cases()[name]
    module = make_module()
    x = torch.from_numpy(make_input(rng)).half()
    expected = module(x.float())
    x.requires_grad_(True)
    with torch.autocast("cpu", dtype=torch.float16):
        out = module(x)
    assert out.dtype == expected.dtype
    torch.testing.assert_close(out, expected)
    (out.abs() if out.is_complex() else out).pow(2).mean().backward()
    assert x.grad.dtype == torch.float16 and torch.isfinite(x.grad).all()
    # Outside autocast nothing is converted: a float16 input is refused, or computed in float16.
    try:
        plain = module(x.detach())
    except ParameterError as err:
        assert "float16" in str(err)
    else:
        assert plain.dtype in (torch.float16, torch.complex32)
