"""The GPU backend without a GPU: kernels under numba's CUDA simulator, dispatch, and the no-GPU-path errors.

The simulator checks run in one subprocess (``tests/gpu_sim_check.py`` with
``NUMBA_ENABLE_CUDASIM=1``): the variable only takes effect if it is set
before numba.cuda is first imported, and this process must keep the real
numba.cuda for the other tests. Real-GPU tests are in ``tests/test_gpu.py``.
"""

import ctypes
import inspect
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import numba.core.errors
import numpy as np
import pytest
from gpu_sim_check import CHECKS, DeviceArray, _Device

import modspec.features as mf
from modspec import _backend
from modspec.errors import ParameterError

SIM_SCRIPT = Path(__file__).with_name("gpu_sim_check.py")


@pytest.fixture(scope="module")
def simulator_results():
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1", OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, str(SIM_SCRIPT)], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("check", sorted(CHECKS))
def test_under_cuda_simulator(simulator_results, check):
    """Each GPU kernel against its CPU kernel; each feature on a device array against the NumPy result."""
    assert simulator_results[check] == "ok", simulator_results[check]


def test_simulator_script_refuses_to_run_on_real_numba_cuda():
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    proc = subprocess.run([sys.executable, str(SIM_SCRIPT)], capture_output=True, text=True, env=env)
    assert proc.returncode != 0 and "NUMBA_ENABLE_CUDASIM=1" in proc.stderr


PTX_CHECK = r"""
import ctypes, re, types
import numpy as np
from numba import cuda
from modspec.kernels import gpu

try:
    from numba.cuda.cudadrv import nvvm
    nvvm.NVVM()
except Exception as exc:  # no libNVVM (CUDA toolkit) on this machine
    print("NO-NVVM", type(exc).__name__, exc)
    raise SystemExit(0)
try:  # numba-cuda's, or numba's own CUDA target's
    from numba.cuda.core import sigutils
except ImportError:
    from numba.core import sigutils
for dt, c in (("float32", "complex64"), ("float64", "complex128")):
    k = gpu.kernels(np.dtype(dt))
    signatures = {
        "frame": f"void({dt}[:, ::1], {dt}[::1], int64, int64, boolean, {dt}[:, :, ::1], int32[::1])",
        "power": f"void({c}[:, :, ::1], float64, {dt}[:, :, ::1])",
        "project": f"void({dt}[:, :, ::1], {dt}[:, ::1], int64[::1], int64[::1], {dt}[:, :, ::1])",
        "power_project": f"void({c}[:, :, ::1], {dt}, {dt}[:, ::1], int64[::1], int64[::1], {dt}[:, :, ::1])",
        "correlate": f"void({dt}[:, ::1], {dt}[:, ::1], int64, int64, int64, {dt}[:, :, ::1])",
        "modulus": f"void({c}[:, ::1], {dt}[:, ::1])",
        "modulus_lowpass": (f"void({c}[:, ::1], {dt}[::1], int64, int64, int64, int64[::1], int64[::1], "
                            f"{dt}[:, :, ::1])"),
        "reflect_pad": f"void({dt}[:, ::1], int64, {dt}[:, ::1])",
        "fold": f"void({c}[:, ::1], int64, int64[::1], int64[::1], int64[::1], int64[::1], {dt}[::1], {c}[:, ::1])",
    }
    assert set(signatures) == set(vars(k)), set(vars(k)) ^ set(signatures)
    for name, signature in signatures.items():
        ptx, _ = cuda.compile_ptx(getattr(k, name).py_func, signature, cc=(9, 0))
        assert ".entry" in ptx, name
        # The direct launch's packing of these argument types against the kernel's parameters in the PTX:
        # same count, and each an integer or a float of the same width.
        entry = ptx[ptx.index(".entry"):]
        declared = [(t[0] == "f", int(t[1:]) // 8) for t in re.findall(r"\.param \.(\w+)", entry[:entry.index(")")])]
        params = []
        for t in sigutils.normalize_signature(signature)[0]:
            pack = gpu._packer(t)
            value = (types.SimpleNamespace(size=1, itemsize=4, data=types.SimpleNamespace(ptr=0), shape=(1,) * t.ndim,
                                           strides=(4,) * t.ndim) if pack is gpu._pack_array
                     else True if str(t) == "bool" else 1.0 if str(t).startswith("float") else 1)
            pack(value, params)
        packed = [(False, 1) if isinstance(v, bool) else (False, 8) if isinstance(v, int)
                  else (isinstance(v, (ctypes.c_float, ctypes.c_double)), ctypes.sizeof(v)) for v in params]
        assert packed == declared, (name, packed, declared)
        print("compiled", dt, name)
"""


def test_kernels_compile_to_ptx_without_a_gpu():
    """Every kernel, both dtypes, through numba's real CUDA compiler to PTX for sm_90 (needs libNVVM, not a GPU);
    the direct launch packs each signature's arguments as the PTX declares the kernel's parameters."""
    proc = subprocess.run([sys.executable, "-c", PTX_CHECK], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    if proc.stdout.startswith("NO-NVVM"):
        pytest.skip(f"libNVVM (the CUDA toolkit) is not installed: {proc.stdout.strip()}")
    assert proc.stdout.count("compiled") == 18, proc.stdout


# --------------------------------------------------------------------------- imports


def test_imports_load_neither_cupy_nor_numba_cuda():
    code = (
        "import sys, modspec, modspec.features, modspec.kernels.gpu\n"
        "print(sorted(m for m in ('cupy', 'numba.cuda') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_features_do_not_import_the_gpu_module():
    code = "import sys, modspec.features; print('modspec.kernels.gpu' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_missing_cupy_names_the_extra(monkeypatch):
    from modspec.kernels import gpu

    monkeypatch.setitem(sys.modules, "cupy", None)  # `import cupy` now raises ImportError
    with pytest.raises(ImportError, match=r"pip install 'modspec\[gpu\]'"):
        gpu._cupy()


def test_numpy_arrays_are_not_cupy():
    y = np.zeros(4, np.float32)
    assert not _backend.is_cupy(y)
    assert not _backend.is_cupy(None)
    assert _backend.get_array_module(y, None, 3.0) is np


def test_is_cupy_needs_cupy_imported(monkeypatch):
    fake = types.ModuleType("cupy")

    class ndarray:
        pass

    fake.ndarray = ndarray
    monkeypatch.setitem(sys.modules, "cupy", fake)
    assert _backend.is_cupy(ndarray())
    assert not _backend.is_cupy(np.zeros(2))
    assert _backend.get_array_module(np.zeros(2), ndarray()) is fake



def test_shared_validators_accept_cupy_arrays_and_check_them_on_the_device(monkeypatch):
    """modspec.errors' checks serve both backends: a CuPy array is accepted, tested with cupy's own ufuncs."""
    from modspec.errors import check_audio, check_float_array, check_spectrogram

    calls = []
    fake = types.ModuleType("cupy")

    class ndarray:  # not a NumPy array: np.asarray on it would be a host copy
        def __init__(self, values):
            self.values = np.asarray(values)
            self.dtype, self.shape, self.ndim, self.size = (self.values.dtype, self.values.shape,
                                                            self.values.ndim, self.values.size)

    def isfinite(x):
        calls.append("isfinite")
        return np.isfinite(x.values)

    fake.ndarray, fake.isfinite, fake.count_nonzero, fake.float32 = ndarray, isfinite, np.count_nonzero, np.float32
    monkeypatch.setitem(sys.modules, "cupy", fake)
    good = ndarray(np.zeros((2, 3), np.float32))
    assert check_audio(good) is good and check_spectrogram(good) is good
    assert calls == ["isfinite", "isfinite"]
    with pytest.raises(ParameterError, match=r"1 non-finite sample.*cupy.nan_to_num\(y\)"):
        check_audio(ndarray(np.array([0.0, np.nan], np.float32)))
    with pytest.raises(ParameterError, match=r"astype\(cupy.float32\)"):
        check_float_array("y", ndarray(np.zeros(2, np.float16)))
    with pytest.raises(ParameterError, match="must be a NumPy array"):
        check_float_array("y", [0.0, 1.0])


# --------------------------------------------------------------------------- dispatch

#: Every function of modspec.features with a GPU twin in modspec.kernels.gpu, and a call of it. The
#: array-module-generic ones (power_to_db, amplitude_to_db, log_compress, scale, standardize, a_weight,
#: envelope, instance_normalize, modulation_spectrum) have no twin: tests/test_xp_generic.py checks them.
#: The scattering transforms (scattering, scalogram, jtfs, jtfs_tensor) run the plans of the CPU on the
#: pipelines of modspec.kernels.gpu_scattering: gpu_sim_check.py checks them end to end.
DISPATCHED = {
    "stft": lambda x: mf.stft(x, n_fft=64),
    "spectrogram": lambda x: mf.spectrogram(x, n_fft=64, power=1.0),
    "melspectrogram": lambda x: mf.melspectrogram(x, sr=16000, n_mels=40),
    "sinc_filterbank": lambda x: mf.sinc_filterbank(x, 16000, rectify="relu"),
    "harmonic_spectrogram": lambda x: mf.harmonic_spectrogram(x, 16000, n_harmonic=2),
    "modulation_filterbank": lambda x: mf.modulation_filterbank(x, frame_rate=62.5, n_filters=4),
}
@pytest.fixture
def device_array(monkeypatch):
    """A NumPy array that the dispatch takes for a CuPy array, and a recorder standing in for the GPU module."""
    marked = np.ones((2, 3, 64), np.float32)
    calls = []

    class Recorder:
        def __getattr__(self, name):
            def record(**kwargs):
                calls.append((name, kwargs))
                return "from the GPU module"

            return record

    monkeypatch.setattr(_backend, "is_cupy", lambda x: x is marked)
    monkeypatch.setattr(_backend, "gpu", Recorder)
    return marked, calls


@pytest.mark.parametrize("name", sorted(DISPATCHED))
def test_device_arrays_go_to_the_gpu_module(device_array, name):
    marked, calls = device_array
    assert DISPATCHED[name](marked) == "from the GPU module"
    assert [call[0] for call in calls] == [name]
    # Every argument is forwarded, by name, with the caller's values or the defaults.
    forwarded = calls[0][1]
    assert any(value is marked for value in forwarded.values())
    assert set(forwarded) == set(inspect.signature(getattr(mf, name)).parameters)


@pytest.mark.parametrize("name", sorted(DISPATCHED))
def test_work_runs_on_the_device_of_the_input(monkeypatch, name):
    """A CuPy array on another GPU is worked on there: its device is current for the whole call, then restored."""
    current = [0]

    class Device:
        def __init__(self, id):
            self.id = id

        def __enter__(self):
            self.previous, current[0] = current[0], self.id

        def __exit__(self, *exc):
            current[0] = self.previous

    class ndarray(np.ndarray):  # a NumPy array playing a CuPy array on device 3
        device = Device(3)

    fake = types.ModuleType("cupy")
    fake.ndarray, fake.cuda = ndarray, types.SimpleNamespace(Device=Device)
    monkeypatch.setitem(sys.modules, "cupy", fake)
    seen = []

    class Recorder:
        def __getattr__(self, function):
            def record(**kwargs):
                seen.append((function, current[0]))
                return "from the GPU module"

            return record

    monkeypatch.setattr(_backend, "gpu", Recorder)
    assert DISPATCHED[name](np.ones((2, 3, 64), np.float32).view(ndarray)) == "from the GPU module"
    assert seen == [(name, 3)] and current[0] == 0


class NumbaCudaPerformanceWarning(Warning):
    """Stands in for numba-cuda's NumbaPerformanceWarning, which is not a subclass of numba's."""


@pytest.mark.parametrize("NumbaPerformanceWarning", [numba.core.errors.NumbaPerformanceWarning,
                                                     NumbaCudaPerformanceWarning])
def test_small_launches_do_not_warn_of_low_occupancy(monkeypatch, NumbaPerformanceWarning):
    """numba warns below 128 blocks at every launch (and pytest makes its performance warnings errors)."""
    import warnings

    from modspec.kernels import gpu

    stream = types.SimpleNamespace(ptr=0)
    monkeypatch.setattr(gpu, "_cupy", lambda: types.SimpleNamespace(cuda=types.SimpleNamespace(
        get_current_stream=lambda: stream)))
    monkeypatch.setattr(gpu, "_simulated", lambda: False)
    monkeypatch.setattr(gpu, "DIRECT_LAUNCH", False)  # numba's launch path, the one that warns
    monkeypatch.setattr(gpu, "cuda", types.SimpleNamespace(default_stream=lambda: "default stream"), raising=False)
    launched = []

    class Kernel:  # numba's dispatcher warns when configured: kernel[blocks, threads, stream]
        def __getitem__(self, config):
            warnings.warn(f"Grid size {config[0]} will likely result in GPU under-utilization due to low occupancy.",
                          NumbaPerformanceWarning, stacklevel=2)
            return lambda *args: launched.append((config, args))

    class HostArrayKernel(Kernel):
        def __getitem__(self, config):
            warnings.warn("Host array used in CUDA kernel will incur copy overhead to/from device.",
                          NumbaPerformanceWarning, stacklevel=2)
            return lambda *args: launched.append((config, args))

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gpu.launch(Kernel(), 5, 1.0, 2)
        with pytest.raises(NumbaPerformanceWarning, match="Host array"):  # other warnings still come through
            gpu.launch(HostArrayKernel(), 5, 1.0, 2)
    assert launched == [((1, gpu.THREADS, "default stream"), (1.0, 2))]


def test_cached_device_arrays_are_converted_for_numba_once(monkeypatch):
    """numba's view of a cached filter is made once and passed to every launch; other CuPy arrays are converted at
    each launch; a view goes with its array."""
    import gc

    import numba.cuda

    from modspec.kernels import gpu

    class ndarray(DeviceArray):  # the simulator checks' stand-in CuPy array, with the CUDA array interface
        @property
        def __cuda_array_interface__(self):
            return {"shape": self.shape, "data": (id(self), False)}

    fake = types.ModuleType("cupy")
    fake.ndarray, fake.asarray = ndarray, lambda a: np.array(a).view(ndarray)
    fake.cuda = types.SimpleNamespace(Device=_Device, get_current_stream=lambda: types.SimpleNamespace(ptr=0))
    monkeypatch.setitem(sys.modules, "cupy", fake)
    monkeypatch.setattr(gpu, "_simulated", lambda: False)
    monkeypatch.setattr(gpu, "DIRECT_LAUNCH", False)  # every launch through numba's dispatcher
    cached_views, launch_conversions, launched = [], [], []

    def from_cuda_array_interface(desc, owner, sync):
        assert owner is None and not sync  # the view must not keep the array alive, nor wait on its stream
        cached_views.append(("view", desc["data"][0]))
        return cached_views[-1]

    def as_cuda_array(value, sync):
        launch_conversions.append(value)
        return ("converted", id(value))

    monkeypatch.setattr(numba.cuda, "from_cuda_array_interface", from_cuda_array_interface)
    monkeypatch.setattr(gpu, "cuda", types.SimpleNamespace(as_cuda_array=as_cuda_array,
                                                           default_stream=lambda: "default stream"), raising=False)

    class Kernel:
        def __getitem__(self, config):
            return lambda *args: launched.append(args)

    like = fake.asarray(np.zeros(4, np.float32))
    bank = np.ones((2, 3), np.float32)
    bank.flags.writeable = False  # a memoised design: cached
    try:
        moved = gpu._to_device(bank, like)
        assert gpu._to_device(bank, like) is moved and cached_views == [("view", id(moved))]
        writeable = gpu._to_device(np.ones(3, np.float32), like)  # copied at every call: no view kept
        assert id(writeable) not in gpu._views
        per_call = fake.asarray(np.zeros(5, np.float32))
        for _ in range(2):
            gpu.launch(Kernel(), 5, moved, per_call, 2.0)
        assert launched == [(cached_views[0], ("converted", id(per_call)), 2.0)] * 2
        assert launch_conversions == [per_call, per_call] and len(cached_views) == 1
    finally:
        _backend.clear_device_cache()
    key = id(moved)
    del moved
    gc.collect()
    assert key not in gpu._views


class PointerArray(DeviceArray):
    """The stand-in CuPy array with a device pointer (its host address), as the direct launch reads it."""

    @property
    def data(self):
        return types.SimpleNamespace(ptr=self.__array_interface__["data"][0])


class FakeOverload:
    """What numba keeps of a compiled signature and the direct launch reads."""

    cooperative = debug = False
    extensions = ()

    def __init__(self, argtypes):
        self.argument_types = argtypes
        function = types.SimpleNamespace(kernel=("binary", argtypes))
        self.library = types.SimpleNamespace(get_cufunc=lambda: function)


class FakeDispatcher:
    """numba's dispatcher as :func:`launch` uses it: ``kernel[blocks, threads, stream](*args)`` compiles an
    overload (for the exact argument types, or ``overload_types(argtypes)``) and launches it."""

    __name__ = "fake_kernel"
    _launch_config_sensitive = False

    def __init__(self, overload_types=lambda argtypes: argtypes):
        self.overloads, self.numba_launches, self.overload_types = {}, [], overload_types

    def typeof_pyval(self, value):
        return numba.typeof(np.asarray(value) if isinstance(value, np.ndarray) else value)

    def __getitem__(self, config):
        def run(*args):
            argtypes = self.overload_types(tuple(self.typeof_pyval(a) for a in args))
            self.overloads.setdefault(argtypes, FakeOverload(argtypes))
            self.numba_launches.append((config, args))

        return run


@pytest.fixture
def direct_launch(monkeypatch):
    """gpu.launch outside the simulator on stand-in CuPy arrays, with numba's conversion and cuda.core's launch
    recorded: yields (asarray, core_launches)."""
    from modspec.kernels import gpu

    fake = types.ModuleType("cupy")
    fake.ndarray, fake.asarray = PointerArray, lambda a: np.array(a).view(PointerArray)
    fake.cuda = types.SimpleNamespace(Device=_Device, get_current_stream=lambda: types.SimpleNamespace(ptr=7),
                                      runtime=types.SimpleNamespace(getDevice=lambda: 0))
    monkeypatch.setitem(sys.modules, "cupy", fake)
    core_launches = []
    core = types.ModuleType("cuda.core")
    core.launch = lambda stream, config, kernel, *params: core_launches.append((stream, config, kernel, params))
    core.Stream = types.SimpleNamespace(from_handle=lambda ptr: ("core stream", ptr))
    core.LaunchConfig = lambda grid, block: ("config", grid, block)
    package = types.ModuleType("cuda")
    package.core = core
    monkeypatch.setitem(sys.modules, "cuda", package)
    monkeypatch.setitem(sys.modules, "cuda.core", core)
    monkeypatch.setattr(gpu, "_simulated", lambda: False)
    monkeypatch.setattr(gpu, "DIRECT_LAUNCH", True)
    monkeypatch.setattr(gpu, "_direct_launches", {})
    monkeypatch.setattr(gpu, "direct_launch_failure", None)
    monkeypatch.setattr(gpu, "cuda", types.SimpleNamespace(as_cuda_array=lambda value, sync: value,
                                                           external_stream=lambda ptr: ("numba stream", ptr)),
                        raising=False)
    gpu._core_stream.cache_clear()
    gpu._launch_config.cache_clear()
    yield fake.asarray, core_launches
    gpu._core_stream.cache_clear()
    gpu._launch_config.cache_clear()


def _plain(params):
    """Kernel parameters as comparable values: ctypes scalars as (type name, value)."""
    return [(type(v).__name__, v.value) if isinstance(v, ctypes._SimpleCData) else ("bool", v) if isinstance(v, bool)
            else v for v in params]


def test_later_launches_of_a_signature_skip_numba(direct_launch):
    """The first launch of a signature goes through numba (which compiles it); later ones go to cuda.core with
    the arguments packed in numba's ABI: meminfo, parent, size, itemsize, data, shape, strides per array."""
    from modspec.kernels import gpu

    asarray, core_launches = direct_launch
    kernel = FakeDispatcher()
    y = asarray(np.arange(6, dtype=np.float32).reshape(2, 3))
    out = asarray(np.zeros((2, 3, 4), np.float32))
    for _ in range(3):
        gpu.launch(kernel, 300, y, 2, 1.5, True, np.float32(0.5), out)
    assert [config for config, _ in kernel.numba_launches] == [(3, gpu.THREADS, ("numba stream", 7))]
    assert len(core_launches) == 2 and gpu.direct_launch_failure is None
    stream, config, binary, params = core_launches[-1]
    assert stream == ("core stream", 7) and config == ("config", 3, gpu.THREADS)
    assert binary == ("binary", next(iter(kernel.overloads)))
    assert _plain(params) == [
        0, 0, 6, 4, y.data.ptr, 2, 3, 12, 4,
        ("c_long", 2), ("c_double", 1.5), ("bool", True), ("c_float", 0.5),
        0, 0, 24, 4, out.data.ptr, 2, 3, 4, 48, 16, 4,
    ]
    # A new dtype, or a view that is not contiguous, is a new signature: numba first, then direct.
    for args in ((y.astype(np.float64), 2, 1.5, True, np.float32(0.5), out),
                 (y[:, ::2], 2, 1.5, True, np.float32(0.5), out)):
        gpu.launch(kernel, 300, *args)
        gpu.launch(kernel, 300, *args)
    assert len(kernel.numba_launches) == 3 and len(core_launches) == 4
    assert _plain(core_launches[-1][3])[:9] == [0, 0, 4, 4, y[:, ::2].data.ptr, 2, 2, 12, 8]


def test_direct_launch_can_be_switched_off(direct_launch, monkeypatch):
    from modspec.kernels import gpu

    asarray, core_launches = direct_launch
    monkeypatch.setattr(gpu, "DIRECT_LAUNCH", False)
    kernel = FakeDispatcher()
    x = asarray(np.ones(4, np.float32))
    for _ in range(3):
        gpu.launch(kernel, 4, x, 1)
    assert len(kernel.numba_launches) == 3 and core_launches == []


@pytest.mark.parametrize("case, reason", [
    ("overload chosen by conversion", "KeyError"),
    ("complex scalar", "no direct launch for an argument of type complex128"),
    ("host array", "not a CuPy array"),
])
def test_signatures_that_cannot_go_direct_stay_with_numba(direct_launch, case, reason):
    """An overload numba did not compile for these exact types, an argument type the packing does not know, or a
    NumPy array: every launch stays with numba, and direct_launch_failure says why."""
    from modspec.kernels import gpu

    asarray, core_launches = direct_launch
    x = asarray(np.ones(4, np.float32))
    if case == "overload chosen by conversion":  # numba ran its 'A'-layout overload for a C-contiguous array
        kernel = FakeDispatcher(lambda argtypes: tuple(t.copy(layout="A") if hasattr(t, "layout") else t
                                                       for t in argtypes))
        args = (x, 1)
    elif case == "complex scalar":
        kernel, args = FakeDispatcher(), (x, 1j)
    else:
        kernel, args = FakeDispatcher(), (np.ones(4, np.float32), 1)
    for _ in range(3):
        gpu.launch(kernel, 4, *args)
    assert len(kernel.numba_launches) == 3 and core_launches == []
    assert gpu.direct_launch_failure.startswith("fake_kernel") and reason in gpu.direct_launch_failure


def test_no_gpu_path_error_says_what_to_do():
    """What has no GPU path (a window or cut-offs given as CuPy arrays) raises a ParameterError that says so."""
    error = _backend.no_gpu_path("a CuPy window array", hint="pass the window as a NumPy array or a name")
    assert isinstance(error, ParameterError) and isinstance(error, NotImplementedError)
    message = str(error)
    assert message.startswith("a CuPy window array has no GPU path yet")
    assert "cupy.asnumpy" in message and message.endswith("or pass the window as a NumPy array or a name")


def test_numpy_arrays_stay_on_the_cpu(device_array):
    _, calls = device_array
    S = mf.melspectrogram(np.zeros(1000, np.float32), sr=16000, n_fft=256, n_mels=8)
    assert isinstance(S, np.ndarray) and not calls


# --------------------------------------------------------------------------- GPU benchmarks without a GPU


def test_gpu_benchmarks_skip_cleanly_without_a_gpu(tmp_path, capsys):
    from benchmarks import compare_gpu
    from benchmarks.benchmarks import gpu as asv_gpu

    reason = compare_gpu.gpu_unavailable_reason()
    if reason is None:
        pytest.skip("a GPU is present: the skip path does not apply (run python -m benchmarks.compare_gpu)")
    out = tmp_path / "gpu.json"
    assert compare_gpu.main(["--quick", "--out", str(out)]) == 0
    assert json.loads(out.read_text()) == {"skipped": reason}
    assert f"GPU comparison skipped: {reason}" in capsys.readouterr().out
    suites = [asv_gpu.Transfer, asv_gpu.MelSpectrogramGPU, asv_gpu.FrontEndsGPU]
    for suite in suites:
        with pytest.raises(NotImplementedError, match="CuPy|CUDA"):
            suite().setup()
