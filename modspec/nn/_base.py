"""Shared machinery of the torch modules: designed buffers, input checks, full precision under autocast."""

import functools

import numpy as np
import torch
from torch import nn

from modspec.errors import ParameterError


def check_tensor(name, x, *, min_ndim, layout, allow_complex=False):
    """Check that ``x`` is a floating-point (or, if allowed, complex) tensor of at least ``min_ndim`` axes.

    Only shapes and dtypes are checked, never values: a value check would
    synchronise the GPU on every call.
    """
    if not isinstance(x, torch.Tensor):
        hint = f"torch.from_numpy({name})" if isinstance(x, np.ndarray) else f"torch.as_tensor({name})"
        raise ParameterError(f"{name} must be a torch.Tensor, got {type(x).__name__}; convert it with {hint}")
    if x.is_complex() and not allow_complex:
        raise ParameterError(f"{name} has complex dtype {x.dtype}; pass a real tensor, e.g. {name}.abs()")
    if not (x.is_floating_point() or x.is_complex()):
        hint = (
            f"integer PCM: use {name}.float() / 32768 (int16) or {name}.float() / 2**31 (int32)"
            if x.dtype not in (torch.bool,)
            else f"use {name}.float()"
        )
        raise ParameterError(f"{name} has dtype {x.dtype}; a floating-point tensor is needed ({hint})")
    if x.ndim < min_ndim:
        axes = "axis" if min_ndim == 1 else "axes"
        raise ParameterError(f"{name} must have at least {min_ndim} {axes} {layout}, got shape {tuple(x.shape)}")
    return x


_REDUCED = (torch.float16, torch.bfloat16)


def full_precision(forward):
    """Run a module's ``forward`` outside ``torch.autocast``, on float32 where autocast made the input float16.

    Mixed-precision training (autocast) hands float16 or bfloat16 tensors from
    its matrix products and convolutions to the next layer. The front ends'
    FFTs, logarithms and dB scales need full precision (and cuFFT's float16
    takes powers of two only), so under autocast the decorated ``forward``
    receives such an input as float32 and computes with autocast disabled;
    the back end that follows is autocast again. Outside autocast nothing
    changes: a float16 input is refused by the modules that check dtypes and
    computed in float16 by the others, as before.
    """

    @functools.wraps(forward)
    def wrapped(self, x, *args, **kwargs):
        if not isinstance(x, torch.Tensor) or not torch.is_autocast_enabled(x.device.type):
            return forward(self, x, *args, **kwargs)
        if x.dtype in _REDUCED:
            x = x.float()
        with torch.autocast(x.device.type, enabled=False):
            return forward(self, x, *args, **kwargs)

    return wrapped


def check_same_dtype(name, x, module, buffer_name):
    """Raise unless ``x`` has the dtype of the module's buffer (which follows ``.float()``/``.double()``)."""
    buffer = getattr(module, buffer_name)
    if x.dtype != buffer.dtype:
        raise ParameterError(
            f"{name} has dtype {x.dtype} but {type(module).__name__} holds {buffer_name!r} in {buffer.dtype}; "
            f"convert the module (e.g. module.double() for float64 input) or the input (e.g. {name}.float())"
        )


class DesignedModule(nn.Module):
    """A module whose fixed buffers come from a float64 NumPy design.

    Buffers are stored in torch's default dtype (float32 unless changed). A
    float32 buffer converted by ``.double()`` would keep float32 precision, so
    after a conversion that changes a buffer's dtype the buffer is refilled
    from the exact float64 design, unless its values were changed since (e.g.
    by ``load_state_dict`` with other values), which are then kept.
    """

    def __init__(self):
        super().__init__()
        self._designs = {}

    def register_design(self, name, design, *, parameter=False):
        """Register the float64 array ``design`` as ``name``: a buffer, or an ``nn.Parameter`` if ``parameter``.

        Either is created in torch's default dtype and, while it still holds
        the design, refilled from it exactly when ``.double()`` changes its dtype.
        """
        design = np.array(design, dtype=np.float64)  # a private, writable copy
        self._designs[name] = design
        value = torch.tensor(design, dtype=torch.get_default_dtype())
        if parameter:
            self.register_parameter(name, nn.Parameter(value))
        else:
            self.register_buffer(name, value)

    def _is_pristine(self, name):
        buffer = getattr(self, name)
        if not isinstance(buffer, torch.Tensor) or buffer.is_meta or not buffer.is_floating_point():
            return False
        design = self._designs[name]
        return tuple(buffer.shape) == design.shape and torch.equal(buffer, buffer.new_tensor(design))

    def _apply(self, fn, recurse=True):
        before = {name: (self._is_pristine(name), getattr(self, name).dtype) for name in self._designs}
        super()._apply(fn, recurse)
        with torch.no_grad():  # parameters too: refilling them is not an operation to differentiate
            for name, (pristine, dtype) in before.items():
                buffer = getattr(self, name)
                if pristine and buffer.dtype != dtype and buffer.is_floating_point() and not buffer.is_meta:
                    buffer.copy_(torch.from_numpy(self._designs[name]))
        return self
