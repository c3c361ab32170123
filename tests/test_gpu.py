"""Real-GPU tests: every feature on CuPy arrays and every modspec.nn module on CUDA tensors against the CPU.

Marked ``gpu`` and skipped, with the reason, where CuPy or a CUDA device is
missing (the one skip CI expects). On a GPU machine::

    python -m pytest -q -m gpu tests/test_gpu.py

float32 results must agree with the CPU within 1e-4 relative
(``max|a - b| / max|b|``), float64 within 1e-9.
"""

import copy
import functools
import importlib.util

import numpy as np
import pytest
from conftest import rel_err
from nn_cases import NN_NAMES, nn_cases

import modspec.features as mf
from modspec import _backend, filters
from modspec.errors import ParameterError

pytestmark = pytest.mark.gpu


def _gpu_skip_reason():
    if importlib.util.find_spec("cupy") is None:
        return "CuPy is not installed (pip install 'modspec[gpu]')"
    import cupy

    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            return "no CUDA device"
    except cupy.cuda.runtime.CUDARuntimeError as err:
        return f"no usable CUDA device: {err}"
    return None


SKIP_REASON = _gpu_skip_reason()

TOL = {np.float32: 1e-4, np.float64: 1e-9}
SR = 16000


@pytest.fixture(scope="module")
def cp():
    if SKIP_REASON is not None:
        pytest.skip(SKIP_REASON)
    import cupy

    return cupy


@pytest.fixture
def audio(rng):
    """(2, 3, 16000): 1 s of noise plus a tone, as float64 (cast per test)."""
    t = np.arange(SR) / SR
    return 0.1 * rng.standard_normal((2, 3, SR)) + np.sin(2 * np.pi * 440.0 * t)


def _envelopes(rng, shape=(2, 96, 313)):
    return np.abs(rng.standard_normal(shape))


#: name -> (input builder (rng, audio) -> float64 array, the call).
FEATURES = {
    "stft": (lambda r, a: a, lambda x: mf.stft(x, n_fft=512, hop_length=256)),
    "stft_reflect_win": (lambda r, a: a, lambda x: mf.stft(x, n_fft=512, hop_length=100, win_length=400,
                                                          pad_mode="reflect")),
    "spectrogram": (lambda r, a: a, lambda x: mf.spectrogram(x, n_fft=512, hop_length=256, power=1.0)),
    "spectrogram_uncentred": (lambda r, a: a, lambda x: mf.spectrogram(x, n_fft=400, hop_length=160,
                                                                       center=False, power=1.5)),
    "melspectrogram": (lambda r, a: a, lambda x: mf.melspectrogram(x, sr=SR, n_fft=512, hop_length=256, n_mels=96)),
    "melspectrogram_S": (lambda r, a: mf.spectrogram(a, n_fft=512, hop_length=256),
                         lambda S: mf.melspectrogram(S=S, sr=SR, n_fft=512, n_mels=96)),
    "power_to_db": (lambda r, a: mf.spectrogram(a, n_fft=512, hop_length=256),
                    lambda S: mf.power_to_db(S, ref=np.max)),
    "amplitude_to_db": (lambda r, a: mf.spectrogram(a, n_fft=512, hop_length=256, power=1.0),
                        lambda S: mf.amplitude_to_db(S, ref=1.0, top_db=60.0)),
    "harmonic_spectrogram": (lambda r, a: a, lambda x: mf.harmonic_spectrogram(x, SR)),
    "sinc_filterbank": (lambda r, a: a, lambda x: mf.sinc_filterbank(x, SR, rectify="relu")),
    "log_compress": (lambda r, a: _envelopes(r), lambda S: mf.log_compress(S)),
    "scale": (lambda r, a: _envelopes(r), lambda S: mf.scale(S, factor=10.0)),
    "standardize": (lambda r, a: _envelopes(r), lambda S: mf.standardize(S, mode="frequency")),
    "a_weight": (lambda r, a: _envelopes(r, (2, 257, 20)),
                 lambda S: mf.a_weight(S, frequencies=filters.fft_frequencies(sr=SR, n_fft=512), kind="power")),
    "envelope_hilbert": (lambda r, a: a, lambda x: mf.envelope(x, kind="hilbert")),
    "envelope_halfwave": (lambda r, a: a, lambda x: mf.envelope(x, kind="halfwave")),
    "modulation_filterbank_tmnn": (lambda r, a: _envelopes(r),
                                   lambda S: mf.modulation_filterbank(S, frame_rate=62.5, n_filters=4, all_pass=True)),
    "modulation_filterbank_vahidi": (
        lambda r, a: _envelopes(r, (2, 80, 1600)),
        lambda S: mf.modulation_filterbank(S, frame_rate=1600.0, n_filters=20, kernel_size=128, stride=160,
                                           padding="valid", rectify="square"),
    ),
    "instance_normalize": (lambda r, a: _envelopes(r, (2, 80, 5, 50)), lambda S: mf.instance_normalize(S)),
    "modulation_spectrum": (lambda r, a: a, lambda x: mf.modulation_spectrum(x, sr=SR)[0]),
    "scattering": (lambda r, a: a, lambda x: mf.scattering(x, J=8, Q=8)),
    "scattering_order1_oversampled": (lambda r, a: a, lambda x: mf.scattering(x, J=6, Q=(4, 2), max_order=1,
                                                                             oversampling=1)),
    "scalogram": (lambda r, a: a, lambda x: mf.scalogram(x, J=8, Q=8, hop_length=32)[0]),
    "jtfs": (lambda r, a: a, lambda x: mf.jtfs(x, J=6, J_fr=2, Q=(8, 2))),
    "jtfs_joint": (lambda r, a: a, lambda x: mf.jtfs(x, J=6, J_fr=2, Q=(8, 2), format="joint")),
    "jtfs_tensor": (lambda r, a: a, lambda x: mf.jtfs_tensor(x, J=6, J_fr=2, Q=(8, 2))),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(FEATURES))
def test_feature_on_cupy_matches_cpu(cp, rng, audio, name, dtype):
    build, call = FEATURES[name]
    x = np.ascontiguousarray(build(rng, audio), dtype=dtype)
    expected = call(x)
    # Twice: numba launches (and compiles) a kernel signature the first time, later launches go direct.
    for _ in range(2):
        got = call(cp.asarray(x))
        assert isinstance(got, cp.ndarray), f"{name} returned {type(got).__name__}"
        assert got.shape == expected.shape and got.dtype == expected.dtype
        assert got.device.id == cp.cuda.Device().id
        assert rel_err(cp.asnumpy(got), expected) <= TOL[dtype]


@pytest.mark.parametrize("name", ["melspectrogram", "harmonic_spectrogram", "sinc_filterbank",
                                  "modulation_filterbank_vahidi", "scattering", "jtfs"])
def test_direct_launches_match_numba_launches(cp, rng, audio, monkeypatch, name):
    """After numba's first launch of a kernel signature, later launches skip its dispatcher (every kernel and
    argument type the features use can) and give the numbers of launches through numba."""
    from modspec.kernels import gpu

    build, call = FEATURES[name]
    x = cp.asarray(np.ascontiguousarray(build(rng, audio), dtype=np.float32))
    monkeypatch.setattr(gpu, "DIRECT_LAUNCH", False)
    through_numba = cp.asnumpy(call(x))
    monkeypatch.setattr(gpu, "DIRECT_LAUNCH", True)
    monkeypatch.setattr(gpu, "_direct_launches", {})
    monkeypatch.setattr(gpu, "direct_launch_failure", None)
    direct_calls = []
    launch_direct = gpu._DirectLaunch.__call__
    monkeypatch.setattr(gpu._DirectLaunch, "__call__",
                        lambda self, *args: direct_calls.append(1) or launch_direct(self, *args))
    first = cp.asnumpy(call(x))  # each signature through numba once, then kept for direct launches
    n_direct_first = len(direct_calls)
    again = cp.asnumpy(call(x))
    assert gpu.direct_launch_failure is None
    assert gpu._direct_launches and None not in gpu._direct_launches.values()
    assert len(direct_calls) > n_direct_first  # the second call's launches went direct
    for got in (first, again):
        assert rel_err(got, through_numba) <= 1e-6


def test_batched_equals_itemwise(cp, audio):
    y = cp.asarray(audio.astype(np.float32))
    batch = mf.melspectrogram(y, sr=SR, n_fft=512, hop_length=256, n_mels=96)
    for i in range(2):
        item = mf.melspectrogram(y[i, 1], sr=SR, n_fft=512, hop_length=256, n_mels=96)
        assert rel_err(cp.asnumpy(item), cp.asnumpy(batch[i, 1])) <= 1e-6


@pytest.mark.parametrize("name", ["sinc_filterbank", "melspectrogram", "power_to_db", "scattering", "jtfs"])
def test_results_stay_on_the_input_device(cp, audio, name):
    """Called from device 0 on an array of the last device (the same one on a single-GPU machine)."""
    calls = {
        "sinc_filterbank": lambda y: mf.sinc_filterbank(y, SR),
        "melspectrogram": lambda y: mf.melspectrogram(y, sr=SR, n_mels=40),
        "power_to_db": lambda y: mf.power_to_db(y * y, ref=np.max),
        "scattering": lambda y: mf.scattering(y, J=6, Q=8),
        "jtfs": lambda y: mf.jtfs(y, J=6, J_fr=2, Q=(8, 2)),
    }
    device = cp.cuda.runtime.getDeviceCount() - 1
    with cp.cuda.Device(device):
        y = cp.asarray(audio[0].astype(np.float32))
    with cp.cuda.Device(0):
        out = calls[name](y)
    assert out.device.id == device
    assert rel_err(cp.asnumpy(out), calls[name](audio[0].astype(np.float32))) <= TOL[np.float32]


def test_device_arrays_without_a_gpu_path_raise(cp, audio):
    y = cp.asarray(audio[0].astype(np.float32))
    with pytest.raises(_backend.NoGPUPathError, match="a CuPy window array has no GPU path yet"):
        mf.stft(y, n_fft=512, window=cp.hanning(512).astype(cp.float32))
    with pytest.raises(_backend.NoGPUPathError, match="CuPy cut-offs has no GPU path yet"):
        mf.sinc_filterbank(y, SR, n_filters=2, low_hz=cp.asarray([100.0, 300.0]), high_hz=np.array([200.0, 900.0]))


def test_bad_input_on_gpu(cp):
    y = cp.zeros((2, 1000), dtype=cp.float32)
    y[0, 5] = cp.nan
    with pytest.raises(ParameterError, match="non-finite"):
        mf.melspectrogram(y, sr=SR)
    # The framing kernel checks every sample, also one that no frame reads (hops longer than the frames).
    tail = cp.zeros((2, 1000), dtype=cp.float32)
    tail[1, -1] = cp.inf
    for feature in (mf.stft, mf.spectrogram, functools.partial(mf.melspectrogram, sr=SR, n_mels=16),
                    functools.partial(mf.harmonic_spectrogram, sr=SR)):
        with pytest.raises(ParameterError, match="1 non-finite sample"):
            feature(tail, n_fft=64, hop_length=200, center=False)
    with pytest.raises(ParameterError, match="only float32 and float64"):
        mf.stft(cp.zeros(1000, dtype=cp.int16))


def test_batch_too_large_raises_before_allocating(cp):
    # A broadcast view: 3.2 GB of samples that are never materialised, and STFT buffers of ~800 GB.
    y = cp.broadcast_to(cp.zeros(16000, dtype=cp.float32), (50000, 16000))
    used = cp.get_default_memory_pool().used_bytes()
    with pytest.raises(ParameterError, match=r"GiB of GPU memory.*split the batch into chunks of at most \d+"):
        mf.spectrogram(y, n_fft=4096, hop_length=64)
    assert cp.get_default_memory_pool().used_bytes() - used < 1 << 30


@pytest.mark.parametrize("name", ["scattering", "jtfs"])
def test_scattering_batch_too_large_raises_before_allocating(cp, name):
    # A broadcast view of a million signals: ~100 GB of padded signals and spectra, never materialised.
    y = cp.broadcast_to(cp.zeros(4096, dtype=cp.float32), (1_000_000, 4096))
    kwargs = dict(J=6, Q=8) if name == "scattering" else dict(J=6, J_fr=2, Q=(8, 2))
    used = cp.get_default_memory_pool().used_bytes()
    with pytest.raises(ParameterError, match=rf"{name} of a batch of 1000000 needs .* split the batch"):
        getattr(mf, name)(y, **kwargs)
    assert cp.get_default_memory_pool().used_bytes() - used < 1 << 30


def test_filters_are_moved_once_per_device(cp, audio):
    y = cp.asarray(audio[0].astype(np.float32))
    mf.sinc_filterbank(y, SR)
    bank = filters.sinc_bandpass(80, 256, sr=SR, fmin=30.0, dtype=np.float32).filters
    assert _backend.to_device(bank, y) is _backend.to_device(bank, y)


def test_kernels_compile_once_per_dtype(cp, audio):
    from modspec.kernels import gpu

    y = cp.asarray(audio[0, 0].astype(np.float32))
    mf.spectrogram(y, n_fft=512)
    frame = gpu.kernels(np.float32).frame
    n_compiled = len(frame.overloads)
    mf.spectrogram(y[:8000], n_fft=256)
    assert len(frame.overloads) == n_compiled >= 1


# --------------------------------------------------------------------------- modspec.nn on CUDA tensors


@pytest.fixture(scope="module")
def torch_cuda():
    torch = pytest.importorskip("torch", reason="modspec.nn needs the torch extra")
    if not torch.cuda.is_available():
        pytest.skip("torch has no CUDA device")
    return torch


@pytest.mark.parametrize("name", NN_NAMES)
def test_nn_module_on_cuda_matches_cpu_and_differentiates(torch_cuda, rng, name):
    torch = torch_cuda
    make_module, make_input = nn_cases()[name]
    x = make_input(rng)
    module = make_module()
    expected = module(torch.from_numpy(x))
    gpu_module = copy.deepcopy(module).cuda()
    x_gpu = torch.from_numpy(x).cuda().requires_grad_(True)
    out = gpu_module(x_gpu)
    assert out.is_cuda and out.dtype == expected.dtype and out.shape == expected.shape
    assert rel_err(out.detach().cpu().numpy(), expected.detach().numpy()) <= TOL[np.float32]
    (out.abs() if out.is_complex() else out).pow(2).mean().backward()
    assert torch.isfinite(x_gpu.grad).all()
    for param_name, param in gpu_module.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), param_name


def test_nn_buffers_follow_the_module_to_cuda(torch_cuda):
    import modspec.nn as mn

    module = mn.MelSpectrogram(sr=SR, n_fft=512, n_mels=40).cuda()
    assert all(buffer.is_cuda for buffer in module.buffers())
