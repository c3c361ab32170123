"""Array-type dispatch: NumPy arrays go to the CPU kernels, CuPy arrays to the GPU kernels.

The backend is inferred from array arguments only (never from strings such as
window names). Nothing here imports CuPy: an array is a CuPy array only if
CuPy is already imported (``sys.modules``) and the array is one of its
``ndarray``, so a machine without CuPy never pays for the check.

A CuPy array handed to a function without a GPU path raises
:class:`NoGPUPathError`: nothing is copied to the host behind the caller's back.
"""

import collections
import functools
import itertools
import sys
import threading

import numpy as np

from modspec.errors import ParameterError

__all__ = ["NoGPUPathError", "get_array_module", "gpu", "is_cupy", "no_gpu_path", "on_input_device", "to_device"]

# Filter banks on each device: (id(host array), device id) -> (host array, device array).
# Holding the host array keeps its id from being reused while the entry lives.
_DEVICE_CACHE_SIZE = 128
_device_cache = collections.OrderedDict()
_device_cache_lock = threading.Lock()


class NoGPUPathError(ParameterError, NotImplementedError):
    """A CuPy array was passed to a function that has no GPU path yet."""


def _cupy_module():
    """CuPy if it is already imported, else None (never imports it)."""
    return sys.modules.get("cupy")


def is_cupy(x):
    """True if ``x`` is a CuPy array (without importing CuPy).

    Parameters
    ----------
    x : object

    Returns
    -------
    bool
    """
    cupy = _cupy_module()
    return cupy is not None and isinstance(x, cupy.ndarray)


def get_array_module(*arrays):
    """The array library of the arguments: ``numpy``, or ``cupy`` if any argument is a CuPy array.

    Parameters
    ----------
    *arrays : objects
        Arrays (and anything else, e.g. None or scalars, which do not count).

    Returns
    -------
    module
        ``cupy`` or ``numpy``.
    """
    if any(is_cupy(a) for a in arrays):
        return _cupy_module()
    return np


def on_input_device(function):
    """Run ``function`` with the device of its first CuPy array argument as the current device.

    CuPy allocates, and numba.cuda and cuFFT launch, on the *current* device;
    a CuPy array on another GPU (``with cupy.cuda.Device(1): y = ...``, then
    called from device 0) must be worked on, and its result left, where it
    is. NumPy arguments pass straight through (one dictionary lookup when
    CuPy is not imported).
    """

    @functools.wraps(function)
    def wrapped(*args, **kwargs):
        cupy = _cupy_module()
        if cupy is not None:
            for value in itertools.chain(args, kwargs.values()):
                if isinstance(value, cupy.ndarray):
                    with cupy.cuda.Device(device_id(value)):
                        return function(*args, **kwargs)
        return function(*args, **kwargs)

    return wrapped


def no_gpu_path(function_name, *, hint=None):
    """The error to raise when a CuPy array reaches ``function_name``, which has no GPU path yet.

    Parameters
    ----------
    function_name : str
        The public function, e.g. ``'modspec.features.jtfs'``.
    hint : str, optional
        An alternative that does run on the GPU, appended to the message.

    Returns
    -------
    NoGPUPathError
        A :class:`~modspec.errors.ParameterError` (and ``NotImplementedError``)
        to ``raise``.
    """
    message = (
        f"{function_name} has no GPU path yet and was given a CuPy array; modspec does not copy device "
        f"arrays to the host silently: call it on cupy.asnumpy(...) for the CPU path"
    )
    if hint:
        message += f", or {hint}"
    return NoGPUPathError(message)


def gpu():
    """The GPU backend, :mod:`modspec.kernels.gpu`, imported on first use (it imports no CuPy itself)."""
    from modspec.kernels import gpu as module

    return module


def device_id(x):
    """The CUDA device ordinal of a CuPy array."""
    return int(x.device.id)


def is_cached(array, cache):
    """Whether :func:`to_device` keeps its copy of ``array`` for later calls (its ``cache`` rule)."""
    return not array.flags.writeable if cache is None else bool(cache)


def to_device(array, like, *, cache=None):
    """``array`` (NumPy) on the device of ``like`` (a CuPy array), cached per device.

    Parameters
    ----------
    array : np.ndarray
        A host array, typically a designed filter bank.
    like : cupy.ndarray
        Any array on the target device.
    cache : bool or None
        Keep the device copy for later calls: None caches read-only arrays
        only; True also caches a writeable array the caller never changes
        (a memoised design's index arrays).

    Returns
    -------
    cupy.ndarray
        ``array`` on ``like``'s device, same dtype.

    Notes
    -----
    Cached arrays (the read-only memoised designs of :mod:`modspec.filters`
    and the features' own memos) are copied once per device and kept in a
    small LRU cache (the last 128 arrays); other writeable arrays may change
    between calls and are copied every time.
    """
    cupy = _cupy_module()
    device = device_id(like)
    if not is_cached(array, cache):
        with cupy.cuda.Device(device):
            return cupy.asarray(array)
    key = (id(array), device)
    with _device_cache_lock:
        hit = _device_cache.get(key)
        if hit is not None and hit[0] is array:
            _device_cache.move_to_end(key)
            return hit[1]
    with cupy.cuda.Device(device):
        moved = cupy.asarray(array)
    with _device_cache_lock:
        _device_cache[key] = (array, moved)
        while len(_device_cache) > _DEVICE_CACHE_SIZE:
            _device_cache.popitem(last=False)
    return moved


def clear_device_cache():
    """Forget the filter banks copied to devices (frees their device memory once unreferenced)."""
    with _device_cache_lock:
        _device_cache.clear()
