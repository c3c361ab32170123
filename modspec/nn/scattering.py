"""Time scattering as a torch module: kymatio 0.3.0's ``Scattering1D`` numbers, differentiable.

The filters are those of :func:`modspec.features.scattering` (designed once
by :func:`modspec.filters.scattering_filterbank`, held as named buffers) and
the padding is the same, so the module and the function agree to rounding.
"""

import numbers

import numpy as np
import torch
import torch.nn.functional as F

from modspec import filters
from modspec.errors import ParameterError
from modspec.features.scattering import (
    _check_max_order,
    _check_oversampling,
    _check_scales,
    _scattering_geometry,
    _warn_crossing,
    _warn_support,
    scattering_meta,
)
from modspec.nn._base import DesignedModule, check_same_dtype, check_tensor

__all__ = ["Scattering1D"]


def _fold(Y, factor):
    """Subsample by ``factor`` in time: the mean of the spectrum's periods (kymatio's subsample_fourier)."""
    if factor == 1:
        return Y
    return Y.reshape(Y.shape[:-1] + (factor, Y.shape[-1] // factor)).mean(dim=-2)


class Scattering1D(DesignedModule):
    r"""Time scattering of order 0, 1 (and 2), as :func:`modspec.features.scattering`.

    ``S0 = x * phi``, ``S1 = |x * psi1| * phi``, ``S2 = ||x * psi1| * psi2| * phi``
    (only ``j2 > j1``), subsampled by ``2**floor(log2 T)``, in kymatio's path
    order (:meth:`meta`).

    Parameters
    ----------
    J : int > 0
        Scale of the largest wavelet, ``2**J`` samples (at most the signal length).
    shape : int or tuple of one int
        Signal length ``n_samples`` (the filters depend on it).
    Q : int or tuple of int
        Wavelets per octave: ``Q1`` (``Q2 = 1``) or ``(Q1, Q2)``.
    T : int > 0 or None
        Averaging scale in samples, at most ``n_samples`` (default ``2**J``).
    max_order : {1, 2}
    oversampling : int >= 0
        Subsample ``2**oversampling`` times less.

    Shape
    -----
    - Input: (..., n_samples)
    - Output: (..., n_paths, n_frames), as :func:`modspec.features.scattering`.

    Notes
    -----
    Buffers ``psi1_f`` (n1, n_padded), ``psi2_f`` (n2, n_padded) and ``phi_f``
    (n_padded,): the Fourier-domain filters at full rate (torch's default
    dtype; ``.double()`` refills them from the float64 design). Filters at
    subsampled rates are their periodisations, computed in ``forward``.
    Differentiable with respect to the input; CPU or CUDA. The computation is
    kymatio's (full-length products, batched over the wavelets of equal rate);
    :func:`modspec.features.scattering` is the fast CPU path.

    Examples
    --------
    >>> import torch
    >>> from modspec.nn.scattering import Scattering1D
    >>> layer = Scattering1D(6, 4096, Q=8)
    >>> layer(torch.zeros(2, 4096)).shape
    torch.Size([2, 126, 64])
    """

    def __init__(self, J, shape, Q=1, T=None, max_order=2, oversampling=0):
        super().__init__()
        if isinstance(shape, tuple) and len(shape) == 1:
            shape = shape[0]
        if isinstance(shape, bool) or not isinstance(shape, numbers.Integral) or shape < 1:
            raise ParameterError(f"shape={shape!r} must be the signal length, a positive int (or a 1-tuple)")
        self.n_samples = shape = int(shape)
        self.J, self.Q, self.T = _check_scales(shape, J, Q, T)
        self.max_order = _check_max_order(max_order)
        self.oversampling = _check_oversampling(oversampling)
        _warn_crossing(self.J, self.Q, self.max_order)
        # The float64 geometry (the wider padding) serves both dtypes.
        (_, n_padded, pad_left), fits = _scattering_geometry(
            shape, self.J, self.Q, self.T, self.max_order, np.dtype(np.float64)
        )
        _warn_support(fits, shape, self.T)
        self.n_padded, self.pad_left = n_padded, pad_left
        self.pad_right = n_padded - shape - pad_left
        bank = filters.scattering_filterbank(n_padded, self.J, self.Q, self.T)
        self.register_design("psi1_f", bank.psi1_f)
        self.register_design("psi2_f", bank.psi2_f)
        self.register_design("phi_f", bank.phi_f)
        self._build(bank)

    def _build(self, bank):
        """Rates, groups and output slices (plain ints: ``forward`` only slices)."""
        log2_T, os_ = bank.log2_T, self.oversampling
        self.log2_T = log2_T
        self.k_out = max(log2_T - os_, 0)
        self.first = -(-self.pad_left // 2**self.k_out)
        self.count = -(-(self.pad_left + self.n_samples) // 2**self.k_out) - self.first
        j1s, j2s = bank.psi1_j.tolist(), bank.psi2_j.tolist()
        k1s = [max(min(j, log2_T) - os_, 0) for j in j1s]
        # j1 does not decrease with n1, so wavelets of one rate, and the rows of a
        # rate that have a child n2 (j1 < j2), are contiguous ranges.
        self._groups = []
        for k1 in sorted(set(k1s)):
            lo, hi = k1s.index(k1), len(k1s) - k1s[::-1].index(k1)
            kids = []
            if self.max_order == 2:
                for n2, j2 in enumerate(j2s):
                    stop = lo + sum(1 for a in range(lo, hi) if j1s[a] < j2)
                    if stop > lo:
                        k2 = max(min(j2, log2_T) - k1 - os_, 0)
                        kids.append((n2, stop, k2))
            self._groups.append((k1, lo, hi, kids))
        # Row order of the concatenated pieces -> kymatio's path order.
        order, path = [0], 1 + len(j1s)
        paths2 = {}
        for a in range(len(j1s)):
            for n2, j2 in enumerate(j2s):
                if self.max_order == 2 and j2 > j1s[a]:
                    paths2[a, n2] = path
                    path += 1
        for k1, lo, hi, kids in self._groups:
            order += [1 + a for a in range(lo, hi)]
            for n2, stop, _ in kids:
                order += [paths2[a, n2] for a in range(lo, stop)]
        self.n_paths = path
        inverse = [0] * path
        for row, p in enumerate(order):
            inverse[p] = row
        self._perm = inverse

    def extra_repr(self):
        return (
            f"J={self.J}, shape={self.n_samples}, Q={self.Q}, T={self.T}, max_order={self.max_order}, "
            f"oversampling={self.oversampling}, n_padded={self.n_padded}"
        )

    def meta(self):
        """Order, scales and filter indices of every output path (:func:`modspec.features.scattering_meta`)."""
        return scattering_meta(J=self.J, Q=self.Q, T=self.T, max_order=self.max_order)

    def _lowpass(self, U_hat, k_in, phi_cache):
        """Average a (…, M) spectrum at level ``k_in`` by φ, subsample to the output rate, unpad."""
        if k_in not in phi_cache:
            phi_cache[k_in] = _fold(self.phi_f, 2**k_in)
        kk = max(self.log2_T - k_in - self.oversampling, 0)
        S = torch.fft.ifft(_fold(U_hat * phi_cache[k_in], 2**kk)).real
        return S[..., self.first : self.first + self.count]

    def forward(self, y):
        """Scatter ``y``.

        Parameters
        ----------
        y : torch.Tensor, shape (..., n_samples)

        Returns
        -------
        torch.Tensor, shape (..., n_paths, n_frames)
        """
        check_tensor("y", y, min_ndim=1, layout="(..., n_samples)")
        check_same_dtype("y", y, self, "phi_f")
        if y.shape[-1] != self.n_samples:
            raise ParameterError(
                f"y has {y.shape[-1]} samples but the module was built for shape={self.n_samples}; "
                "build a Scattering1D for this length"
            )
        lead = y.shape[:-1]
        x = F.pad(y.reshape(-1, 1, self.n_samples), (self.pad_left, self.pad_right), mode="reflect")[:, 0]
        X = torch.fft.fft(x)
        phi_cache = {}
        pieces = [self._lowpass(X, 0, phi_cache)[:, None]]
        for k1, lo, hi, kids in self._groups:
            U1 = torch.fft.ifft(_fold(X[:, None, :] * self.psi1_f[lo:hi], 2**k1)).abs()
            U1_hat = torch.fft.fft(U1)
            pieces.append(self._lowpass(U1_hat, k1, phi_cache))
            for n2, stop, k2 in kids:
                psi2 = _fold(self.psi2_f[n2], 2**k1)
                U2 = torch.fft.ifft(_fold(U1_hat[:, : stop - lo] * psi2, 2**k2)).abs()
                pieces.append(self._lowpass(torch.fft.fft(U2), k1 + k2, phi_cache))
        S = torch.cat(pieces, dim=1)[:, self._perm]
        return S.reshape(lead + S.shape[1:])
