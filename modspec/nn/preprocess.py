"""Spectrogram preprocessing as torch modules: Dieleman's log compression, Choi et al.'s standardisation.

The numbers are those of :mod:`modspec.features.preprocess`.
"""

import numpy as np
import torch
from torch import nn

from modspec.errors import ParameterError, check_real
from modspec.nn._base import DesignedModule, check_same_dtype, check_tensor

__all__ = ["LogCompression", "Standardize"]

_MODES = ("sample", "frequency")


class LogCompression(DesignedModule):
    r"""Dieleman's compression :math:`\log(1 + C x)`, as :func:`modspec.features.log_compress`.

    Dieleman & Schrauwen (2014) compress mel spectrograms with C = 10000.

    Parameters
    ----------
    C : float > 0
        Compression constant (dimensionless).
    learnable : bool
        If True, ``C`` is an ``nn.Parameter`` trained with the model; else a
        fixed buffer.

    Attributes
    ----------
    C : torch.Tensor, shape ()
        The constant: a buffer, or a parameter if ``learnable``.

    Shape
    -----
    - Input: (..., n_freq, n_frames) (any rank >= 1), non-negative, real
      floating point.
    - Output: same shape and dtype as the input.

    Raises
    ------
    ParameterError
        At construction on a non-positive or non-finite ``C``; in ``forward``
        on a non-tensor, integer, complex or 0-d input.

    Notes
    -----
    Differentiable in the input and in ``C``; CPU or CUDA. Unlike the
    functional API, negative input values are not rejected (checking them
    would synchronise the GPU): below ``-1 / C`` the result is NaN. A
    learnable ``C`` is not constrained to stay positive.
    """

    def __init__(self, C=10000.0, learnable=False):
        super().__init__()
        C = check_real("C", C, positive=True)
        self.learnable = bool(learnable)
        if self.learnable:
            self.C = nn.Parameter(torch.tensor(C, dtype=torch.get_default_dtype()))
        else:
            self.register_design("C", np.float64(C))

    def extra_repr(self):
        return f"C={float(self.C)}, learnable={self.learnable}"

    def forward(self, S):
        """``log1p(C * S)``.

        Parameters
        ----------
        S : torch.Tensor, shape (..., n_freq, n_frames)

        Returns
        -------
        torch.Tensor, same shape and dtype as ``S``
        """
        check_tensor("S", S, min_ndim=1, layout="(..., n_freq, n_frames)")
        return torch.log1p(S * self.C)


def _as_float64(name, value):
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    try:
        array = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ParameterError(f"{name}={value!r} must be a number or an array of numbers") from None
    if not np.isfinite(array).all():
        raise ParameterError(f"{name} contains non-finite values (NaN or inf)")
    return array


class Standardize(DesignedModule):
    r"""Zero-mean, unit-variance standardisation (Choi et al. 2018), as :func:`modspec.features.standardize`.

    .. math:: \hat S = \frac{S - \mu}{\sigma + \epsilon}

    Parameters
    ----------
    mode : {'sample', 'frequency'}
        'sample': one mean and std over time and frequency of each
        spectrogram (per-sample standardisation). 'frequency': a mean and std
        per frequency band, over time (per-frequency standardisation).
    mean, std : float, array_like or torch.Tensor, optional
        Fixed statistics (e.g. of a training set) instead of those of the
        input: for 'frequency' of shape (n_freq,) or (n_freq, 1). Give both
        or neither. Registered as the buffers ``mean`` and ``std``.
    eps : float > 0
        Added to the std to avoid division by zero (units of the input).

    Attributes
    ----------
    mean, std : torch.Tensor or None
        The fixed statistics (buffers, in the module's dtype), or None.

    Shape
    -----
    - Input: (..., n_freq, n_frames), real floating point (the module's
      dtype when ``mean``/``std`` are given).
    - Output: same shape and dtype as the input.

    Raises
    ------
    ParameterError
        At construction on a bad ``mode`` or ``eps``, only one of
        ``mean``/``std``, non-finite statistics or statistics that do not
        broadcast together; in ``forward`` on a non-tensor, integer, complex
        or input of fewer than 2 axes, or statistics that do not broadcast
        against the input.

    Notes
    -----
    The statistics of the input use the population std (``correction=0``,
    as NumPy). Differentiable; CPU or CUDA.
    """

    def __init__(self, mode="sample", mean=None, std=None, eps=1e-8):
        super().__init__()
        if mode not in _MODES:
            raise ParameterError(f"mode={mode!r} is not supported; use 'sample' or 'frequency'")
        if (mean is None) != (std is None):
            raise ParameterError("give both mean and std, or neither (to use the statistics of the input)")
        self.mode = mode
        self.eps = check_real("eps", eps, positive=True)
        if mean is None:
            self.register_buffer("mean", None)
            self.register_buffer("std", None)
            return
        mean, std = _as_float64("mean", mean), _as_float64("std", std)
        if mode == "frequency":
            if mean.ndim == 1:
                mean = mean[:, None]
            if std.ndim == 1:
                std = std[:, None]
        try:
            np.broadcast_shapes(mean.shape, std.shape)
        except ValueError:
            raise ParameterError(f"mean {mean.shape} and std {std.shape} do not broadcast together") from None
        self.register_design("mean", mean)
        self.register_design("std", std)

    def extra_repr(self):
        fixed = "" if self.mean is None else f", mean: {tuple(self.mean.shape)}, std: {tuple(self.std.shape)}"
        return f"mode={self.mode!r}, eps={self.eps}{fixed}"

    def forward(self, S):
        """Standardised ``S``.

        Parameters
        ----------
        S : torch.Tensor, shape (..., n_freq, n_frames)

        Returns
        -------
        torch.Tensor, same shape and dtype as ``S``
        """
        check_tensor("S", S, min_ndim=2, layout="(..., n_freq, n_frames)")
        if self.mean is None:
            dims = (-2, -1) if self.mode == "sample" else (-1,)
            mean = S.mean(dim=dims, keepdim=True)
            std = S.std(dim=dims, keepdim=True, correction=0)
        else:
            check_same_dtype("S", S, self, "mean")
            mean, std = self.mean, self.std
            try:
                torch.broadcast_shapes(mean.shape, std.shape, S.shape)
            except RuntimeError:
                raise ParameterError(
                    f"mean {tuple(mean.shape)} and std {tuple(std.shape)} do not broadcast against "
                    f"S {tuple(S.shape)}"
                ) from None
        return (S - mean) / (std + self.eps)
