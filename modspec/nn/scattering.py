"""Scattering as torch modules, differentiable: kymatio 0.3.0's ``Scattering1D`` and kymatio's jTFS numbers.

The filters are those of :func:`modspec.features.scattering` and
:func:`modspec.features.jtfs` (designed once by
:func:`modspec.filters.scattering_filterbank` and
:func:`modspec.filters.frequential_filterbank`, held as named buffers) and
the padding is the same, so the modules and the functions agree to rounding.
"""

import numbers

import numpy as np
import torch
import torch.nn.functional as F

from modspec import filters
from modspec.errors import ParameterError
from modspec.features.scattering import (
    _check_jtfs,
    _check_max_order,
    _check_oversampling,
    _check_scales,
    _scattering_geometry,
    _warn_crossing,
    _warn_support,
    jtfs_meta,
    scattering_meta,
)
from modspec.kernels import cpu_jtfs
from modspec.kernels.cpu_scattering import Geometry
from modspec.nn._base import DesignedModule, check_same_dtype, check_tensor, full_precision

__all__ = ["JTFSTensor", "Scattering1D", "TimeFrequencyScattering"]


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
        geometry = Geometry(self.n_samples, self.n_padded, self.pad_left)
        self.first, self.count = geometry.start(self.k_out), geometry.count(self.k_out)
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

    @full_precision
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


def _periodize(h_f, k):
    """A filter for signals subsampled by ``2**k``: the SUM of its ``2**k`` periods (kymatio 0.4's convention)."""
    if k == 0:
        return h_f
    return h_f.reshape(h_f.shape[:-1] + (2**k, h_f.shape[-1] // 2**k)).sum(dim=-2)


def _frequential_block(bank_fr, n_in, spinned):
    """The frequential filtering of a block of ``n_in`` rows (S1, or the Y2 of one n2), as linear maps.

    Returns the complex (R, n_in) map stacking every filter's output rows
    (zero-pad to ``N_fr`` rows, filter, subsample by ``2**min(j_fr, log2_F)``),
    the real block-diagonal (R_out, R) averaging of the moduli (identity for
    spin 0, the low-pass of width F then subsampling for spins +-1), and per
    filter its output rows and kymatio's ``n1`` stride. Column ``i`` of the
    map is the filtered impulse at row ``i``, whatever ``n_in``.
    """
    log2_F = bank_fr.log2_F
    maps, averaging, layout = [], [], []
    for index in range(len(bank_fr.xi)):
        spin, j_fr = int(bank_fr.spin[index]), int(bank_fr.j[index])
        if spin < 0 and not spinned:
            continue
        k_fr = min(j_fr, log2_F)
        maps.append(cpu_jtfs._frequency_map(bank_fr.psi_f[index], n_in, k_fr))
        if spin == 0:
            averaging.append(np.eye(maps[-1].shape[0]))
            stride = 2**j_fr
        else:
            k_in = min(j_fr, log2_F)
            averaging.append(
                cpu_jtfs._averaging_map(bank_fr.phi_level(k_in), bank_fr.N >> k_fr, log2_F - k_in)
            )
            stride = 2**log2_F
        layout.append((averaging[-1].shape[0], stride))
    avg = np.zeros((sum(a.shape[0] for a in averaging), sum(a.shape[1] for a in averaging)))
    r = c = 0
    for a in averaging:
        avg[r : r + a.shape[0], c : c + a.shape[1]] = a
        r, c = r + a.shape[0], c + a.shape[1]
    return np.concatenate(maps), avg, layout


class TimeFrequencyScattering(DesignedModule):
    r"""Joint time-frequency scattering (jTFS), as :func:`modspec.features.jtfs`, differentiable.

    The scalogram ``U1[n1] = |x * psi1[n1]|`` is filtered in time and along
    log-frequency ``n1``: order 0 ``x * phi_T``; order 1
    ``|S1 * psi_fr[n_fr]|`` (``S1 = U1 * phi_T``, spin 0 and +1); order 2
    ``||U1 * psi2[n2]| * psi_fr[n_fr]| * phi_T`` (``j2 > j1``, spins 0, +1,
    -1); spinned paths are then averaged along ``n1`` by a low-pass of width
    ``F``. The numbers are those of kymatio's development branch
    ``TimeFrequencyScattering``, in its array order (:meth:`meta`).

    Parameters
    ----------
    J : int > 0
        Scale of the largest temporal wavelet, ``2**J`` samples.
    J_fr : int > 0
        Scale of the largest frequential wavelet, ``2**J_fr`` first-order
        wavelets (``2**J_fr <= (J + 1) Q1``).
    shape : int or tuple of one int
        Signal length ``n_samples`` (the filters depend on it).
    Q : int or tuple of int
        Temporal wavelets per octave: ``Q1`` (``Q2 = 1``) or ``(Q1, Q2)``.
    Q_fr : int > 0
        Frequential wavelets per octave.
    T : int > 0 or None
        Temporal averaging scale in samples (default ``2**J``); output frames
        are ``2**floor(log2 T)`` samples apart.
    F : int > 0 or None
        Frequential averaging scale in first-order wavelets (default ``2**J_fr``).
    format : {'time', 'joint'}
        ``'time'``: one row per path ``(n1[, n2], n_fr)`` (orders 0, 1, 2);
        ``'joint'``: one image over ``(n1, time)`` per path ``(n_fr,)`` or
        ``(n2, n_fr)`` (orders 1, 2; needs ``F <= 2**J_fr``).
    compact : bool
        Reflect-pad to a shorter length beyond the filters' reach (same
        numbers to rounding); False pads exactly as kymatio.

    Shape
    -----
    - Input: (..., n_samples)
    - Output: (..., n_paths, n_frames) (``'time'``) or
      (..., n_paths, n_rows, n_frames) (``'joint'``), as :func:`modspec.features.jtfs`.

    Raises
    ------
    ParameterError
        Bad J, J_fr, shape, Q, Q_fr, T, F or format (as :func:`modspec.features.jtfs`);
        in ``forward``, an input of another length or dtype than the module's.

    Notes
    -----
    Buffers, in torch's default dtype (``.double()`` refills them from the
    float64 design): the temporal filters in the Fourier domain at full rate,
    ``psi1_f`` (n1, n_padded), ``psi2_f`` (n2, n_padded) (the second-order
    wavelets with some ``j1 < j2``, in path order) and ``phi_f`` (n_padded,),
    periodised (summed) to the subsampled rates in ``forward``; the
    frequential filtering (zero-pad the ``n1`` rows, filter, subsample) of
    all filters as one complex linear map per order, held as real and
    imaginary parts ``maps1_real``/``maps1_imag`` (rows1, n1) and
    ``maps2_real``/``maps2_imag`` (rows2, m) (a second-order block of
    ``m' <= m`` rows uses the first ``m'`` columns: column ``i`` is the
    response to row ``i``); the frequential averaging of the moduli as
    block-diagonal real matrices ``avg1`` (out1, rows1) and ``avg2``
    (out2, rows2) (identity for spin 0).

    The computation is kymatio's, batched: first-order moduli at their
    alias-free rate, each second-order block one complex matrix product,
    low-pass filters applied in the Fourier domain. It is differentiable with
    respect to the input (the modulus has a zero gradient at 0) and runs on
    CPU or CUDA; :func:`modspec.features.jtfs` is the fast CPU path.

    Examples
    --------
    >>> import torch
    >>> from modspec.nn.scattering import TimeFrequencyScattering
    >>> layer = TimeFrequencyScattering(6, 2, 4096, Q=(8, 2))
    >>> layer(torch.zeros(2, 4096)).shape
    torch.Size([2, 447, 64])
    >>> len(layer.meta()['key'])
    447
    """

    def __init__(self, J, J_fr, shape, Q, Q_fr=1, T=None, F=None, format="time", compact=True):
        super().__init__()
        if isinstance(shape, tuple) and len(shape) == 1:
            shape = shape[0]
        if isinstance(shape, bool) or not isinstance(shape, numbers.Integral) or shape < 1:
            raise ParameterError(f"shape={shape!r} must be the signal length, a positive int (or a 1-tuple)")
        self.n_samples = shape = int(shape)
        self.J, self.Q, self.T, self.J_fr, self.Q_fr, self.F, n_fr_padded = _check_jtfs(
            shape, J, Q, T, J_fr, Q_fr, F, format
        )
        self.format, self.compact = format, bool(compact)
        # The float64 geometry (the wider padding) serves both dtypes.
        (_, n_padded, pad_left), fits = _scattering_geometry(
            shape, self.J, self.Q, self.T, 2, np.dtype(np.float64), self.compact
        )
        _warn_support(fits, shape, self.T)
        self.n_padded, self.pad_left = n_padded, pad_left
        self.pad_right = n_padded - shape - pad_left
        bank = filters.scattering_filterbank(n_padded, self.J, self.Q, self.T)
        bank_fr = filters.frequential_filterbank(n_fr_padded, self.J_fr, self.Q_fr, self.F)
        self.log2_stride = s = bank.log2_T
        geometry = Geometry(shape, n_padded, pad_left)
        self.frames = slice(geometry.start(s), geometry.start(s) + geometry.count(s))
        j1 = bank.psi1_j
        # (n2, j2, m): the second-order wavelets fed by the first m wavelets n1 (those with j1 < j2).
        seconds = [(n2, j2, int((j1 < j2).sum())) for n2, j2 in enumerate(bank.psi2_j.tolist()) if (j1 < j2).any()]
        maps1, avg1, layout1 = _frequential_block(bank_fr, len(j1), spinned=False)
        maps2, avg2, layout2 = _frequential_block(bank_fr, max(m for _, _, m in seconds), spinned=True)
        self.register_design("psi1_f", bank.psi1_f)
        self.register_design("psi2_f", bank.psi2_f[[n2 for n2, _, _ in seconds]])
        self.register_design("phi_f", bank.phi_f)
        self.register_design("maps1_real", maps1.real)
        self.register_design("maps1_imag", maps1.imag)
        self.register_design("avg1", avg1)
        self.register_design("maps2_real", maps2.real)
        self.register_design("maps2_imag", maps2.imag)
        self.register_design("avg2", avg2)
        self._build(np.minimum(j1, s).tolist(), seconds, layout1, layout2)

    def _build(self, k1s, seconds, layout1, layout2):
        """Rates, groups and output rows (plain ints, and an index for 'time')."""
        # j1 does not decrease with n1: the wavelets of one rate 2**k1 are a contiguous range.
        self._groups = [(k1, k1s.index(k1), len(k1s) - k1s[::-1].index(k1)) for k1 in sorted(set(k1s))]
        self._seconds = []  # (j2, m, [(group, k1, rows of the group among the first m)])
        for _, j2, m in seconds:
            parts = [(g, k1, min(hi, m) - lo) for g, (k1, lo, hi) in enumerate(self._groups) if lo < m]
            self._seconds.append((j2, m, parts))
        self._levels = sorted({0} | set(k1s) | {j2 for _, j2, _ in seconds})
        # Output paths in kymatio's order: (first row in the concatenated blocks, n1_max, n1 stride).
        paths, row = [], 1  # row 0: order 0
        for layout, n1_max in [(layout1, len(k1s))] + [(layout2, m) for _, _, m in seconds]:
            for rows, stride in layout:
                paths.append((row, n1_max, stride))
                row += rows
        if self.format == "joint":
            self._rows_per_path = layout1[0][0]  # all equal: _check_jtfs demands F <= 2**J_fr
            self._paths_per_block = [len(layout1)] + [len(layout2)] * len(seconds)
            self.n_paths = len(paths)
            self.register_buffer("rows_kept", None, persistent=False)
        else:
            # kymatio's unpadding along n1: the first len(range(0, n1_max, stride)) rows of each path.
            kept = [0]
            for first, n1_max, stride in paths:
                kept += range(first, first + len(range(0, n1_max, stride)))
            self.n_paths = len(kept)
            self.register_buffer("rows_kept", torch.tensor(kept, dtype=torch.long), persistent=False)

    def extra_repr(self):
        return (
            f"J={self.J}, J_fr={self.J_fr}, shape={self.n_samples}, Q={self.Q}, Q_fr={self.Q_fr}, T={self.T}, "
            f"F={self.F}, format={self.format!r}, n_padded={self.n_padded}"
        )

    def meta(self):
        """Order, spin, indices and scales of every output path (:func:`modspec.features.jtfs_meta`)."""
        return jtfs_meta(J=self.J, J_fr=self.J_fr, Q=self.Q, Q_fr=self.Q_fr, T=self.T, F=self.F, format=self.format)

    @full_precision
    def forward(self, y):
        """Scatter ``y`` jointly in time and log-frequency.

        Parameters
        ----------
        y : torch.Tensor, shape (..., n_samples)

        Returns
        -------
        torch.Tensor
            Shape (..., n_paths, n_frames) (``format='time'``) or
            (..., n_paths, n_rows, n_frames) (``'joint'``), dtype of ``y``.
        """
        check_tensor("y", y, min_ndim=1, layout="(..., n_samples)")
        check_same_dtype("y", y, self, "phi_f")
        if y.shape[-1] != self.n_samples:
            raise ParameterError(
                f"y has {y.shape[-1]} samples but the module was built for shape={self.n_samples}; "
                "build a TimeFrequencyScattering for this length"
            )
        lead, s = y.shape[:-1], self.log2_stride
        x = F.pad(y.reshape(-1, 1, self.n_samples), (self.pad_left, self.pad_right), mode="reflect")[:, 0]
        X = torch.fft.fft(x)
        phi = {k: _periodize(self.phi_f, k) for k in self._levels}
        frames = self.frames  # unpadded in time before the (row-wise) frequential maps
        S0 = torch.fft.ifft(_fold(X * phi[0], 2**s)).real[..., frames]

        # First order: U1 at its alias-free rate 2**k1, its spectrum, S1 = U1 * phi.
        U1_hat, S1 = [], []
        for k1, lo, hi in self._groups:
            U = torch.fft.ifft(_fold(X[:, None, :] * self.psi1_f[lo:hi], 2**k1)).abs()
            U1_hat.append(torch.fft.fft(U))
            S1.append(torch.fft.ifft(_fold(U1_hat[-1] * phi[k1], 2 ** (s - k1))).real)
        S1 = torch.cat(S1, dim=1)[..., frames]
        # |frequential filtering| of S1 (real maps times a real S1: two real products).
        Y = torch.complex(self.maps1_real @ S1, self.maps1_imag @ S1).abs()
        blocks = [self.avg1 @ Y]

        # Second order, per wavelet n2: Y2[n1] = U1[n1] * psi2 at rate 2**j2, filtered along n1,
        # modulus, averaged in time, then along n1.
        maps2 = torch.complex(self.maps2_real, self.maps2_imag)
        for i, (j2, m, parts) in enumerate(self._seconds):
            Y2 = torch.cat([
                torch.fft.ifft(_fold(U1_hat[g][:, :rows] * _periodize(self.psi2_f[i], k1), 2 ** (j2 - k1)))
                for g, k1, rows in parts
            ], dim=1)
            Y = (maps2[:, :m] @ Y2).abs()
            Y = torch.fft.ifft(_fold(torch.fft.fft(Y) * phi[j2], 2 ** (s - j2))).real[..., frames]
            blocks.append(self.avg2 @ Y)

        if self.format == "joint":
            B, t = x.shape[0], S0.shape[-1]
            S = torch.cat([
                block.reshape(B, n, self._rows_per_path, t) for block, n in zip(blocks, self._paths_per_block)
            ], dim=1)
        else:
            S = torch.cat([S0[:, None]] + blocks, dim=1).index_select(1, self.rows_kept)
        return S.reshape(lead + S.shape[1:])


class JTFSTensor(torch.nn.Module):
    r"""Raghavan's jTFS input for a 3-D CNN, as :func:`modspec.features.jtfs_tensor`, differentiable.

    From the jTFS of :class:`TimeFrequencyScattering` (``format='time'``),
    every spinned second-order path ``(n1, n2, n_fr)`` is divided by the
    first-order spin-0 coefficient of the same ``n1`` (the scalogram averaged
    in time and log-frequency), so that only the temporal and frequential
    *variation* is kept; the ratios are averaged over ``n1``. Of the two spins
    (up, down), the one whose second-order paths carry more energy (sum of
    squares, per signal) is kept.

    Parameters
    ----------
    J, J_fr, shape, Q, Q_fr, T, F
        As :class:`TimeFrequencyScattering`.
    eps : float >= 0
        Added to S1 before dividing, relative to each signal's largest S1.

    Shape
    -----
    - Input: (..., n_samples)
    - Output: (..., n_frames, n_temporal, n_frequential) = ``(..., *self.output_shape)``:
      frames ``2**floor(log2 T)`` samples apart; second-order wavelets ``n2``
      with any ``j1 < j2`` (increasing scale); frequential wavelets of one
      spin (increasing scale). Raghavan's (N, J2, J_fr).

    Raises
    ------
    ParameterError
        As :class:`TimeFrequencyScattering`; a negative or non-finite ``eps``.

    Notes
    -----
    The module holds a :class:`TimeFrequencyScattering` (``self.jtfs``, its
    buffers) and non-persistent index buffers built from
    :func:`modspec.features.jtfs_meta`: ``first_rows`` (the spin-0
    first-order paths), and per spin ``rows_up``/``rows_down`` (its
    second-order paths, by ``(n2, n_fr)``), ``nearest_up``/``nearest_down``
    (the first-order path of the same ``n1``, the nearest on its grid when
    the strides differ), ``groups_up``/``groups_down`` (the output cell of each
    path) and ``counts`` (paths per cell, to average over ``n1``).

    The spin is a hard choice per signal (an argmax, not differentiable);
    the values are differentiable with respect to the input. Unlike the NumPy
    function, the smallest normal number of the dtype is added to S1, so a
    silent signal gives zeros (not 0/0 = NaN); for any other signal the
    numbers are the same (float64 ~1e-15 relative, float32 ~1e-6).

    Examples
    --------
    >>> import torch
    >>> from modspec.nn.scattering import JTFSTensor
    >>> layer = JTFSTensor(6, 2, 4096, Q=(8, 2))
    >>> layer.output_shape
    (64, 9, 3)
    >>> layer(torch.randn(2, 4096)).shape
    torch.Size([2, 64, 9, 3])
    """

    def __init__(self, J, J_fr, shape, Q, Q_fr=1, T=None, F=None, eps=1e-10):
        super().__init__()
        if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not np.isfinite(eps) or eps < 0:
            raise ParameterError(f"eps={eps!r} must be a finite number >= 0 (relative to each signal's largest S1)")
        self.eps = float(eps)
        self.jtfs = TimeFrequencyScattering(J, J_fr, shape, Q, Q_fr=Q_fr, T=T, F=F, format="time")
        meta = self.jtfs.meta()
        order, spin, n1, n2, n_fr = meta["order"], meta["spin"], meta["n"][:, 0], meta["n"][:, 1], meta["n_fr"]
        first = np.flatnonzero((order == 1) & (spin == 0))
        n2_values = sorted(set(n2[order == 2].astype(int).tolist()))
        self.register_buffer("first_rows", torch.from_numpy(first), persistent=False)
        counts = {}
        for name, sign in (("up", 1), ("down", -1)):
            n_fr_values = sorted(set(n_fr[(order == 2) & (spin == sign)].astype(int).tolist()))
            rows, groups = [], []
            for a, n2_value in enumerate(n2_values):
                for b, n_fr_value in enumerate(n_fr_values):
                    cell = np.flatnonzero((order == 2) & (n2 == n2_value) & (n_fr == n_fr_value))
                    rows += cell.tolist()
                    groups += [a * len(n_fr_values) + b] * len(cell)
            rows = np.array(rows)
            nearest = np.abs(n1[first][None, :] - n1[rows][:, None]).argmin(axis=1)
            self.register_buffer(f"rows_{name}", torch.from_numpy(rows), persistent=False)
            self.register_buffer(f"nearest_{name}", torch.from_numpy(nearest), persistent=False)
            self.register_buffer(f"groups_{name}", torch.tensor(groups, dtype=torch.long), persistent=False)
            counts[name] = np.bincount(groups, minlength=len(n2_values) * len(n_fr_values))
        # The two spins' banks mirror each other: same cells, same number of n1 per cell.
        if not np.array_equal(counts["up"], counts["down"]):  # pragma: no cover - a bank without mirror symmetry
            raise ParameterError("the frequential bank's spins +1 and -1 do not pair up; this jTFS has no JTFSTensor")
        self.register_buffer("counts", torch.tensor(counts["up"], dtype=torch.get_default_dtype()), persistent=False)
        n_frames = self.jtfs.frames.stop - self.jtfs.frames.start
        self.output_shape = (n_frames, len(n2_values), len(n_fr_values))

    def extra_repr(self):
        return f"eps={self.eps}, output_shape={self.output_shape}"

    def _spin(self, S, S1, name):
        """(tensor (B, n_cells, n_frames), energy (B,)) of one spin from the jTFS paths S (B, n_paths, n_frames)."""
        S2 = S.index_select(1, getattr(self, f"rows_{name}"))
        ratio = S2 / S1.index_select(1, getattr(self, f"nearest_{name}"))
        total = S2.new_zeros((S2.shape[0], self.counts.shape[0], S2.shape[-1]))
        mean = total.index_add(1, getattr(self, f"groups_{name}"), ratio) / self.counts[:, None]
        # The energy decides a hard choice: no gradient, float64 as the NumPy function.
        return mean, S2.detach().to(torch.float64).pow(2).sum(dim=(1, 2))

    @full_precision
    def forward(self, y, return_spin=False):
        """The jTFS tensor of ``y``.

        Parameters
        ----------
        y : torch.Tensor, shape (..., n_samples)
        return_spin : bool
            Also return the spin kept for each signal.

        Returns
        -------
        tensor : torch.Tensor, shape (..., n_frames, n_temporal, n_frequential), dtype of ``y``
        spin : torch.Tensor, shape (...), int8
            +1 (up) or -1 (down), only with ``return_spin=True``.
        """
        S = self.jtfs(y)  # validates y
        lead = S.shape[:-2]
        S = S.reshape((-1,) + S.shape[-2:])
        S1 = S.index_select(1, self.first_rows)
        # eps relative to each signal's largest S1 (as the NumPy function); tiny: a silent signal gives 0, not NaN.
        S1 = S1 + self.eps * S1.amax(dim=(1, 2), keepdim=True) + torch.finfo(S.dtype).tiny
        up, energy_up = self._spin(S, S1, "up")
        down, energy_down = self._spin(S, S1, "down")
        keep_up = energy_up >= energy_down
        out = torch.where(keep_up[:, None, None], up, down)
        out = out.reshape((-1,) + self.output_shape[1:] + (self.output_shape[0],)).permute(0, 3, 1, 2)
        out = out.reshape(lead + self.output_shape)
        if return_spin:
            spin = torch.where(keep_up, 1, -1).to(torch.int8).reshape(lead)
            return out, spin
        return out
