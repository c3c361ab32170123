"""Errors and the input checks shared by every public function."""

import numbers
import os
import sys
import warnings

import numpy as np

__all__ = ["ParameterError", "check_audio", "check_choice", "check_dtype", "check_positive_int", "check_power", "check_real", "check_sample_rate", "check_spectrogram"]


class ParameterError(ValueError):
    """A bad argument: its message names the argument, the value and what is allowed."""


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def warn_user(message, category=UserWarning):
    """``warnings.warn`` attributed to the first caller outside modspec (whatever the call depth inside)."""
    frame, level = sys._getframe(1), 2
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)


def _describe(value):
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape} and dtype {value.dtype}"
    return repr(value)


def check_positive_int(name, value, *, allow_none=False):
    """Return ``value`` as an int, or raise if it is not a positive integer."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ParameterError(f"{name}={_describe(value)} must be a positive integer")
    return int(value)


def check_sample_rate(name, value, *, allow_none=False):
    """Return a rate in Hz unchanged (None if allowed), or raise unless it is a finite positive number."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value) or value <= 0:
        allowed = "None or a positive number" if allow_none else "a positive number"
        raise ParameterError(f"{name}={value!r} must be {allowed} (a sampling rate in Hz)")
    return value


def check_dtype(dtype):
    """Return ``np.dtype(dtype)`` if it is float32 or float64; an explicit None is refused, not guessed."""
    try:
        ok = dtype is not None and np.dtype(dtype) in (np.float32, np.float64)
    except TypeError:
        ok = False
    if not ok:
        raise ParameterError(f"dtype={dtype!r} is not allowed; use np.float32 or np.float64")
    return np.dtype(dtype)


def check_real(name, value, *, positive=False, nonnegative=False):
    """Return ``value`` as a float, or raise if it is not a finite real number (with the sign asked)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise ParameterError(f"{name}={value!r} must be a finite number")
    if positive and not value > 0:
        raise ParameterError(f"{name}={value!r} must be positive")
    if nonnegative and not value >= 0:
        raise ParameterError(f"{name}={value!r} must be non-negative")
    return float(value)


def check_choice(name, value, allowed):
    """Return ``value`` if it is one of ``allowed``, else raise a ParameterError listing them."""
    if not any(value is option or (isinstance(value, str) and value == option) for option in allowed):
        raise ParameterError(f"{name}={value!r} is not supported; use one of {allowed}")
    return value


def check_power(power, *, allow_none=False):
    """Return the spectrogram exponent as a float (None kept if allowed: the complex STFT)."""
    if power is None and allow_none:
        return None
    if isinstance(power, bool) or not isinstance(power, numbers.Real) or not np.isfinite(power) or power <= 0:
        allowed = "a positive number or None (complex STFT)" if allow_none else "a positive number"
        raise ParameterError(f"power={power!r} must be {allowed} (1 for magnitude, 2 for power)")
    return float(power)


def _library(x):
    """(module, name used in hints) of an array: NumPy, or CuPy for a CuPy array (CuPy is never imported here)."""
    from modspec import _backend  # modspec._backend imports this module

    if _backend.is_cupy(x):
        return _backend.get_array_module(x), "cupy"
    return np, "np"


def check_float_array(name, x, *, min_ndim=1):
    """Check that ``x`` is a real floating-point NumPy (or CuPy) array of at least ``min_ndim`` axes.

    float16 and other widths are refused rather than converted, so float32
    stays float32 and float64 stays float64 through every transform.
    """
    _, lib = _library(x)
    if not isinstance(x, np.ndarray) and lib != "cupy":
        raise ParameterError(
            f"{name} must be a NumPy array, got {type(x).__name__}; "
            f"convert it with np.asarray({name}, dtype=np.float32)"
        )
    if x.dtype.kind == "c":
        raise ParameterError(
            f"{name} has complex dtype {x.dtype}; pass a real signal, e.g. {name}.real "
            f"or {lib}.abs({name})"
        )
    if x.dtype not in (np.float32, np.float64):
        hint = (
            f"integer PCM: use {name}.astype({lib}.float32) / np.iinfo({name}.dtype).max"
            if np.issubdtype(x.dtype, np.integer)
            else f"use {name}.astype({lib}.float32)"
        )
        raise ParameterError(
            f"{name} has dtype {x.dtype}; only float32 and float64 are accepted ({hint})"
        )
    if x.ndim < min_ndim:
        raise ParameterError(
            f"{name} must have at least {min_ndim} axis/axes (..., "
            f"{'n_samples' if min_ndim == 1 else 'n_freq, n_frames'}), got shape {x.shape}"
        )
    return x


def check_audio(y, *, name="y", finite=True):
    """Validate a signal batch of shape (..., n_samples): real float32/float64, finite.

    ``finite=False`` leaves the scan for NaN and inf to the caller: the GPU
    framing kernel does it in the pass that reads the signal, instead of a
    separate pass and a device round trip before any work is queued.
    """
    check_float_array(name, y, min_ndim=1)
    if y.shape[-1] == 0:
        raise ParameterError(f"{name} has shape {y.shape}: the signal is empty")
    if not finite:
        return y
    xp, lib = _library(y)
    if not bool(xp.isfinite(y).all()):  # on the array's device
        bad = int(y.size - int(xp.count_nonzero(xp.isfinite(y))))
        raise ParameterError(
            f"{name} contains {bad} non-finite sample(s) (NaN or inf); "
            f"clean it first, e.g. {lib}.nan_to_num({name})"
        )
    return y


def check_spectrogram(S, *, name="S"):
    """Validate a spectrogram batch of shape (..., n_freq, n_frames)."""
    check_float_array(name, S, min_ndim=2)
    xp, _ = _library(S)
    if not bool(xp.isfinite(S).all()):
        raise ParameterError(f"{name} contains non-finite values (NaN or inf)")
    return S
