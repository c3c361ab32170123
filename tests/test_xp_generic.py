"""The array-module-generic features run with the module of their input and never hand a device array to NumPy.

``power_to_db``, ``amplitude_to_db``, ``log_compress``, ``scale``,
``standardize``, ``a_weight``, ``envelope``, ``instance_normalize`` and
``modulation_spectrum`` have one body for NumPy and CuPy
(``xp = _backend.get_array_module(S)``). Without CuPy, a stand-in plays the
device: :class:`DeviceArray` wraps a NumPy array and behaves like a CuPy one
where it matters here (its methods and operators work; NumPy's functions and
implicit conversion to a host array refuse it; mixing it with a host array in
an operation fails), and :class:`RecordingModule` plays ``cupy``, forwarding
to NumPy (``cupy.fft`` to the NumPy path's ``scipy.fft``) and recording each
call; ``_backend.to_device`` and the GPU ``melspectrogram`` are recorded
stand-ins too. Each function must give the NumPy result on the stand-in,
through the stand-in module, with the expected host synchronisations only.
The real CuPy path is tested in ``tests/test_gpu.py`` and under numba's CUDA
simulator (``tests/gpu_sim_check.py``).
"""

import types

import numpy as np
import pytest
import scipy.fft

import modspec.features as mf
from modspec import _backend, filters
from modspec.errors import ParameterError

GENERIC = (
    "a_weight", "amplitude_to_db", "envelope", "instance_normalize", "log_compress", "modulation_spectrum",
    "power_to_db", "scale", "standardize",
)
#: The shapes of the device arrays that ``bool()`` or ``int()`` was called on: each call is a device-to-host
#: synchronisation.
SYNCS = []


class DeviceArray:
    """A NumPy array playing a CuPy array."""

    #: Methods of both ndarrays with the same semantics (results stay on the device).
    METHODS = ("all", "any", "astype", "max", "mean", "reshape", "std", "var")

    def __init__(self, host):
        self._host = np.asarray(host)

    shape = property(lambda self: self._host.shape)
    dtype = property(lambda self: self._host.dtype)
    ndim = property(lambda self: self._host.ndim)
    size = property(lambda self: self._host.size)
    real = property(lambda self: DeviceArray(self._host.real))
    imag = property(lambda self: DeviceArray(self._host.imag))

    def __array__(self, *args, **kwargs):
        raise TypeError("a device array was converted to a NumPy array (a silent host copy)")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        raise AssertionError(f"numpy.{ufunc.__name__} ({method}) was called on a device array")

    def __array_function__(self, func, types, args, kwargs):
        raise AssertionError(f"numpy.{func.__name__} was called on a device array")

    def __bool__(self):
        SYNCS.append(self.shape)
        return bool(self._host)

    def __int__(self):
        SYNCS.append(self.shape)
        return int(self._host)

    def __getattr__(self, name):
        if name not in self.METHODS:
            raise AttributeError(f"the stand-in device array has no {name!r}")
        method = getattr(self._host, name)
        return lambda *args, **kwargs: _device(method(*args, **kwargs))

    def __getitem__(self, key):
        return _device(self._host[key])

    def __iter__(self):
        return (DeviceArray(row) for row in self._host)


def _host_operand(value):
    """The NumPy value behind an operand: device arrays and scalars only (CuPy refuses host arrays)."""
    if isinstance(value, DeviceArray):
        return value._host
    if isinstance(value, np.ndarray):
        raise TypeError(f"a host array of shape {value.shape} was mixed with a device array")
    return value


def _operator(name):
    def apply(self, *others):
        return _device(getattr(self._host, name)(*map(_host_operand, others)))

    return apply


def _in_place(name):
    def apply(self, other):
        getattr(self._host, name)(_host_operand(other))
        return self

    return apply


for _name in ("add", "sub", "mul", "truediv", "pow"):
    for _form in (f"__{_name}__", f"__r{_name}__"):
        setattr(DeviceArray, _form, _operator(_form))
    setattr(DeviceArray, f"__i{_name}__", _in_place(f"__i{_name}__"))
for _form in ("__lt__", "__le__", "__gt__", "__ge__", "__neg__", "__abs__"):
    setattr(DeviceArray, _form, _operator(_form))


def _device(value):
    return DeviceArray(value) if isinstance(value, np.ndarray | np.generic) else value


class RecordingFFT:
    """Plays ``cupy.fft`` (cuFFT): the NumPy path's ``scipy.fft`` on the arrays behind device arrays, recorded.

    scipy's transforms, not NumPy's, so that the numbers equal the NumPy
    path's exactly (cuFFT's rounding differs: ``tests/test_gpu.py``).
    """

    def __init__(self, calls):
        self.calls = calls

    def __getattr__(self, name):
        target = getattr(scipy.fft, name)

        def call(*args, **kwargs):
            self.calls.append(f"fft.{name}")
            return _device(target(*map(_host_operand, args), **kwargs))

        return call


class RecordingModule(types.ModuleType):
    """Plays ``cupy``: NumPy's functions on the arrays behind device arrays, each call recorded."""

    def __init__(self):
        super().__init__("recording_cupy")
        self.calls = []

    @property
    def fft(self):
        return RecordingFFT(self.calls)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        target = getattr(np, name)
        if not callable(target) or isinstance(target, type):
            return target  # dtypes and constants

        def call(*args, **kwargs):
            self.calls.append(name)
            if name == "stack":
                args = ([_host_operand(a) for a in args[0]], *args[1:])
            return _device(target(*map(_host_operand, args), **kwargs))

        return call

    def asarray(self, a, dtype=None):
        """The transfer to the device (a device array passes through, cast if asked)."""
        self.calls.append("asarray")
        if isinstance(a, DeviceArray):
            return a if dtype is None or a.dtype == dtype else a.astype(dtype)
        return DeviceArray(np.array(a, dtype=dtype))

    def asnumpy(self, a):
        self.calls.append("asnumpy")
        return a._host.copy()


class RecordingGPU:
    """Plays :mod:`modspec.kernels.gpu` for the functions that dispatch to it: the NumPy result on the device."""

    def __init__(self, calls):
        self.calls = calls
        self.kwargs = []

    def melspectrogram(self, **kwargs):
        self.calls.append("gpu.melspectrogram")
        self.kwargs.append(kwargs)
        host = {k: v._host if isinstance(v, DeviceArray) else v for k, v in kwargs.items()}
        return DeviceArray(mf.melspectrogram(**host))


@pytest.fixture
def xp(monkeypatch):
    """The stand-in module, installed as the array module of device arrays (the validators use it too).

    ``_backend.to_device`` becomes the stand-in's recorded transfer and
    ``_backend.gpu()`` a :class:`RecordingGPU` (``xp.gpu``).
    """
    module = RecordingModule()
    module.gpu = RecordingGPU(module.calls)

    def to_device(array, like, *, cache=None):
        assert isinstance(array, np.ndarray) and isinstance(like, DeviceArray)
        module.calls.append("to_device")
        return DeviceArray(array)

    monkeypatch.setattr(_backend, "is_cupy", lambda x: isinstance(x, DeviceArray))
    monkeypatch.setattr(
        _backend, "get_array_module",
        lambda *arrays: module if any(isinstance(a, DeviceArray) for a in arrays) else np,
    )
    monkeypatch.setattr(_backend, "to_device", to_device)
    monkeypatch.setattr(_backend, "gpu", lambda: module.gpu)
    SYNCS.clear()
    return module


def _power(rng, dtype, shape=(2, 3, 6, 9)):
    S = rng.random(shape).astype(dtype)
    S[..., 0, 0] = 0.0  # the amin floor
    return S


FREQUENCIES = filters.fft_frequencies(sr=8000, n_fft=10)  # 6 rows

#: name -> [(call, host synchronisations)]: bool() on a device array, where the NumPy body also tests a value.
CASES = {
    "log_compress": [(lambda S: mf.log_compress(S, C=100.0), 1)],
    "scale": [(lambda S: mf.scale(S, factor=3.0), 0)],
    "standardize": [
        (lambda S: mf.standardize(S), 1),
        (lambda S: mf.standardize(S, mode="frequency"), 1),
        (lambda S: mf.standardize(S, mode="frequency", mean=np.arange(6.0), std=np.full(6, 2.0)), 1),
    ],
    "a_weight": [(lambda S, kind=kind: mf.a_weight(S, frequencies=FREQUENCIES, kind=kind), 1)
                 for kind in ("db", "power", "amplitude")],
    "power_to_db": [
        (lambda S: mf.power_to_db(S), 0),
        (lambda S: mf.power_to_db(S, ref=np.max, top_db=30.0), 0),  # one batch reduction, np.max never called
        (lambda S: mf.power_to_db(S, ref=lambda item: item.mean(), top_db=None), 0),  # item by item
        (lambda S: mf.power_to_db(S[0, 0], ref=lambda item: item.max()), 0),  # a single spectrogram
    ],
    "amplitude_to_db": [
        (lambda S: mf.amplitude_to_db(S, top_db=None), 0),
        (lambda S: mf.amplitude_to_db(S, ref=np.amax), 0),
        (lambda S: mf.amplitude_to_db(S, ref=lambda item: item.mean(), amin=1e-3), 0),
    ],
    # The finiteness check of the signal (check_audio); centred, so that the rectifiers have work to do.
    "envelope": [(lambda S, kind=kind, axis=axis: mf.envelope(S - 0.5, kind=kind, axis=axis), 1)
                 for kind in ("abs", "square", "halfwave", "hilbert") for axis in (-1, 1)]
                + [(lambda S: mf.envelope((S - 0.5)[..., :8], kind="hilbert"), 1)],  # an even length
    "instance_normalize": [(lambda S: mf.instance_normalize(S), 1), (lambda S: mf.instance_normalize(S, eps=0.5), 1)],
    # The spectrum (mod_freqs: test_modulation_spectrum_of_device_envelopes). check_spectrogram's finiteness
    # check, then for 'log' the sign check and log_compress's own.
    "modulation_spectrum": [
        (lambda S: mf.modulation_spectrum(S=S, frame_rate=62.5)[0], 3),
        (lambda S: mf.modulation_spectrum(S=S, frame_rate=62.5, compression="cbrt", window="hamming")[0], 1),
        (lambda S: mf.modulation_spectrum(S=S, frame_rate=62.5, compression=None, detrend=False, window=None)[0], 1),
        (lambda S: mf.modulation_spectrum(S=S[0, 0], frame_rate=62.5, C=10.0, window=("kaiser", 4.0))[0], 3),
    ],
}


def test_cases_cover_every_generic_function():
    assert set(CASES) == set(GENERIC)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(CASES))
def test_device_array_gives_the_numpy_result_through_its_module(xp, rng, name, dtype):
    S = _power(rng, dtype)
    for call, syncs in CASES[name]:
        expected = call(S)
        assert xp.calls == [] and SYNCS == []  # NumPy input never touches the device module
        got = call(DeviceArray(S))
        assert isinstance(got, DeviceArray), f"{name} returned {type(got).__name__}, not a device array"
        assert "gpu.melspectrogram" not in xp.calls
        # scale is one operator on the array: no module function to call.
        assert bool(xp.calls) == (name != "scale"), f"{name} called {xp.calls} of the device module"
        assert len(SYNCS) == syncs, f"{name}: {len(SYNCS)} host synchronisations"
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(got._host, expected)
        xp.calls.clear()
        SYNCS.clear()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ref", [2.0, 0.5, 3])
def test_number_ref_stays_a_host_scalar(xp, rng, dtype, ref):
    """A number ``ref`` is not sent to the device: its logarithm is taken on the host (Python's math).

    That differs from NumPy's float64 scalar arithmetic in the last bits at
    most, hence a tolerance of a few ulps here (the GPU backend's behaviour,
    kept as it was).
    """
    S = _power(rng, dtype)
    tol = 4 * np.finfo(dtype).eps
    for function in (mf.power_to_db, mf.amplitude_to_db):
        got = function(DeviceArray(S), ref=ref)
        assert "asarray" not in xp.calls and "log10" in xp.calls
        assert isinstance(got, DeviceArray) and got.dtype == dtype
        np.testing.assert_allclose(got._host, function(S, ref=ref), rtol=tol, atol=tol * 100)
        xp.calls.clear()


def test_a_weight_takes_device_frequencies(xp, rng):
    """The curve is designed on the host from device frequencies: one asnumpy, the weights sent back once."""
    S = _power(rng, np.float32)
    got = mf.a_weight(DeviceArray(S), frequencies=DeviceArray(FREQUENCIES), kind="power")
    assert xp.calls.count("asnumpy") == 1 and xp.calls.count("asarray") == 1
    np.testing.assert_array_equal(got._host, mf.a_weight(S, frequencies=FREQUENCIES, kind="power"))


def test_standardize_takes_device_statistics(xp, rng):
    S = _power(rng, np.float64)
    mean, std = np.linspace(0.1, 0.6, 6), np.full(6, 0.3)
    got = mf.standardize(DeviceArray(S), mode="frequency", mean=DeviceArray(mean), std=DeviceArray(std))
    np.testing.assert_array_equal(got._host, mf.standardize(S, mode="frequency", mean=mean, std=std))


def test_device_errors_keep_their_messages(xp):
    """The same checks refuse device arrays, with the messages of the NumPy path (CuPy names where they differ)."""
    S = DeviceArray(np.ones((4, 4), np.float32))
    cases = [
        (lambda: mf.log_compress(-S), "S has negative values; log_compress expects"),
        (lambda: mf.log_compress(S, C=0), "C=0 must be positive"),
        (lambda: mf.scale(DeviceArray(np.ones(3, np.float16))), r"S has dtype float16.*S.astype\(cupy.float32\)"),
        (lambda: mf.standardize(S, mode="time"), "mode='time' is not supported"),
        (lambda: mf.standardize(S, mean=0.0), "give both mean and std"),
        (lambda: mf.standardize(S, mean=np.ones(3), std=np.ones(3)), r"mean \(3,\) and std \(3,\) do not broadcast"),
        (lambda: mf.a_weight(S, frequencies=np.ones(3)), r"frequencies has shape \(3,\)"),
        (lambda: mf.a_weight(S, frequencies=np.ones(4), kind="loud"), "kind='loud' is not supported"),
        (lambda: mf.power_to_db(DeviceArray(np.ones((2, 2), np.complex64))),
         r"S is complex; pass the power abs\(S\)\*\*2 \(or use amplitude_to_db on abs\(S\)\)"),
        (lambda: mf.power_to_db(DeviceArray(np.ones((2, 2), np.int16))), r"S.astype\(cupy.float32\)"),
        (lambda: mf.power_to_db(S, amin=0), "amin=0 must be a finite number"),
        (lambda: mf.amplitude_to_db(S, top_db=-1), "top_db=-1 must be a finite non-negative number"),
        (lambda: mf.standardize(DeviceArray(np.full((2, 2), np.nan))), "S contains non-finite values"),
    ]
    for call, match in cases:
        with pytest.raises(ParameterError, match=match):
            call()
    # The NumPy messages name NumPy.
    with pytest.raises(ParameterError, match=r"np.abs\(S\)\*\*2 \(or use amplitude_to_db on np.abs\(S\)\)"):
        mf.power_to_db(np.ones((2, 2), np.complex64))
    with pytest.raises(ParameterError, match=r"S.astype\(np.float32\)"):
        mf.power_to_db(np.ones((2, 2), np.int16))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_hilbert_envelope_runs_its_ffts_on_the_device(xp, rng, dtype):
    """Both FFTs by the device module (cuFFT), the one-sided weights designed on the host and sent once."""
    x = rng.standard_normal((2, 3, 50)).astype(dtype)
    got = mf.envelope(DeviceArray(x), kind="hilbert", axis=-1)
    assert xp.calls == ["isfinite", "fft.rfft", "asarray", "fft.ifft", "abs"]
    assert got.dtype == dtype
    np.testing.assert_array_equal(got._host, mf.envelope(x, kind="hilbert"))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_modulation_spectrum_of_device_envelopes(xp, rng, dtype):
    """The window is designed on the host and sent by ``_backend.to_device``; mod_freqs stays a NumPy array."""
    S = rng.random((2, 5, 40)).astype(dtype)
    for window in ("hann", np.hanning(40), None):
        got, mod_freqs = mf.modulation_spectrum(S=DeviceArray(S), frame_rate=50.0, window=window)
        expected, expected_freqs = mf.modulation_spectrum(S=S, frame_rate=50.0, window=window)
        assert xp.calls.count("to_device") == (window is not None) and "asarray" not in xp.calls
        assert xp.calls.count("fft.rfft") == 1
        assert isinstance(got, DeviceArray) and got.dtype == dtype and len(SYNCS) == 3
        np.testing.assert_array_equal(got._host, expected)
        assert type(mod_freqs) is np.ndarray
        np.testing.assert_array_equal(mod_freqs, expected_freqs)
        xp.calls.clear()
        SYNCS.clear()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_modulation_spectrum_of_a_device_signal_takes_the_gpu_mel(xp, rng, dtype):
    """The mel step goes through ``modspec.features.melspectrogram``, which dispatches to the GPU one."""
    y = rng.standard_normal((2, 4000)).astype(dtype)
    kwargs = {"sr": 8000, "n_fft": 256, "n_mels": 16, "fmax": 3000.0}
    for compression, syncs in (("log", 2), ("cbrt", 1)):  # check_audio's finiteness (and log_compress's sign)
        got, mod_freqs = mf.modulation_spectrum(DeviceArray(y), compression=compression, **kwargs)
        expected, expected_freqs = mf.modulation_spectrum(y, compression=compression, **kwargs)
        assert xp.calls.count("gpu.melspectrogram") == 1 and xp.calls.count("to_device") == 1
        mel_kwargs = xp.gpu.kwargs.pop()
        assert isinstance(mel_kwargs["y"], DeviceArray) and mel_kwargs["S"] is None
        assert (mel_kwargs["n_fft"], mel_kwargs["hop_length"], mel_kwargs["power"]) == (256, 128, 1.0)
        assert isinstance(got, DeviceArray) and got.dtype == dtype and len(SYNCS) == syncs
        np.testing.assert_array_equal(got._host, expected)
        np.testing.assert_array_equal(mod_freqs, expected_freqs)
        xp.calls.clear()
        SYNCS.clear()


def test_modulation_errors_keep_their_messages(xp):
    """envelope, instance_normalize and modulation_spectrum refuse device arrays with the NumPy path's messages."""
    x = DeviceArray(np.ones((2, 3, 8), np.float32))
    S = DeviceArray(np.ones((4, 10), np.float32))
    cases = [
        (lambda: mf.envelope(x, kind="peak"), "kind='peak'"),
        (lambda: mf.envelope(x, axis=3), r"axis=3 must be an integer in \[-3, 2\] for x of 3 axes"),
        (lambda: mf.envelope(x, axis=1.0), r"axis=1.0 must be an integer"),
        (lambda: mf.envelope(DeviceArray(np.array([0.0, np.nan]))),
         r"x contains 1 non-finite sample\(s\).*cupy.nan_to_num\(x\)"),
        (lambda: mf.envelope(DeviceArray(np.ones(3, np.complex64))), r"x has complex dtype complex64.*cupy.abs\(x\)"),
        (lambda: mf.envelope(DeviceArray(np.ones((2, 0)))), "the signal is empty"),
        (lambda: mf.instance_normalize(S), r"S must have at least 3 axis/axes"),
        (lambda: mf.instance_normalize(DeviceArray(np.full((2, 2, 2), np.inf))), r"S contains non-finite values"),
        (lambda: mf.instance_normalize(x, eps=0), "eps=0 must be positive"),
        (lambda: mf.modulation_spectrum(), "give exactly one of y"),
        (lambda: mf.modulation_spectrum(x, S=S), "give exactly one of y"),
        (lambda: mf.modulation_spectrum(S=S, frame_rate=50.0, compression="sqrt"), "compression='sqrt'"),
        (lambda: mf.modulation_spectrum(S=S, frame_rate=50.0, C=0), "C=0 must be positive"),
        (lambda: mf.modulation_spectrum(S=S), "frame_rate=None: with S give the envelopes' sample rate"),
        (lambda: mf.modulation_spectrum(S=-S, frame_rate=50.0), "S has negative values; compression='log' needs"),
        (lambda: mf.modulation_spectrum(S=S[:, :1], frame_rate=50.0), r"the envelopes have 1 frame\(s\)"),
        (lambda: mf.modulation_spectrum(S=DeviceArray(np.ones(5, np.float32)), frame_rate=50.0),
         "S must have at least 2 axis/axes"),
        (lambda: mf.modulation_spectrum(x, frame_rate=50.0), "frame_rate=50.0 goes with S only"),
        (lambda: mf.modulation_spectrum(x, n_fft=1), r"hop_length=None gives n_fft // 2 = 0 for n_fft=1"),
        (lambda: mf.modulation_spectrum(S=S, frame_rate=50.0, window="nope"), "nope"),
    ]
    for call, match in cases:
        with pytest.raises(ParameterError, match=match):
            call()
    assert "gpu.melspectrogram" not in xp.calls


def test_stand_in_catches_numpy_on_a_device_array():
    """The stand-in is strict: otherwise the tests above would pass vacuously."""
    S = DeviceArray(np.ones((2, 2)))
    for misuse in (lambda: np.log10(S), lambda: np.max(S), lambda: np.asarray(S), lambda: S + np.ones((2, 2)),
                   lambda: np.fft.rfft(S), lambda: scipy.fft.rfft(S)):
        with pytest.raises((AssertionError, TypeError), match="device array"):
            misuse()
    assert isinstance(S * 2.0 + 1.0, DeviceArray)


def test_gpu_backend_has_no_copies_of_the_generic_functions():
    from modspec.kernels import gpu

    for name in GENERIC:
        assert not hasattr(gpu, name) and name not in gpu.__all__, name
