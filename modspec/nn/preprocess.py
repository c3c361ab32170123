"""Spectrogram preprocessing as torch modules: Dieleman's log compression, Choi et al.'s standardisation.

The numbers are those of :mod:`modspec.features.preprocess`.
"""

import numpy as np
import torch
from torch import nn

from modspec import filters
from modspec.errors import ParameterError, check_real
from modspec.nn._base import DesignedModule, check_same_dtype, check_tensor, full_precision

__all__ = ["AWeighting", "LogCompression", "Standardize"]

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

    @full_precision
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

    @full_precision
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


_A_KINDS = ("db", "power", "amplitude")


class AWeighting(DesignedModule):
    r"""A-weighting (IEC 61672:2003) of the rows of a spectrogram, as :func:`modspec.features.a_weight`.

    Choi et al. (2018) compare it with per-frequency standardisation and no
    weighting. With :math:`w(f)` the A-weighting of frequency :math:`f` in dB
    (:func:`modspec.filters.a_weighting`, floored at ``min_db``):

    .. math::

        \hat S[f, t] = S[f, t] + w(f) \ (\mathrm{dB}), \quad
        S[f, t] \, 10^{w(f) / 10} \ (\mathrm{power}), \quad
        S[f, t] \, 10^{w(f) / 20} \ (\mathrm{amplitude}).

    Parameters
    ----------
    frequencies : array_like, shape (n_freq,)
        Frequency of each row in Hz: :func:`modspec.filters.fft_frequencies`
        for a linear spectrogram, the band centres
        ``filters.mel_frequencies(n_mels + 2, ...)[1:-1]`` for a mel one.
    kind : {'db', 'power', 'amplitude'}
        What the input holds: the weighting is added in dB, or multiplied as
        ``10^(w/10)`` or ``10^(w/20)``.
    min_db : float or None
        Floor of the weighting in dB; None keeps ``-inf`` dB (a zero factor)
        at 0 Hz.

    Attributes
    ----------
    weights : torch.Tensor, shape (n_freq, 1)
        The weighting of each row: in dB for ``kind='db'``, else the linear
        factor (a buffer, in the module's dtype).

    Shape
    -----
    - Input: (..., n_freq, n_frames), real floating point, dtype of the module.
    - Output: same shape and dtype as the input.

    Raises
    ------
    ParameterError
        At construction on a bad ``kind``, non-finite or negative
        frequencies, or ``min_db=None`` with ``kind='db'`` and a 0 Hz row
        (the weight would be ``-inf``); in ``forward`` on a non-tensor,
        integer, complex or 1-d input, an input dtype other than the
        module's, or ``n_freq`` other than ``len(frequencies)``.

    Notes
    -----
    The weights are designed once in float64 and stored in torch's default
    dtype; ``.double()`` refills them from the float64 design. A fixed
    elementwise map: differentiable in the input, no parameters; CPU or CUDA.
    """

    def __init__(self, frequencies, *, kind="db", min_db=-80.0):
        super().__init__()
        if kind not in _A_KINDS:
            raise ParameterError(f"kind={kind!r} is not supported; use one of {_A_KINDS}")
        frequencies = _as_float64("frequencies", frequencies)
        if frequencies.ndim != 1 or frequencies.size == 0 or (frequencies < 0).any():
            raise ParameterError(
                f"frequencies must be a non-empty 1-d array of frequencies >= 0 Hz, got shape {frequencies.shape}"
            )
        if min_db is not None:
            min_db = check_real("min_db", min_db)
        weights_db = filters.a_weighting(frequencies, min_db=min_db)
        if kind == "db" and not np.isfinite(weights_db).all():
            raise ParameterError("min_db=None gives -inf dB at 0 Hz; pass a finite min_db (e.g. -80.0)")
        self.kind, self.min_db, self.n_freq = kind, min_db, frequencies.size
        weights = weights_db if kind == "db" else 10.0 ** (weights_db / (10.0 if kind == "power" else 20.0))
        self.register_design("weights", weights[:, None])

    def extra_repr(self):
        return f"n_freq={self.n_freq}, kind={self.kind!r}, min_db={self.min_db}"

    @full_precision
    def forward(self, S):
        """A-weighted ``S``.

        Parameters
        ----------
        S : torch.Tensor, shape (..., n_freq, n_frames)

        Returns
        -------
        torch.Tensor, same shape and dtype as ``S``
        """
        check_tensor("S", S, min_ndim=2, layout="(..., n_freq, n_frames)")
        check_same_dtype("S", S, self, "weights")
        if S.shape[-2] != self.n_freq:
            raise ParameterError(
                f"S has {S.shape[-2]} rows (shape {tuple(S.shape)}); this AWeighting was designed for "
                f"{self.n_freq} frequencies"
            )
        return S + self.weights if self.kind == "db" else S * self.weights
