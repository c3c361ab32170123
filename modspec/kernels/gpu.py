"""The GPU backend: numba.cuda kernels and cuFFT (through CuPy) on CuPy arrays.

Every public function here is the GPU twin of the function of the same name in
:mod:`modspec.features` (same arguments, same checks, same numbers up to
float rounding), which dispatches to it when given a CuPy array. The results
stay on the array's device; nothing is copied to the host. Functions without
kernels whose body is the same in NumPy and CuPy (``power_to_db``,
``amplitude_to_db``, ``log_compress``, ``scale``, ``standardize``,
``a_weight``, ``envelope``, ``instance_normalize``,
``modulation_spectrum``) have no twin here: :mod:`modspec.features` runs
them with the array module of their input
(:func:`modspec._backend.get_array_module`).

Kernels
-------
One thread per output element, no shared memory: simple enough to check in
numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``) against the CPU kernels.

- ``frame``: framing and windowing with zero or reflect padding, read straight
  from the signal (no padded copy), frame-major for cuFFT's batched rfft;
- ``power``: ``|X|^p`` transposed to (frequency, time);
- ``project``: sparse band projections (mel, harmonic triangles) of a
  spectrogram: each band reads only its non-zero bins;
- ``power_project``: ``power`` and ``project`` fused, straight from the
  spectrum (the mel and harmonic spectrograms of a signal);
- ``correlate``: strided, zero-padded FIR correlation of every row with every
  filter (the sinc filterbank, and the modulation filterbank shared across
  bands), rectification fused;
- ``reflect_pad``, ``fold``, ``modulus``, ``modulus_lowpass``:
  the scattering's padding, its band-limited filtering folded to the
  wavelet's rate (see :mod:`modspec.kernels.cpu_scattering`), the modulus
  and its decimating low-pass (only the kept samples are computed); the
  pipelines that use them are in :mod:`modspec.kernels.gpu_scattering`.

Importing this module imports neither CuPy nor numba.cuda: the kernels are
built on first use by :func:`kernels` once per dtype, and numba compiles each
once per device (its dispatchers keep one binary per signature and context).

Layering: the entry points reuse the validators and geometry of
:mod:`modspec.features` (imported inside the functions, where the features
package is already loaded), so both backends accept and refuse the same input.
"""

import functools
import math
import types
import warnings
import weakref

import numpy as np

from modspec import _backend, filters
from modspec.errors import ParameterError, check_audio, check_positive_int, check_power

__all__ = [
    "harmonic_spectrogram", "kernels", "melspectrogram", "modulation_filterbank", "sinc_filterbank", "spectrogram",
    "stft",
]

#: Threads per block of every kernel.
THREADS = 128
# Rectification codes of the correlation kernel (as modspec.kernels.cpu).
_RECTIFY_CODES = {None: 0, "relu": 1, "abs": 2, "square": 3}


def _cupy():
    """CuPy, or an ImportError that names the extra."""
    try:
        import cupy
    except ImportError as err:
        raise ImportError("modspec's GPU backend needs CuPy: pip install 'modspec[gpu]'") from err
    return cupy


# --------------------------------------------------------------------------- kernels


# numba.cuda, imported by the first kernels() call. A module global, not a
# closure variable, because numba's CUDA simulator swaps module globals that
# are numba.cuda for its fake module while a kernel runs.
cuda = None


def kernels(dtype):
    """The numba.cuda kernels for real dtype ``dtype`` (float32 or float64), built once per dtype.

    Parameters
    ----------
    dtype : np.dtype or type
        float32 or float64: accumulators and constants are of this type, so
        float32 work stays in single precision.

    Returns
    -------
    types.SimpleNamespace
        The dispatchers ``frame``, ``power``, ``project``, ``power_project``, ``correlate``,
        ``reflect_pad``, ``fold``, ``modulus`` and ``modulus_lowpass``; numba
        compiles each on its first launch per device and argument types.
    """
    return _build_kernels(np.dtype(dtype).name)


@functools.cache
def _build_kernels(dtype_name):
    global cuda
    from numba import cuda

    zero = np.dtype(dtype_name).type(0)
    czero = np.result_type(np.dtype(dtype_name), np.complex64).type(0)

    @cuda.jit
    def frame(y, window, hop, pad, reflect, frames, bad):  # pragma: no cover
        """frames[b, t, k] = window[k] * y[b, t * hop + k - pad], zero or reflect padded (single reflection).

        Thread ``i`` also checks sample ``i`` of ``y`` (launch at least
        ``y.size`` threads) and sets ``bad[0] = 1`` if it is NaN or inf: the
        finiteness check of :func:`~modspec.errors.check_audio`, samples no
        frame reads included, in the framing pass.
        """
        i = cuda.grid(1)
        n_samples = y.shape[1]
        if i < y.shape[0] * n_samples and not math.isfinite(y[i // n_samples, i % n_samples]):
            bad[0] = 1
        n_batch, n_frames, n_fft = frames.shape
        if i >= n_batch * n_frames * n_fft:
            return
        k = i % n_fft
        t = (i // n_fft) % n_frames
        b = i // (n_fft * n_frames)
        j = t * hop + k - pad
        if 0 <= j < n_samples:
            frames[b, t, k] = y[b, j] * window[k]
        elif not reflect:
            frames[b, t, k] = zero
        elif j < 0:
            frames[b, t, k] = y[b, -j] * window[k]
        else:
            frames[b, t, k] = y[b, 2 * (n_samples - 1) - j] * window[k]

    @cuda.jit
    def power(X, exponent, out):  # pragma: no cover
        """out[b, f, t] = |X[b, t, f]|^exponent (frame-major spectrum to frequency-major power)."""
        i = cuda.grid(1)
        n_batch, n_freq, n_frames = out.shape
        if i >= n_batch * n_freq * n_frames:
            return
        t = i % n_frames
        f = (i // n_frames) % n_freq
        b = i // (n_frames * n_freq)
        z = X[b, t, f]
        p = z.real * z.real + z.imag * z.imag
        if exponent == 2.0:
            out[b, f, t] = p
        elif exponent == 1.0:
            out[b, f, t] = math.sqrt(p)
        else:
            out[b, f, t] = p ** (0.5 * exponent)

    @cuda.jit
    def project(S, weights, starts, stops, out):  # pragma: no cover
        """out[b, m, t] = sum_k weights[m, k] S[b, k, t] over band m's non-zero bins starts[m]:stops[m]."""
        i = cuda.grid(1)
        n_batch, n_bands, n_frames = out.shape
        if i >= n_batch * n_bands * n_frames:
            return
        t = i % n_frames
        m = (i // n_frames) % n_bands
        b = i // (n_frames * n_bands)
        acc = zero
        for k in range(starts[m], stops[m]):
            acc += weights[m, k] * S[b, k, t]
        out[b, m, t] = acc

    @cuda.jit
    def power_project(X, half, weights, starts, stops, out):  # pragma: no cover
        """out[b, m, t] = sum_k weights[m, k] |X[b, t, k]|^(2 half) over band m's bins starts[m]:stops[m].

        ``power`` and ``project`` in one pass: |X|^p is never stored (as the
        CPU's ``_block_to_bands`` per block of frames). ``half`` is half the
        exponent, of the output's dtype, so float32 work stays in float32.
        """
        i = cuda.grid(1)
        n_batch, n_bands, n_frames = out.shape
        if i >= n_batch * n_bands * n_frames:
            return
        t = i % n_frames
        m = (i // n_frames) % n_bands
        b = i // (n_frames * n_bands)
        acc = zero
        for k in range(starts[m], stops[m]):
            z = X[b, t, k]
            p = z.real * z.real + z.imag * z.imag
            if half == 0.5:
                p = math.sqrt(p)
            elif half != 1.0:
                p = p**half
            acc += weights[m, k] * p
        out[b, m, t] = acc

    @cuda.jit
    def correlate(x, taps, stride, left, rectify, out):  # pragma: no cover
        """out[r, f, t] = rect(sum_j x[r, t * stride + j - left] taps[f, j]), x zero outside [0, n_samples)."""
        i = cuda.grid(1)
        n_rows, n_filters, n_out = out.shape
        if i >= n_rows * n_filters * n_out:
            return
        t = i % n_out
        f = (i // n_out) % n_filters
        r = i // (n_out * n_filters)
        kernel_size = taps.shape[1]
        start = t * stride - left
        # Only the taps that land on the signal: the zero padding is never read.
        lo = -start if start < 0 else 0
        hi = x.shape[1] - start if start + kernel_size > x.shape[1] else kernel_size
        acc = zero
        for j in range(lo, hi):
            acc += x[r, start + j] * taps[f, j]
        # Rectification codes: 1 relu, 2 abs, 3 square (0 none).
        if rectify == 1:
            acc = acc if acc > zero else zero
        elif rectify == 2:
            acc = abs(acc)
        elif rectify == 3:
            acc = acc * acc
        out[r, f, t] = acc

    @cuda.jit
    def reflect_pad(x, pad_left, out):  # pragma: no cover
        """out[b, i] = x[b, i - pad_left], mirrored at both ends without repeating the edge (np.pad 'reflect')."""
        i = cuda.grid(1)
        n_batch, n_out = out.shape
        if i >= n_batch * n_out:
            return
        b = i // n_out
        n = x.shape[1]
        k = i % n_out - pad_left
        if k < 0 or k >= n:
            # Repeated reflections (pads longer than the signal) are one reflection of period 2 n - 2.
            period = 2 * n - 2
            k %= period
            if k >= n:
                k = period - k
        out[b, i % n_out] = x[b, k]

    @cuda.jit
    def fold(Xh, length, src, fid, starts, offsets, vals, Z):  # pragma: no cover
        """Z[r, m] = sum of X_src[r][k] * value over the bins k of filter fid[r]'s arc with k = m (mod M).

        ``Xh[s]`` is the half spectrum (rfft) of a real signal of ``length``
        samples (bins above ``length / 2`` are conjugates of their mirrors);
        arc f covers bins ``(starts[f] + q) mod length`` for
        ``q < offsets[f + 1] - offsets[f]``. Folding to ``M = Z.shape[1]``
        bins subsamples the product in time; each thread sums its bin's
        aliases in the CPU kernel's order.
        """
        i = cuda.grid(1)
        n_rows, M = Z.shape
        if i >= n_rows * M:
            return
        r = i // M
        m = i % M
        f = fid[r]
        s = src[r]
        start = starts[f]
        offset = offsets[f]
        n_arc = offsets[f + 1] - offset
        half = length // 2
        acc = czero
        q = (m - start) % M
        while q < n_arc:
            k = (start + q) % length
            if k <= half:
                acc += Xh[s, k] * vals[offset + q]
            else:
                acc += Xh[s, length - k].conjugate() * vals[offset + q]
            q += M
        Z[r, m] = acc

    @cuda.jit
    def modulus(U, A):  # pragma: no cover
        """A[r, n] = |U[r, n]|."""
        i = cuda.grid(1)
        n_rows, n = A.shape
        if i >= n_rows * n:
            return
        z = U[i // n, i % n]
        A[i // n, i % n] = math.sqrt(z.real * z.real + z.imag * z.imag)

    @cuda.jit
    def modulus_lowpass(U, taps, right, step, first, b_idx, p_idx, out):  # pragma: no cover
        """out[b_idx[r], p_idx[r], m] = sum_q taps[q] |U[r, (c - right + q) mod M]|, c = (first + m) * step.

        ``taps[q] = phi[right - q]``: the decimating low-pass of the circular
        modulus, computed at the kept samples only, written to the path
        ``p_idx[r]`` of signal ``b_idx[r]`` (as the CPU kernel).
        """
        i = cuda.grid(1)
        count = out.shape[2]
        if i >= U.shape[0] * count:
            return
        r = i // count
        m = i % count
        M = U.shape[1]
        base = (first + m) * step - right
        acc = zero
        for q in range(taps.shape[0]):
            z = U[r, (base + q) % M]
            acc += taps[q] * math.sqrt(z.real * z.real + z.imag * z.imag)
        out[b_idx[r], p_idx[r], m] = acc

    return types.SimpleNamespace(
        frame=frame, power=power, project=project, power_project=power_project, correlate=correlate, modulus=modulus,
        modulus_lowpass=modulus_lowpass, reflect_pad=reflect_pad, fold=fold,
    )


def _simulated():
    from numba import config

    return bool(config.ENABLE_CUDASIM)


# numba's views of the cached device arrays (filters, windows, band indices), made once. numba converts each
# CuPy launch argument in Python and driver calls (its from_cuda_array_interface), microseconds an argument
# at every launch, and these are arguments of every call. id(array) -> (weak reference, view): an entry goes
# with its array, and the view does not keep the array alive (the launch's argument does).
_views = {}


def _to_device(array, like, *, cache=None):
    """:func:`modspec._backend.to_device`, and for a cached copy numba's view of it, made once for :func:`launch`."""
    moved = _backend.to_device(array, like, cache=cache)
    if _backend.is_cached(array, cache) and not _simulated() and id(moved) not in _views:
        from numba import cuda as numba_cuda

        view = numba_cuda.from_cuda_array_interface(moved.__cuda_array_interface__, owner=None, sync=False)
        _views[id(moved)] = (weakref.ref(moved), view)
        weakref.finalize(moved, _views.pop, id(moved), None)
    return moved


def _launch_argument(value):
    """numba's device array for a CuPy array (the cached view, if it has one); anything else as it is."""
    if not _backend.is_cupy(value):
        return value
    hit = _views.get(id(value))
    if hit is not None and hit[0]() is value:
        return hit[1]
    return cuda.as_cuda_array(value, sync=False)


# The start of numba's (and numba-cuda's) warning at a launch of fewer than 128 blocks.
_LOW_OCCUPANCY = r"Grid size \d+ will likely result in GPU under-utilization due to low occupancy"

#: Launch a kernel signature straight through cuda.core once numba has compiled and launched it (see
#: :func:`launch`). False: every launch goes through numba's dispatcher (for comparisons, or as a way out).
DIRECT_LAUNCH = True
#: Why the last signature that could not be launched directly could not (None while all could).
direct_launch_failure = None
# (dispatcher, device, argument key) -> _DirectLaunch, or None for a signature that goes through numba.
_direct_launches = {}


def launch(kernel, n_threads, *args):
    """Run ``kernel`` on ``n_threads`` threads (blocks of :data:`THREADS`), on CuPy's current stream.

    The first launch of a signature (kernel, device, and each argument's dtype,
    rank and contiguity, or its Python type) goes through numba's dispatcher,
    which compiles it. CuPy arrays are handed to numba without the stream
    synchronisation of the CUDA array interface (the kernel runs on the stream
    that wrote them), and arrays from :func:`_to_device`'s cache go as the
    views it made once.

    Later launches of the signature skip numba's dispatch: they pack the
    arguments in numba's kernel ABI, as numba does last, and launch the binary
    numba compiled through cuda.core, numba-cuda's launcher (:data:`DIRECT_LAUNCH`).
    numba's dispatch types and converts every argument in Python, tens of
    microseconds a launch, which is what a GPU call of a short batch costs.
    A signature that cannot go direct (another numba, an overload chosen by
    conversion) stays with numba; :data:`direct_launch_failure` says why.
    """
    if n_threads == 0:
        return
    blocks = (n_threads + THREADS - 1) // THREADS
    if _simulated():
        kernel[blocks, THREADS](*args)
        return
    cupy = _cupy()
    ptr = cupy.cuda.get_current_stream().ptr
    key = None
    if DIRECT_LAUNCH:
        ndarray = cupy.ndarray
        key = (kernel, cupy.cuda.runtime.getDevice(),
               tuple((a.dtype, a.ndim, a.flags.c_contiguous, a.flags.f_contiguous) if isinstance(a, ndarray)
                     else type(a) for a in args))
        direct = _direct_launches.get(key)
        if direct is not None:
            direct(ptr, blocks, args)
            return
    converted = [_launch_argument(a) for a in args]
    stream = cuda.external_stream(ptr) if ptr else cuda.default_stream()
    with warnings.catch_warnings():
        # numba warns of "low occupancy" below 128 blocks: every small input would, at every call. Matched by
        # its text: numba-cuda raises its own NumbaPerformanceWarning, not a subclass of numba's.
        warnings.filterwarnings("ignore", message=_LOW_OCCUPANCY)
        kernel[blocks, THREADS, stream](*converted)
    if key is not None and key not in _direct_launches:
        _direct_launches[key] = _direct_launch(kernel, args, converted)


class _DirectLaunch:
    """One compiled signature of a kernel, launched without numba's dispatch (see :func:`launch`).

    Parameters
    ----------
    kernel : cuda.core.Kernel
        The compiled kernel that numba launches (its function's ``kernel``).
    packers : list of callables
        One per argument: ``pack(value, params)`` appends the argument's
        parameters in numba's kernel ABI, as numba-cuda's ``_prepare_args`` does.
    """

    __slots__ = ("core", "kernel", "packers")

    def __init__(self, kernel, packers):
        import cuda.core

        self.kernel, self.packers, self.core = kernel, packers, cuda.core

    def __call__(self, stream_ptr, blocks, args):
        params = []
        for pack, value in zip(self.packers, args):
            pack(value, params)
        self.core.launch(_core_stream(stream_ptr), _launch_config(blocks), self.kernel, *params)


@functools.lru_cache(maxsize=64)
def _core_stream(ptr):
    """cuda.core's (non-owning) handle on the stream at ``ptr`` (0: the default stream), as numba passes it."""
    import cuda.core

    return cuda.core.Stream.from_handle(ptr)


@functools.lru_cache(maxsize=1024)
def _launch_config(blocks):
    import cuda.core

    return cuda.core.LaunchConfig(grid=blocks, block=THREADS)


def _pack_array(value, params):
    # numba's array ABI: meminfo, parent (no NRT: 0), size, itemsize, data, shape, strides in bytes.
    params += (0, 0, value.size, value.itemsize, value.data.ptr, *value.shape, *value.strides)


def _pack_as(ctype):
    def pack(value, params):
        params.append(ctype(value))

    return pack


def _pack_bool(value, params):
    params.append(value)


def _packer(numba_type):
    """How numba-cuda passes an argument of ``numba_type`` (its ``_Kernel._prepare_args``)."""
    import ctypes

    name = str(numba_type)
    if hasattr(numba_type, "ndim") and hasattr(numba_type, "layout"):
        return _pack_array
    if name == "float32":
        return _pack_as(ctypes.c_float)
    if name == "float64":
        return _pack_as(ctypes.c_double)
    if name == "bool":
        return _pack_bool
    if name.startswith(("int", "uint")) and hasattr(ctypes, f"c_{name}"):
        return _pack_as(getattr(ctypes, f"c_{name}"))
    raise NotImplementedError(f"no direct launch for an argument of type {name}")


def _direct_launch(kernel, args, converted):
    """The :class:`_DirectLaunch` of the overload numba just launched, or None (the reason kept).

    ``args`` are :func:`launch`'s arguments, ``converted`` what numba was given for them.
    """
    global direct_launch_failure
    try:
        argtypes = tuple(kernel.typeof_pyval(a) for a in converted)
        # Only an exact match: an overload numba picked by converting a type is left to numba.
        overload = kernel.overloads[argtypes]
        if overload.cooperative or overload.debug or overload.extensions or kernel._launch_config_sensitive:
            raise NotImplementedError("cooperative, debug, extended or launch-configuration-sensitive kernel")
        packers = [_packer(t) for t in overload.argument_types]
        ndarray = _cupy().ndarray
        if any(pack is _pack_array and not isinstance(a, ndarray) for pack, a in zip(packers, args)):
            raise NotImplementedError("an array argument that is not a CuPy array")
        return _DirectLaunch(overload.library.get_cufunc().kernel, packers)
    except Exception as err:  # noqa: BLE001 - any of numba's internals not as expected: numba's launch stays
        direct_launch_failure = f"{getattr(kernel, '__name__', kernel)}: {type(err).__name__}: {err}"
        return None


# --------------------------------------------------------------------------- memory


def free_bytes(like):
    """Bytes that can still be allocated on ``like``'s device: the driver's free memory plus CuPy's pool."""
    cupy = _cupy()
    with cupy.cuda.Device(_backend.device_id(like)):
        free, _ = cupy.cuda.Device().mem_info
        return int(free) + int(cupy.get_default_memory_pool().free_bytes())


def check_memory(nbytes, like, *, what, n_batch):
    """Raise a ParameterError before allocating if ``nbytes`` will not fit on the device of ``like``.

    Parameters
    ----------
    nbytes : int
        Estimated peak of the buffers the call allocates (output included).
    like : cupy.ndarray
        The input, on the device that would run the call.
    what : str
        The call, for the message.
    n_batch : int
        Signals (rows) in the batch, to suggest a chunk size.
    """
    free = free_bytes(like)
    if nbytes <= free:
        return
    chunk = max(1, int(n_batch * free / nbytes))
    raise ParameterError(
        f"{what} of a batch of {n_batch} needs about {nbytes / 2**30:.2f} GiB of GPU memory, but device "
        f"{_backend.device_id(like)} has {free / 2**30:.2f} GiB free; split the batch into chunks of at most "
        f"{chunk} along its leading axes (or free memory held elsewhere, e.g. torch's cache)"
    )


def _flatten_batch(x, n_trailing):
    cupy = _cupy()
    lead = x.shape[: x.ndim - n_trailing]
    return cupy.ascontiguousarray(x.reshape((-1,) + x.shape[x.ndim - n_trailing :])), lead


# --------------------------------------------------------------------------- spectral


def _stft(y, *, n_fft, hop_length, win_length, window, center, pad_mode, reduce, exponent=2.0, bands=None):
    """Frame, window, rfft, reduce: the GPU twin of ``modspec.features.spectral._stft``."""
    from modspec.features.spectral import _frame_geometry, _framing_setup

    cupy = _cupy()
    n_fft, win_length, hop_length = _framing_setup(n_fft, hop_length, win_length, pad_mode)
    if _backend.is_cupy(window):
        raise _backend.no_gpu_path("a CuPy window array", hint="pass the window as a NumPy array or a name")
    w = _to_device(filters.get_window(window, n_fft, win_length=win_length, dtype=y.dtype), y)
    n_samples = y.shape[-1]
    n_batch = math.prod(y.shape[:-1])
    n_frames, pad = _frame_geometry(n_samples, n_fft, hop_length, bool(center))
    n_freq = n_fft // 2 + 1
    item = y.dtype.itemsize
    # Before any allocation: frames, their spectrum and cuFFT's work area (about the spectrum again),
    # the reduced output, and a contiguous copy of y if it is a view.
    nbytes = n_batch * n_frames * (n_fft * item + 2 * n_freq * 2 * item)
    if reduce != "complex":
        nbytes += n_batch * n_frames * (n_freq if bands is None else bands[0].shape[0]) * item
    if not y.flags.c_contiguous:
        nbytes += n_batch * n_samples * item
    check_memory(nbytes, y, what=f"an STFT (n_fft={n_fft}, {n_frames} frames)", n_batch=n_batch)
    y2, lead = _flatten_batch(y, 1)
    reflect = pad_mode == "reflect" and pad > 0
    if reflect and pad >= n_samples:
        if n_samples < 2:
            raise ParameterError(f"pad_mode='reflect' needs at least 2 samples, got y of shape {y.shape}")
        y2 = cupy.pad(y2, ((0, 0), (pad, pad)), mode="reflect")
        pad, reflect = 0, False
    k = kernels(y.dtype)
    frames = cupy.empty((n_batch, n_frames, n_fft), dtype=y.dtype)
    bad = cupy.zeros(1, dtype=np.int32)
    launch(k.frame, max(frames.size, y2.size), y2, w, hop_length, pad, reflect, frames, bad)
    X = cupy.fft.rfft(frames, axis=-1)
    del frames
    if reduce == "complex":
        out = X.reshape(lead + X.shape[1:]).swapaxes(-1, -2)
    elif bands is None:
        out = cupy.empty((n_batch, n_freq, n_frames), dtype=y.dtype)
        launch(k.power, out.size, X, float(exponent), out)
    else:
        weights, starts, stops = (_to_device(a, y, cache=True) for a in bands)
        out = cupy.empty((n_batch, weights.shape[0], n_frames), dtype=y.dtype)
        launch(k.power_project, out.size, X, y.dtype.type(0.5 * exponent), weights, starts, stops, out)
    # Read back once all the work is queued: the one device round trip of the call.
    if int(bad[0]):
        check_audio(y)  # raises, with the count of bad samples
    return out.reshape(lead + out.shape[1:])


def _project(S, bands):
    """Sparse projection of (n_batch, n_freq, n_frames) spectrograms on host-memoised ``bands``."""
    cupy = _cupy()
    weights, starts, stops = (_to_device(a, S, cache=True) for a in bands)
    out = cupy.empty((S.shape[0], weights.shape[0], S.shape[2]), dtype=S.dtype)
    launch(kernels(S.dtype).project, out.size, S, weights, starts, stops, out)
    return out


def stft(y, *, n_fft=2048, hop_length=None, win_length=None, window="hann", center=True, pad_mode="constant"):
    """GPU :func:`modspec.features.stft`: complex64/complex128 CuPy array (..., 1 + n_fft // 2, n_frames).

    As on the CPU, the result is a transposed view of frame-major memory.
    """
    check_audio(y, finite=False)  # _stft's framing kernel checks finiteness
    return _stft(y, n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window, center=center,
                 pad_mode=pad_mode, reduce="complex")


def spectrogram(
    y, *, n_fft=2048, hop_length=None, win_length=None, window="hann", center=True, pad_mode="constant", power=2.0
):
    """GPU :func:`modspec.features.spectrogram`: ``|STFT(y)|^power``, CuPy (..., 1 + n_fft // 2, n_frames)."""
    power = check_power(power)
    check_audio(y, finite=False)  # _stft's framing kernel checks finiteness
    return _stft(y, n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window, center=center,
                 pad_mode=pad_mode, reduce="power", exponent=power)


def melspectrogram(
    y=None, *, sr=22050, S=None, n_fft=2048, hop_length=512, win_length=None, window="hann", center=True,
    pad_mode="constant", power=2.0, n_mels=128, fmin=0.0, fmax=None, htk=False, norm="slaney",
):
    """GPU :func:`modspec.features.melspectrogram`: CuPy (..., n_mels, n_frames).

    The mel bank is designed in NumPy (memoised) and copied once per device.
    """
    from modspec.features.spectral import _mel_setup

    # With y, _stft's framing kernel checks finiteness.
    n_fft, power, _, bands = _mel_setup(y, S, sr, n_fft, power, n_mels, fmin, fmax, htk, norm, finite=False)
    if y is not None:
        return _stft(y, n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window, center=center,
                     pad_mode=pad_mode, reduce="power", exponent=power, bands=bands)
    S2, lead = _flatten_batch(S, 2)
    M = _project(S2, bands)
    return M.reshape(lead + M.shape[1:])


# --------------------------------------------------------------------------- learnable front ends


def correlate(x, taps, stride=1, *, left=0, n_out=None, rectify=None):
    """Strided, zero-padded correlation of every row of ``x`` with every filter, on the GPU.

    ``out[r, f, t] = rect(sum_j x[r, t * stride + j - left] taps[f, j])``,
    ``x`` taken as zero outside its samples.

    Parameters
    ----------
    x : cupy.ndarray, shape (n_rows, n_samples), float32 or float64
    taps : cupy.ndarray, shape (n_filters, kernel_size), dtype of ``x``
    stride : int > 0
    left : int >= 0
        Zeros before the signal (the padding, never materialised).
    n_out : int or None
        Output frames; None means the "valid" ``(n_samples + left - K) // stride + 1``.
    rectify : {None, 'relu', 'abs', 'square'}

    Returns
    -------
    cupy.ndarray, shape (n_rows, n_filters, n_out)
    """
    cupy = _cupy()
    n_rows, n_samples = x.shape
    n_filters, kernel_size = taps.shape
    if n_out is None:
        n_out = (n_samples + left - kernel_size) // stride + 1
    item = x.dtype.itemsize
    check_memory(n_rows * n_filters * n_out * item, x,
                 what=f"a correlation with {n_filters} filters of {kernel_size} taps", n_batch=n_rows)
    x = cupy.ascontiguousarray(x)
    out = cupy.empty((n_rows, n_filters, n_out), dtype=x.dtype)
    launch(kernels(x.dtype).correlate, out.size, x, taps, stride, left, _RECTIFY_CODES[rectify], out)
    return out


def sinc_filterbank(
    y, sr, *, n_filters=80, kernel_size=256, stride=10, fmin=30.0, fmax=None, min_low_hz=50.0, min_band_hz=50.0,
    low_hz=None, high_hz=None, rectify=None,
):
    """GPU :func:`modspec.features.sinc_filterbank`: CuPy (..., n_filters, n_frames).

    The bank is designed in NumPy (cut-offs as NumPy arrays or sequences)
    and copied once per device.
    """
    from modspec.features.learnable import _sinc_setup

    if _backend.is_cupy(low_hz) or _backend.is_cupy(high_hz):
        raise _backend.no_gpu_path("sinc_filterbank with CuPy cut-offs", hint="pass low_hz, high_hz as NumPy arrays")
    bank, stride, rectify = _sinc_setup(y, sr, n_filters, kernel_size, stride, fmin, fmax, min_low_hz, min_band_hz,
                                        low_hz, high_hz, rectify)
    y2, lead = _flatten_batch(y, 1)
    out = correlate(y2, _to_device(bank, y), stride, rectify=rectify)
    return out.reshape(lead + out.shape[1:])


def harmonic_spectrogram(
    y, sr, *, n_fft=512, hop_length=None, win_length=None, window="hann", center=True, pad_mode="constant",
    power=2.0, n_harmonic=6, semitone_scale=2, Q=1.0, f0=None, db=True, amin=1e-10, top_db=None,
):
    """GPU :func:`modspec.features.harmonic_spectrogram`: CuPy (..., n_harmonic, n_bands, n_frames)."""
    from modspec.features.learnable import _sparse_harmonic
    from modspec.features.spectral import power_to_db

    check_audio(y, finite=False)  # _stft's framing kernel checks finiteness
    power = check_power(power)
    n_fft = check_positive_int("n_fft", n_fft)
    hop_length = n_fft // 2 if hop_length is None else hop_length
    if _backend.is_cupy(f0):
        f0 = _cupy().asnumpy(f0)  # a handful of design parameters, not signal data
    if f0 is not None:
        f0 = tuple(np.asarray(f0, dtype=np.float64).ravel().tolist())
    filters.harmonic(sr=sr, n_fft=n_fft, n_harmonic=n_harmonic, semitone_scale=semitone_scale, Q=Q, f0=f0)
    weights, starts, stops, (n_harmonic, n_bands) = _sparse_harmonic(
        sr, n_fft, n_harmonic, semitone_scale, float(Q), f0, np.dtype(y.dtype)
    )
    H = _stft(y, n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window, center=center,
              pad_mode=pad_mode, reduce="power", exponent=power, bands=(weights, starts, stops))
    H = H.reshape(H.shape[:-2] + (n_harmonic, n_bands, H.shape[-1]))
    if db:
        H = power_to_db(H, ref=1.0, amin=amin, top_db=top_db)
    return H


# --------------------------------------------------------------------------- modulation


def modulation_filterbank(
    S, *, frame_rate=None, kind="sinc", n_filters=1, kernel_size=101, stride=1, padding="same", all_pass=False,
    max_mod_hz=None, min_mod_hz=0.0, filters=None, rectify=None,
):
    """GPU :func:`modspec.features.modulation_filterbank`: CuPy (..., n_bands, n_channels, n_frames_out).

    The 'same' padding is not materialised for the filtered channels: the
    kernel skips the taps that fall outside the envelope.
    """
    from modspec.features.modulation import _modulation_setup

    cupy = _cupy()
    bank, stride, left, _, n_out = _modulation_setup(
        S, frame_rate, kind, n_filters, kernel_size, stride, padding, max_mod_hz, min_mod_hz, filters, rectify
    )
    bank = bank if _backend.is_cupy(bank) else _to_device(bank, S)
    kernel_size = bank.shape[1]
    x = cupy.ascontiguousarray(S.reshape(-1, S.shape[-1]))
    out = correlate(x, bank, stride, left=left, n_out=n_out, rectify=rectify)
    if all_pass:
        # The centre tap (K - 1) // 2 of the padded envelope is frame t * stride of S itself ('same'
        # pads exactly that many frames on the left, 'valid' none).
        centre = (kernel_size - 1) // 2 - left
        through = x[:, centre : centre + (n_out - 1) * stride + 1 : stride]
        out = cupy.concatenate([through[:, None, :], out], axis=1)
    if not bool(cupy.isfinite(out).all()):
        raise ParameterError("S contains non-finite values (NaN or inf) where the modulation filters read it")
    return out.reshape(S.shape[:-1] + out.shape[1:])
