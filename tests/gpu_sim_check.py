"""The GPU backend under numba's CUDA simulator, against the CPU kernels and features.

Run by ``tests/test_gpu_kernels.py`` in a subprocess with ``NUMBA_ENABLE_CUDASIM=1``
(the variable must be set before numba.cuda is first imported, so the main
test process is never switched to the simulator)::

    NUMBA_ENABLE_CUDASIM=1 python tests/gpu_sim_check.py [check ...]

Two layers are checked on tiny inputs (the simulator runs every thread in
Python):

- ``kernel_*``: each numba.cuda kernel of :mod:`modspec.kernels.gpu` on NumPy
  arrays (which the simulator accepts as device arrays) against the numba CPU
  kernel that does the same job;
- ``feature_*``: every :mod:`modspec.features` function given a stand-in
  "CuPy" array, end to end through the dispatch, the GPU entry point and its
  kernels, against the same function on the NumPy array. The stand-in is a
  small module installed as ``sys.modules['cupy']``: its ``ndarray`` is a
  NumPy subclass (so results can be told from host arrays), its functions are
  NumPy's and its FFTs scipy.fft's, which keep float32 in single precision as
  cuFFT does.

Prints one JSON object: check name -> "ok" or the error.
"""

import json
import os
import sys
import traceback
import types
import warnings

import numpy as np
import scipy.fft

TOL = {np.float32: 1e-4, np.float64: 1e-10}
DTYPES = (np.float32, np.float64)


# --------------------------------------------------------------------------- the stand-in CuPy


class DeviceArray(np.ndarray):
    """A NumPy array playing a CuPy array on device 0."""

    @property
    def device(self):
        return _Device(0)


class _Device:
    def __init__(self, id=0):
        self.id = id

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    @property
    def mem_info(self):
        return (FREE_BYTES[0], 8 << 30)


FREE_BYTES = [4 << 30]


def _to_device(value):
    if isinstance(value, np.ndarray) and not isinstance(value, DeviceArray):
        return value.view(DeviceArray)
    if isinstance(value, tuple):
        return tuple(_to_device(v) for v in value)
    return value


def _wrap(function):
    def wrapped(*args, **kwargs):
        return _to_device(function(*args, **kwargs))

    return wrapped


def _make_cupy():
    cupy = types.ModuleType("cupy")
    cupy.ndarray = DeviceArray
    cupy.asnumpy = lambda x: np.asarray(x).view(np.ndarray).copy()

    def asarray(a, dtype=None):
        # A host array is copied, as by a transfer (the simulator writes every kernel argument back).
        if isinstance(a, DeviceArray):
            return a if dtype is None or a.dtype == dtype else a.astype(dtype)
        return np.array(a, dtype=dtype).view(DeviceArray)

    cupy.asarray = asarray
    cupy.fft = types.SimpleNamespace(**{name: _wrap(getattr(scipy.fft, name)) for name in ("fft", "ifft", "rfft", "irfft")})
    cupy.cuda = types.SimpleNamespace(
        Device=_Device, get_current_stream=lambda: types.SimpleNamespace(ptr=0)
    )
    cupy.get_default_memory_pool = lambda: types.SimpleNamespace(free_bytes=lambda: 0)

    def module_getattr(name):
        value = getattr(np, name)
        return _wrap(value) if callable(value) and not isinstance(value, type) else value

    cupy.__getattr__ = module_getattr
    return cupy


# --------------------------------------------------------------------------- helpers


def rel_err(a, b):
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise AssertionError(f"shapes differ: {a.shape} vs {b.shape}")
    scale = np.max(np.abs(b))
    return float(np.max(np.abs(a - b)) / (scale if scale > 0 else 1.0))


def close(got, expected, dtype, what=""):
    err = rel_err(got, expected)
    if not err <= TOL[dtype]:
        raise AssertionError(f"{what} relative error {err:.3g} above {TOL[dtype]:g}")


def same_result(got, expected, what=""):
    """A GPU result: on the device, same dtype and shape as the CPU result, same numbers."""
    if not isinstance(got, DeviceArray):
        raise AssertionError(f"{what} returned {type(got).__name__}, not a device array")
    if got.dtype != expected.dtype:
        raise AssertionError(f"{what} dtype {got.dtype} != CPU {expected.dtype}")
    real = np.float64 if expected.dtype in (np.float64, np.complex128) else np.float32
    close(got, expected, real, what)


def noise(shape, dtype, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


# --------------------------------------------------------------------------- kernel checks


def kernel_frame():
    from modspec.kernels import cpu, gpu

    for dtype in DTYPES:
        y = noise((2, 12), dtype)
        window = np.hanning(8).astype(dtype)
        for hop, pad, reflect in ((3, 4, False), (3, 4, True), (5, 0, False), (2, 9, False)):
            n_frames = 1 + (12 + 2 * pad - 8) // hop
            frames = np.zeros((2, n_frames, 8), dtype=dtype)
            bad = np.zeros(1, dtype=np.int32)
            gpu.launch(gpu.kernels(dtype).frame, max(frames.size, y.size), y, window, hop, pad, reflect, frames, bad)
            assert bad[0] == 0, "finite samples flagged"
            for b in range(2):
                expected = np.zeros((n_frames, 8), dtype=dtype)
                cpu._frame_block(y[b], window, hop, pad, reflect, 0, expected)
                np.testing.assert_array_equal(frames[b], expected)
        # A NaN or inf is flagged wherever it is, even in a sample no frame reads (the last of y at hop 5, pad 0).
        for where, value in (((0, 0), np.nan), ((1, 11), np.inf), ((1, 5), -np.inf)):
            y_bad = y.copy()
            y_bad[where] = value
            frames = np.zeros((2, 1, 8), dtype=dtype)
            bad = np.zeros(1, dtype=np.int32)
            gpu.launch(gpu.kernels(dtype).frame, max(frames.size, y.size), y_bad, window, 5, 0, False, frames, bad)
            assert bad[0] == 1, f"{value} at {where} not flagged"


def kernel_power():
    from modspec.kernels import cpu, gpu

    for dtype in DTYPES:
        cdtype = np.result_type(dtype, np.complex64)
        X = (noise((2, 6, 9), dtype) + 1j * noise((2, 6, 9), dtype, seed=1)).astype(cdtype)
        for exponent in (1.0, 2.0, 1.5):
            out = np.empty((2, 9, 6), dtype=dtype)
            gpu.launch(gpu.kernels(dtype).power, out.size, X, exponent, out)
            for b in range(2):
                expected = np.empty((9, 6), dtype=dtype)
                cpu._block_power_t(X[b], exponent, expected)
                close(out[b], expected, dtype, f"power {exponent}")


def kernel_project():
    from modspec import filters
    from modspec.features.spectral import band_support
    from modspec.kernels import cpu, gpu

    for dtype in DTYPES:
        weights = filters.mel(sr=8000, n_fft=32, n_mels=6, dtype=dtype)
        starts, stops = band_support(weights)
        S = np.abs(noise((2, 17, 5), dtype))
        out = np.empty((2, 6, 5), dtype=dtype)
        gpu.launch(gpu.kernels(dtype).project, out.size, S, weights.copy(), starts, stops, out)
        expected = np.empty_like(out)
        cpu._project_bands(S, weights, starts, stops, expected)
        close(out, expected, dtype, "projection")


def kernel_power_project():
    from modspec import filters
    from modspec.features.spectral import band_support
    from modspec.kernels import cpu, gpu

    for dtype in DTYPES:
        cdtype = np.result_type(dtype, np.complex64)
        weights = filters.mel(sr=8000, n_fft=32, n_mels=6, dtype=dtype)
        starts, stops = band_support(weights)
        X = (noise((2, 5, 17), dtype) + 1j * noise((2, 5, 17), dtype, seed=1)).astype(cdtype)
        for exponent in (1.0, 2.0, 1.5):
            out = np.empty((2, 6, 5), dtype=dtype)
            half = dtype(0.5 * exponent)
            gpu.launch(gpu.kernels(dtype).power_project, out.size, X, half, weights.copy(), starts, stops, out)
            expected = np.empty_like(out)
            for b in range(2):
                cpu._block_to_bands(X[b], exponent, weights, starts, stops, 0, expected[b])
            close(out, expected, dtype, f"power projection {exponent}")


def kernel_correlate():
    from modspec.kernels import cpu, gpu

    codes = gpu._RECTIFY_CODES
    for dtype in DTYPES:
        x = noise((2, 16), dtype)
        taps = noise((3, 5), dtype, seed=2)
        for stride in (1, 6):
            for rectify in codes:
                expected = cpu.correlate(x, taps, stride, rectify=rectify)
                out = np.empty_like(expected)
                gpu.launch(gpu.kernels(dtype).correlate, out.size, x, taps, stride, 0, codes[rectify], out)
                close(out, expected, dtype, f"valid stride {stride} {rectify}")
            # Zero padding of 3 + 2 frames, read by skipping taps.
            expected = cpu.correlate(np.pad(x, ((0, 0), (3, 2))), taps, stride)
            out = np.empty_like(expected)
            gpu.launch(gpu.kernels(dtype).correlate, out.size, x, taps, stride, 3, 0, out)
            close(out, expected, dtype, f"padded stride {stride}")


def kernel_modulus():
    from modspec.kernels import cpu_scattering, gpu

    for dtype in DTYPES:
        cdtype = np.result_type(dtype, np.complex64)
        U = (noise((3, 11), dtype) + 1j * noise((3, 11), dtype, seed=1)).astype(cdtype)
        A = np.empty((3, 11), dtype=dtype)
        gpu.launch(gpu.kernels(dtype).modulus, A.size, U, A)
        expected = np.empty_like(A)
        cpu_scattering._modulus(U, expected)
        close(A, expected, dtype, "modulus")


def kernel_modulus_lowpass():
    from modspec.kernels import cpu_scattering, gpu

    for dtype in DTYPES:
        cdtype = np.result_type(dtype, np.complex64)
        U = (noise((3, 32), dtype) + 1j * noise((3, 32), dtype, seed=1)).astype(cdtype)
        taps = np.abs(noise(9, dtype, seed=3))
        # Rows land on scattered (signal, path) slots of a (2, 4, count) output.
        b_idx = np.array([1, 0, 1], np.int64)
        p_idx = np.array([3, 2, 0], np.int64)
        for right, step, first, count in ((4, 4, 0, 8), (6, 8, 1, 3), (0, 2, 2, 14)):
            out = np.zeros((2, 4, count), dtype=dtype)
            gpu.launch(gpu.kernels(dtype).modulus_lowpass, 3 * count, U, taps, right, step, first, b_idx, p_idx, out)
            expected = np.zeros((2, 4, count), dtype=dtype)
            cpu_scattering._modulus_lowpass(U, taps, right, step, first, b_idx, p_idx, expected)
            close(out, expected, dtype, f"modulus + low-pass {right, step, first}")


def kernel_reflect_pad():
    from modspec.kernels import cpu_scattering, gpu

    for dtype in DTYPES:
        x = noise((2, 5), dtype)
        # Pads inside the signal, longer than it (repeated reflections), and none.
        for pad_left, n_out in ((2, 9), (7, 30), (0, 5), (0, 12)):
            out = np.empty((2, n_out), dtype=dtype)
            gpu.launch(gpu.kernels(dtype).reflect_pad, out.size, x, pad_left, out)
            expected = np.empty_like(out)
            cpu_scattering._reflect_pad(x, pad_left, expected)
            np.testing.assert_array_equal(out, expected)
            np.testing.assert_array_equal(out, np.pad(x, ((0, 0), (pad_left, n_out - 5 - pad_left)), mode="reflect"))


def kernel_fold():
    from modspec.kernels import cpu_scattering, gpu

    rng = np.random.default_rng(5)
    for dtype in DTYPES:
        cdtype = np.result_type(dtype, np.complex64)
        for length in (24, 25):
            Xh = (noise((2, length // 2 + 1), dtype) + 1j * noise((2, length // 2 + 1), dtype, seed=1)).astype(cdtype)
            # Arcs across Nyquist, wrapping past the last bin, longer than the fold (aliases summed), one bin.
            arcs = cpu_scattering._Arcs(
                [(3, rng.standard_normal(8)), (length - 4, rng.standard_normal(9)), (10, rng.standard_normal(length)),
                 (0, rng.standard_normal(1))], dtype,
            )
            src = np.array([0, 1, 1, 0, 1], np.int64)
            fid = np.array([0, 1, 2, 3, 2], np.int64)
            for M in (length, 8 if length % 8 == 0 else length):
                Z = np.full((5, M), np.nan, dtype=cdtype)
                gpu.launch(gpu.kernels(dtype).fold, Z.size, Xh, length, src, fid, arcs.starts, arcs.offsets,
                           arcs.vals, Z)
                expected = np.empty_like(Z)
                cpu_scattering._fold(Xh, length, src, fid, arcs.starts, arcs.offsets, arcs.vals, expected)
                close(Z, expected, dtype, f"fold length {length} to {M}")


def kernel_compiled_once_per_dtype():
    from modspec.kernels import gpu

    assert gpu.kernels(np.float32) is gpu.kernels(np.dtype(np.float32))
    assert gpu.kernels(np.float32) is not gpu.kernels(np.float64)


# --------------------------------------------------------------------------- feature checks (through dispatch)


def _signal(dtype, shape=(2, 300)):
    t = np.arange(shape[-1]) / 8000
    return (0.3 * noise(shape, dtype) + np.sin(2 * np.pi * 700 * t)).astype(dtype)


def _device(x):
    return np.asarray(x).view(DeviceArray)


def feature_stft():
    import modspec.features as mf

    for dtype in DTYPES:
        y = _signal(dtype, (2, 40))
        for kwargs in (dict(), dict(center=False), dict(pad_mode="reflect"), dict(win_length=12, hop_length=7)):
            kwargs = dict(n_fft=16, hop_length=8) | kwargs
            expected = mf.stft(y, **kwargs)
            got = mf.stft(_device(y), **kwargs)
            same_result(got, expected, f"stft {kwargs}")
            if got.shape != expected.shape:
                raise AssertionError("shape")
        # Reflection longer than the signal (np.pad's repeated reflection).
        short = y[:1, :6]
        same_result(mf.stft(_device(short), n_fft=16, hop_length=4, pad_mode="reflect"),
                    mf.stft(short, n_fft=16, hop_length=4, pad_mode="reflect"), "stft short reflect")


def feature_spectrogram():
    import modspec.features as mf

    for dtype in DTYPES:
        y = _signal(dtype, (3, 40))
        for power in (1.0, 2.0, 1.5):
            kwargs = dict(n_fft=16, hop_length=10, power=power)
            same_result(mf.spectrogram(_device(y), **kwargs), mf.spectrogram(y, **kwargs), f"power {power}")


def feature_melspectrogram():
    import modspec.features as mf

    for dtype in DTYPES:
        y = _signal(dtype, (2, 1, 100))
        kwargs = dict(sr=8000, n_fft=32, hop_length=25, n_mels=6)
        expected = mf.melspectrogram(y, **kwargs)
        same_result(mf.melspectrogram(_device(y), **kwargs), expected, "mel from y")
        S = mf.spectrogram(y, n_fft=32, hop_length=25)
        same_result(mf.melspectrogram(S=_device(S), **kwargs), mf.melspectrogram(S=S, **kwargs), "mel from S")


def feature_db():
    import modspec.features as mf

    for dtype in DTYPES:
        S = mf.spectrogram(_signal(dtype, (2, 3, 200)), n_fft=32, hop_length=16)
        for kwargs in (dict(), dict(ref=np.max), dict(ref=np.median, top_db=None), dict(ref=2.0, top_db=30.0)):
            same_result(mf.power_to_db(_device(S), **kwargs), mf.power_to_db(S, **kwargs), f"power_to_db {kwargs}")
            same_result(mf.amplitude_to_db(_device(S), **kwargs), mf.amplitude_to_db(S, **kwargs),
                        f"amplitude_to_db {kwargs}")
        same_result(mf.power_to_db(_device(S[0, 0]), ref=np.max), mf.power_to_db(S[0, 0], ref=np.max), "2-D")


def feature_harmonic_spectrogram():
    import modspec.features as mf

    for dtype in DTYPES:
        y = _signal(dtype, (1, 150))
        kwargs = dict(n_fft=64, hop_length=50, n_harmonic=2, semitone_scale=1)
        for db in (True, False)[: 2 if dtype == np.float32 else 1]:
            same_result(mf.harmonic_spectrogram(_device(y), 8000, db=db, **kwargs),
                        mf.harmonic_spectrogram(y, 8000, db=db, **kwargs), f"harmonic db={db}")


def feature_sinc_filterbank():
    import modspec.features as mf

    for dtype in DTYPES:
        y = _signal(dtype, (2, 1, 60))
        for rectify in (None, "relu", "square"):
            kwargs = dict(n_filters=3, kernel_size=31, stride=4, rectify=rectify)
            same_result(mf.sinc_filterbank(_device(y), 8000, **kwargs), mf.sinc_filterbank(y, 8000, **kwargs),
                        f"sinc {rectify}")


def feature_modulation_filterbank():
    import modspec.features as mf

    for dtype in DTYPES:
        S = np.abs(noise((2, 2, 16), dtype))
        cases = (
            dict(frame_rate=62.5, n_filters=3, kernel_size=11, all_pass=True),
            dict(frame_rate=62.5, n_filters=2, kernel_size=10, stride=3, rectify="abs"),
            dict(kind="fir", n_filters=2, kernel_size=8, stride=4, padding="valid", rectify="square"),
            dict(filters=noise((2, 5), dtype, seed=4), all_pass=True, stride=2),
        )
        for kwargs in cases:
            same_result(mf.modulation_filterbank(_device(S), **kwargs), mf.modulation_filterbank(S, **kwargs),
                        f"modulation {kwargs}")
        taps = noise((2, 5), dtype, seed=4)
        same_result(mf.modulation_filterbank(_device(S), filters=_device(taps)),
                    mf.modulation_filterbank(S, filters=taps), "device filters")


def feature_envelope_and_normalisation():
    import modspec.features as mf

    for dtype in DTYPES:
        x = noise((2, 3, 33), dtype)
        for kind in ("abs", "square", "halfwave", "hilbert"):
            same_result(mf.envelope(_device(x), kind=kind), mf.envelope(x, kind=kind), f"envelope {kind}")
        same_result(mf.envelope(_device(x), kind="hilbert", axis=1), mf.envelope(x, kind="hilbert", axis=1),
                    "hilbert axis 1")
        S = noise((2, 4, 3, 10), dtype)
        same_result(mf.instance_normalize(_device(S)), mf.instance_normalize(S), "instance_normalize")


def feature_preprocess():
    import modspec.features as mf
    from modspec import filters

    for dtype in DTYPES:
        S = np.abs(noise((2, 6, 9), dtype))
        same_result(mf.log_compress(_device(S)), mf.log_compress(S), "log_compress")
        same_result(mf.scale(_device(S), factor=3.0), mf.scale(S, factor=3.0), "scale")
        for kwargs in (dict(), dict(mode="frequency"), dict(mode="frequency", mean=np.arange(6.0), std=np.ones(6))):
            same_result(mf.standardize(_device(S), **kwargs), mf.standardize(S, **kwargs), f"standardize {kwargs}")
        freqs = filters.fft_frequencies(sr=8000, n_fft=10)
        for kind in ("db", "power", "amplitude"):
            same_result(mf.a_weight(_device(S), frequencies=freqs, kind=kind),
                        mf.a_weight(S, frequencies=freqs, kind=kind), f"a_weight {kind}")


def feature_modulation_spectrum():
    import modspec.features as mf

    for dtype in DTYPES:
        y = _signal(dtype, (1, 160))
        kwargs = dict(sr=8000, n_fft=32, n_mels=4)
        if dtype == np.float32:  # the mel part is checked above: one dtype here
            got, freqs = mf.modulation_spectrum(_device(y), **kwargs)
            expected, expected_freqs = mf.modulation_spectrum(y, **kwargs)
            same_result(got, expected, "modulation spectrum of y")
            np.testing.assert_array_equal(freqs, expected_freqs)
        S = np.abs(noise((2, 5, 30), dtype))
        for compression in ("log", "cbrt", None):
            kwargs = dict(frame_rate=50.0, compression=compression, window=None if compression else "hann")
            same_result(mf.modulation_spectrum(S=_device(S), **kwargs)[0], mf.modulation_spectrum(S=S, **kwargs)[0],
                        f"modulation spectrum of S {compression}")


def feature_scattering():
    import modspec.features as mf

    for dtype in DTYPES:
        y = _signal(dtype, (2, 1, 128))
        for kwargs in (dict(J=3, Q=(2, 1)), dict(J=3, Q=2, T=4, max_order=1), dict(J=2, Q=(2, 2), oversampling=1)):
            same_result(mf.scattering(_device(y), **kwargs), mf.scattering(y, **kwargs), f"scattering {kwargs}")


def feature_scalogram():
    import modspec.features as mf

    for dtype in DTYPES:
        y = _signal(dtype, (2, 96))
        for hop_length in (1, 4):
            got, freqs = mf.scalogram(_device(y), J=3, Q=2, hop_length=hop_length, sr=8000)
            expected, expected_freqs = mf.scalogram(y, J=3, Q=2, hop_length=hop_length, sr=8000)
            same_result(got, expected, f"scalogram hop {hop_length}")
            np.testing.assert_array_equal(freqs, expected_freqs)


def feature_jtfs():
    import modspec.features as mf

    for dtype in DTYPES:
        y = _signal(dtype, (2, 128))
        for kwargs in (dict(format="time"), dict(format="joint"), dict(format="time", F=1, compact=False)):
            kwargs = dict(J=3, J_fr=1, Q=(2, 1)) | kwargs
            same_result(mf.jtfs(_device(y), **kwargs), mf.jtfs(y, **kwargs), f"jtfs {kwargs}")
        got, spin = mf.jtfs_tensor(_device(y), J=3, J_fr=1, Q=(2, 1), return_spin=True)
        expected, expected_spin = mf.jtfs_tensor(y, J=3, J_fr=1, Q=(2, 1), return_spin=True)
        same_result(got, expected, "jtfs_tensor")
        if not isinstance(spin, DeviceArray) or not np.array_equal(spin, expected_spin):
            raise AssertionError(f"jtfs_tensor spin {spin!r} != {expected_spin!r}")


def feature_scattering_in_chunks():
    """Row chunks smaller than a rate's rows (and a jTFS batch split across chunks) give the same numbers."""
    import modspec.features as mf
    from modspec.kernels import gpu_scattering

    y = _signal(np.float64, (3, 128))
    expected = (mf.scattering(y, J=3, Q=(2, 1)), mf.scalogram(y, J=3, Q=2)[0], mf.jtfs(y, J=3, J_fr=1, Q=(2, 1)))
    saved = gpu_scattering.CHUNK_POINTS
    gpu_scattering.CHUNK_POINTS = 300  # two or three rows of the finest rate per chunk
    try:
        got = (mf.scattering(_device(y), J=3, Q=(2, 1)), mf.scalogram(_device(y), J=3, Q=2)[0],
               mf.jtfs(_device(y), J=3, J_fr=1, Q=(2, 1)))
    finally:
        gpu_scattering.CHUNK_POINTS = saved
    for name, a, b in zip(("scattering", "scalogram", "jtfs"), got, expected):
        same_result(a, b, f"{name} in chunks")


def feature_errors():
    """Bad input is refused on the GPU path with the CPU path's messages; device filter designs have no GPU path."""
    import modspec.features as mf
    from modspec import _backend
    from modspec.errors import ParameterError

    def raises(error, match, function, *args, **kwargs):
        try:
            function(*args, **kwargs)
        except error as err:
            if match not in str(err):
                raise AssertionError(f"message {err!s} lacks {match!r}") from err
            return
        raise AssertionError(f"{function.__name__} did not raise {error.__name__}")

    y = _device(_signal(np.float32, (2, 300)))
    bad = y.copy()
    bad[0, 3] = np.nan
    raises(ParameterError, "non-finite", mf.melspectrogram, bad, sr=8000, n_fft=64)
    # The framing kernel's check: every spectral feature, also for a sample that no frame reads
    # (the end of y, with center=False and hops longer than the frames: fewer frame values than samples).
    tail = y.copy()
    tail[1, -1] = np.inf
    for signal, center in ((bad, True), (tail, False)):
        kwargs = dict(n_fft=32, hop_length=100, center=center)
        raises(ParameterError, "1 non-finite sample", mf.stft, signal, **kwargs)
        raises(ParameterError, "1 non-finite sample", mf.spectrogram, signal, **kwargs)
        raises(ParameterError, "1 non-finite sample", mf.melspectrogram, signal, sr=8000, n_mels=8, **kwargs)
        raises(ParameterError, "1 non-finite sample", mf.harmonic_spectrogram, signal, 8000, **kwargs)
    raises(ParameterError, "only float32 and float64", mf.stft, _device(np.zeros(100, np.int16)))
    raises(ParameterError, "n_fft=0", mf.spectrogram, y, n_fft=0)
    raises(ParameterError, "rectify", mf.sinc_filterbank, y, 8000, rectify="cube")
    raises(ParameterError, "frame_rate=None", mf.modulation_filterbank, _device(np.ones((3, 20), np.float32)))
    raises(_backend.NoGPUPathError, "a CuPy window array has no GPU path yet", mf.stft, y, n_fft=8,
           window=_device(np.hanning(8)))
    raises(_backend.NoGPUPathError, "CuPy cut-offs has no GPU path yet", mf.sinc_filterbank, y, 8000, n_filters=2,
           kernel_size=31, low_hz=_device(np.array([100.0, 300.0])), high_hz=np.array([200.0, 900.0]))
    raises(ParameterError, "non-finite", mf.scattering, bad, J=3)
    S = np.abs(noise((2, 3, 40), np.float32))
    taps = noise((2, 5), np.float32)
    raises(ParameterError, "filters is a CuPy array but S is not", mf.modulation_filterbank, S, filters=_device(taps))
    taps[0, 1] = np.inf
    raises(ParameterError, "filters contains non-finite", mf.modulation_filterbank, _device(S), filters=_device(taps))
    raises(ParameterError, "J=9", mf.jtfs, y, J=9, J_fr=1, Q=2)
    # The memory check runs before anything is allocated.
    FREE_BYTES[0] = 100
    try:
        raises(ParameterError, "GiB of GPU memory", mf.melspectrogram, y, sr=8000, n_fft=64)
        raises(ParameterError, "split the batch", mf.sinc_filterbank, y, 8000, n_filters=4, kernel_size=31)
        raises(ParameterError, "scattering of a batch of 2", mf.scattering, y, J=3)
        raises(ParameterError, "jtfs of a batch of 2", mf.jtfs, y, J=3, J_fr=1, Q=(2, 1))
    finally:
        FREE_BYTES[0] = 4 << 30


def feature_filters_cached_per_device():
    import modspec.features as mf
    from modspec import _backend, filters

    y = _device(_signal(np.float32, (1, 200)))
    mf.melspectrogram(y, sr=8000, n_fft=64, n_mels=6)
    bank = filters.mel(sr=8000, n_fft=64, n_mels=6, dtype=np.float32)
    first = _backend.to_device(bank, y)
    assert _backend.to_device(bank, y) is first, "a read-only design is copied once per device"
    writeable = np.ones(3)
    assert _backend.to_device(writeable, y) is not _backend.to_device(writeable, y), "writeable arrays are copied"


CHECKS = {name: obj for name, obj in dict(globals()).items() if name.startswith(("kernel_", "feature_"))}


def main(names):
    if os.environ.get("NUMBA_ENABLE_CUDASIM") != "1":
        sys.exit("run with NUMBA_ENABLE_CUDASIM=1 (numba's CUDA simulator)")
    sys.modules["cupy"] = _make_cupy()
    from modspec.kernels import gpu

    # The simulator runs each thread of a block as a Python thread, used or not: small blocks for tiny inputs.
    gpu.THREADS = 32
    results = {}
    for name in names or CHECKS:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                CHECKS[name]()
            results[name] = "ok"
        except Exception:
            results[name] = traceback.format_exc()
    print(json.dumps(results))


if __name__ == "__main__":
    main(sys.argv[1:])
