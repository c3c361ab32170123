"""numba kernels and the CPU pipeline of the time scattering transform (and, later, jTFS).

The transform is multirate, as kymatio's: the signal's spectrum is multiplied
by a wavelet and *folded* (periodised, which subsamples in time) to the
wavelet's alias-free rate before the inverse FFT, so every inverse FFT is as
short as the wavelet allows; the modulus is taken there, and the result is
averaged by the low-pass φ and subsampled to the output rate. What differs
from a port:

- Only the bins where a filter is not negligible are visited: every filter is
  stored as an *arc* of the frequency circle (start bin, values), found once
  per design, so a fold costs the filter's bandwidth, not the padded length.
- Real signals are kept as half spectra (rfft); bins above Nyquist are read as
  conjugates of their mirrors.
- First-order moduli are computed once and feed all of their second-order
  paths (only j2 > j1, as kymatio); rows of equal length are batched, so
  pocketfft vectorises across them.
- The final low-pass of each second-order path (and of first-order paths
  without children) is a direct, decimating FIR on the modulus, fused with
  the modulus, which computes only the kept output samples: cheaper than a
  forward FFT of the modulus.
- Rows are grouped into tasks run on the thread pool of
  :mod:`modspec.kernels.cpu` (numba ``nogil`` kernels and scipy.fft with
  ``workers=1`` release the GIL; see that module for why not ``prange``).

Everything here is private to :mod:`modspec.features.scattering` (which
validates) and to the coming jTFS; nothing is compiled at import.
"""

import functools
import math
import threading

import numba
import numpy as np
import scipy.fft

from modspec import filters
from modspec.kernels.cpu import _thread_pool, n_threads

__all__ = ["Geometry", "ScalogramPlan", "ScatteringPlan", "all_kernels", "scalogram", "scalogram_plan", "scattering",
           "scattering_plan", "tail_sigmas"]

# Gaussian tails are cut where they fall below the rounding of the dtype: at
# this many standard deviations (exp(-x^2/2): 7e-10 for float32, 3e-18 for
# float64), both for filter arcs in frequency and for low-pass taps in time.
_TAIL_SIGMAS = {np.dtype(np.float32): 6.5, np.dtype(np.float64): 9.0}


def tail_sigmas(dtype):
    """Standard deviations beyond which a Gaussian filter's tail is negligible in ``dtype``."""
    return _TAIL_SIGMAS[np.dtype(dtype)]


# Rows (signal, first-order wavelet) per task: pocketfft vectorises across rows
# of equal length; fewer rows when they are long, so that a task's scratch
# (this many complex points) stays bounded.
_ROWS_PER_TASK = 8
_TASK_POINTS = 1 << 21
# Scratch arrays above this many bytes are not kept between calls.
_KEEP_BYTES = 1 << 25
_FASTMATH = {"contract", "reassoc", "arcp", "nsz"}


# --------------------------------------------------------------------------- kernels


@numba.njit(cache=True, nogil=True)
def _reflect_pad(x, pad_left, out):  # pragma: no cover
    """out[b, i] = x[b, i - pad_left] mirrored at both ends without repeating the edge (np.pad 'reflect')."""
    n = x.shape[1]
    period = 2 * n - 2
    for b in range(x.shape[0]):
        for i in range(out.shape[1]):
            k = i - pad_left
            if k < 0 or k >= n:
                k %= period
                if k >= n:
                    k = period - k
            out[b, i] = x[b, k]


@numba.njit(cache=True, nogil=True)
def _fold(Xh, length, src, fid, starts, offsets, vals, Z):  # pragma: no cover
    """Z[r, k mod M] = sum over the arc of filter fid[r] of X_src[r][k] * value, for k on the arc.

    ``Xh[s]`` is the half spectrum (rfft) of a real signal of ``length``
    samples; its bins above ``length / 2`` are the conjugates of their
    mirrors. Arc f covers bins ``(starts[f] + i) mod length`` for
    ``i < offsets[f + 1] - offsets[f]`` with values ``vals[offsets[f]:offsets[f + 1]]``.
    Folding to ``M = Z.shape[1]`` bins subsamples the product in time.
    """
    M = Z.shape[1]
    half = length // 2
    for r in range(Z.shape[0]):
        zr = Z[r]
        zr[:] = 0
        x = Xh[src[r]]
        f = fid[r]
        k = starts[f]
        m = k % M
        i = offsets[f]
        stop = offsets[f + 1]
        while i < stop:
            # Runs where k stays on one side of Nyquist and m does not wrap.
            # (Slices, not offset indices: numba's negative-index wrap would block vectorisation.)
            if k <= half:
                run = min(stop - i, half + 1 - k, M - m)
                zs, xs, vs = zr[m : m + run], x[k : k + run], vals[i : i + run]
                for t in range(run):
                    zs[t] += xs[t] * vs[t]
            else:
                run = min(stop - i, length - k, M - m)
                zs, xs, vs = zr[m : m + run], x[length - k - run + 1 : length - k + 1], vals[i : i + run]
                for t in range(run):
                    zs[t] += xs[run - 1 - t].conjugate() * vs[t]
            i += run
            k += run
            m += run
            if k == length:
                k = 0
                m = 0
            elif m == M:
                m = 0


@numba.njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _modulus(U, A):  # pragma: no cover
    """A = |U| elementwise (rows of complex U to rows of real A)."""
    for r in range(U.shape[0]):
        u = U[r]
        a = A[r]
        for i in range(u.shape[0]):
            re = u[i].real
            im = u[i].imag
            a[i] = np.sqrt(re * re + im * im)


@numba.njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _modulus_lowpass(U, taps, right, step, first, b_idx, p_idx, out):  # pragma: no cover
    """out[b_idx[r], p_idx[r], m] = sum_t phi[t] |U[r, (c - t) mod M]|, c = (first + m) * step.

    The low-pass φ is real and its taps are ``taps[i] = phi[right - i]``, i.e.
    φ on ``t`` in ``[right - len(taps) + 1, right]``; only the kept output
    samples are computed. The modulus of each row goes to an extended buffer
    (circular wrap included) so that the FIR is a plain dot product.
    """
    n_rows, M = U.shape
    n_taps = taps.shape[0]
    count = out.shape[2]
    last = (first + count - 1) * step
    # Only samples first * step - right ... last + (n_taps - 1 - right) are used.
    lo = first * step - right
    n_ext = last - lo + n_taps
    ext = np.empty(n_ext, dtype=taps.dtype)
    for r in range(n_rows):
        u = U[r]
        k = lo % M
        for j in range(n_ext):
            re = u[k].real
            im = u[k].imag
            ext[j] = np.sqrt(re * re + im * im)
            k += 1
            if k == M:
                k = 0
        o = out[b_idx[r], p_idx[r]]
        for m in range(count):
            e = ext[m * step : m * step + n_taps]  # a slice: the dot product vectorises
            acc = taps.dtype.type(0.0)
            for i in range(n_taps):
                acc += taps[i] * e[i]
            o[m] = acc


@numba.njit(cache=True, nogil=True)
def _scatter_rows(S, first, b_idx, p_idx, out):  # pragma: no cover
    """out[b_idx[r], p_idx[r], :] = S[r, first:first + count]."""
    count = out.shape[2]
    for r in range(S.shape[0]):
        o = out[b_idx[r], p_idx[r]]
        s = S[r]
        for m in range(count):
            o[m] = s[first + m]


def all_kernels():
    """The numba dispatchers of this module (to check what has been compiled)."""
    return [obj for obj in globals().values() if isinstance(obj, numba.core.registry.CPUDispatcher)]


# --------------------------------------------------------------------------- workspaces

_local = threading.local()


def _workspace(name, shape, dtype):
    """A per-thread scratch array, reused across calls (large fresh arrays cost page faults)."""
    store = _local.__dict__.setdefault("buffers", {})
    size = math.prod(shape)
    dtype = np.dtype(dtype)
    if size * dtype.itemsize > _KEEP_BYTES:
        return np.empty(shape, dtype=dtype)
    key = (name, dtype)
    buf = store.get(key)
    if buf is None or buf.size < size:
        buf = store[key] = np.empty(max(size, 1), dtype=dtype)
    return buf[:size].reshape(shape)


def _rows_per_task(length):
    return max(1, min(_ROWS_PER_TASK, _TASK_POINTS // length))


# --------------------------------------------------------------------------- plans


class Geometry:
    """Padding and output sampling of a time scattering (or scalogram) of ``n_samples``-long signals.

    Attributes
    ----------
    n_samples, n_padded, pad_left, pad_right : int
        The signal is reflect-padded to ``n_padded = pad_left + n_samples + pad_right`` samples.
    """

    __slots__ = ("n_padded", "n_samples", "pad_left", "pad_right")

    def __init__(self, n_samples, n_padded, pad_left):
        self.n_samples = n_samples
        self.n_padded = n_padded
        self.pad_left = pad_left
        self.pad_right = n_padded - n_samples - pad_left

    def start(self, k):
        """Index of the first output sample at subsampling level ``k`` (kymatio's ``ind_start[k]``)."""
        return -(-self.pad_left // 2**k)

    def count(self, k):
        """Number of kept output samples at level ``k`` (``ind_end[k] - ind_start[k]``)."""
        return -(-(self.pad_left + self.n_samples) // 2**k) - self.start(k)

    def __repr__(self):
        return (f"Geometry(n_samples={self.n_samples}, n_padded={self.n_padded}, pad_left={self.pad_left}, "
                f"pad_right={self.pad_right})")


def _arc(h, tol):
    """(start, values): the shortest circular run of bins holding every value above ``tol * max|h|``."""
    big = np.abs(h) > tol * np.abs(h).max()
    if big.all():
        return 0, h.copy()
    idx = np.flatnonzero(big)
    # The arc is the complement of the longest circular gap between significant bins.
    gaps = np.diff(np.concatenate([idx, idx[:1] + h.shape[0]]))
    g = int(gaps.argmax())
    start = int(idx[(g + 1) % idx.size])
    length = h.shape[0] - int(gaps[g]) + 1
    return start, np.roll(h, -start)[:length].copy()


class _Arcs:
    """A table of filter arcs for :func:`_fold`: starts, offsets into one values array."""

    def __init__(self, arcs, dtype):
        self.starts = np.array([s for s, _ in arcs], dtype=np.int64)
        lengths = [v.shape[0] for _, v in arcs]
        self.offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        self.vals = np.ascontiguousarray(np.concatenate([v for _, v in arcs]) if arcs else np.zeros(0), dtype=dtype)


def _symmetrize(h):
    """(h[k] + h[-k]) / 2: keeps the real part of a real signal filtered by h (what kymatio keeps)."""
    return 0.5 * (h + np.roll(h[::-1], 1))


def _lowpass_taps(phi_level, half):
    """Time-domain taps of a Fourier-domain low-pass on its grid: (taps, right), cut at ``|t| <= half``.

    Returns ``taps`` with ``taps[i] = phi[right - i]``: φ (made real and even
    by :func:`_symmetrize`) on ``t`` in ``[right - len(taps) + 1, right]``. The
    caller's ``half`` is where the Gaussian falls below float64 rounding (a
    threshold on the taps themselves would stop at the FFT's rounding noise);
    at most one period is kept.
    """
    M = phi_level.shape[0]
    phi_t = scipy.fft.ifft(_symmetrize(phi_level)).real
    if 2 * half + 1 >= M:
        right, n_taps = M // 2, M
    else:
        right, n_taps = half, 2 * half + 1
    return np.ascontiguousarray(phi_t[np.mod(right - np.arange(n_taps), M)]), right


class _Node:
    """What the rows of one first-order rate k1, or of one (k1, n2), need: lengths, arcs, low-pass taps."""

    __slots__ = ("M", "arc", "phi_M", "phi_arc", "right", "step", "taps")


class ScatteringPlan:
    """Everything the CPU pipeline needs for one (geometry, J, Q, T, max_order, oversampling, dtype).

    Built once per parameter set (memoised by :func:`scattering_plan`): the
    filter arcs at every rate, the FIR taps of the low-pass, the path index
    of every (n1, n2) and the grouping of first-order wavelets into tasks.
    """

    def __init__(self, geometry, J, Q, T, max_order, oversampling, dtype):
        self.geometry = geometry
        self.dtype = np.dtype(dtype)
        self.cdtype = np.result_type(self.dtype, np.complex64)
        Np = geometry.n_padded
        bank = filters.scattering_filterbank(Np, J, Q, T)
        self.bank = bank
        log2_T = bank.log2_T
        os_ = oversampling
        self.k_out = max(log2_T - os_, 0)
        self.first = geometry.start(self.k_out)
        self.count = geometry.count(self.k_out)
        dt = self.dtype
        self.tail = tail_sigmas(dt)
        tol = math.exp(-self.tail**2 / 2)

        # Order 0: fold X * phi to the output rate, inverse rfft.
        k0 = self.k_out
        self.M0 = Np >> k0
        self.phi0 = _Arcs([_arc(_symmetrize(bank.phi_f) / 2**k0, tol)], dt)

        j1s = bank.psi1_j.tolist()
        j2s = bank.psi2_j.tolist()
        n1, n2 = len(j1s), len(j2s)
        self.n_order1 = n1
        path = 1 + n1
        self.path2 = {}
        self.children = []
        for a in range(n1):
            kids = [b for b in range(n2) if max_order == 2 and j2s[b] > j1s[a]]
            self.children.append(kids)
            for b in kids:
                self.path2[a, b] = path
                path += 1
        self.n_paths = path

        phi_cache = {}

        def phi_at(k):
            if k not in phi_cache:
                phi_cache[k] = filters.periodize_fourier(bank.phi_f, 2**k)
            return phi_cache[k]

        # Order 1: psi1 arcs on the padded grid, scaled by the mean of the fold.
        self.k1 = [max(min(j, log2_T) - os_, 0) for j in j1s]
        self.psi1 = _Arcs([_arc(bank.psi1_f[a] / 2 ** self.k1[a], tol) for a in range(n1)], dt)
        # Low-pass of order 1: from the rfft of |U1| (rows with children) or by FIR (the others).
        self.s1 = {}
        for k1 in set(self.k1):
            kk = max(log2_T - k1 - os_, 0)
            M1 = Np >> k1
            phi = phi_at(k1)
            taps, right = _lowpass_taps(phi, self._half(k1))
            node = _Node()
            node.M = M1
            node.step = 2**kk
            node.phi_M = M1 >> kk
            node.phi_arc = _Arcs([_arc(_symmetrize(phi) / 2**kk, tol)], dt)
            node.taps = taps.astype(dt)
            node.right = right
            self.s1[k1] = node
        # Order 2: for every (k1, n2), psi2 at level k1 as an arc on the M1 grid, and phi's FIR.
        self.s2 = {}
        for a in range(n1):
            k1 = self.k1[a]
            for b in self.children[a]:
                if (k1, b) in self.s2:
                    continue
                k2 = max(min(j2s[b], log2_T) - k1 - os_, 0)
                kk = max(log2_T - k2 - k1 - os_, 0)
                M1 = Np >> k1
                node = _Node()
                node.M = M1 >> k2
                psi = filters.periodize_fourier(bank.psi2_f[b], 2**k1) / 2**k2
                node.arc = _Arcs([_arc(psi, tol)], dt)
                taps, right = _lowpass_taps(phi_at(k1 + k2), self._half(k1 + k2))
                node.taps = taps.astype(dt)
                node.right = right
                node.step = 2**kk
                self.s2[k1, b] = node

        # Tasks: rows (b, n1) grouped by (k1, children) so that a task shares its FFT lengths.
        keys = {}
        for a in range(n1):
            keys.setdefault((self.k1[a], tuple(self.children[a])), []).append(a)
        # Biggest FFTs first: the pool then balances the small ones at the end.
        self.groups = sorted(keys.items(), key=lambda item: item[0][0])

    def _half(self, k):
        """Half-width in samples, at level k, beyond which φ's taps are below rounding."""
        sigma_t = 1.0 / (2 * np.pi * self.bank.phi_sigma) / 2**k
        return math.ceil(self.tail * sigma_t)


@functools.lru_cache(maxsize=16)
def scattering_plan(geometry_key, J, Q, T, max_order, oversampling, dtype):
    """Memoised :class:`ScatteringPlan`; ``geometry_key = (n_samples, n_padded, pad_left)``."""
    return ScatteringPlan(Geometry(*geometry_key), J, Q, T, max_order, oversampling, np.dtype(dtype))


# --------------------------------------------------------------------------- pipelines


def _run(tasks):
    """Run callables on the pool (in the calling thread when there is one core or one task).

    A call from a worker of the pool itself (a transform inside another's
    task) runs inline: waiting there on the pool could deadlock it.
    """
    in_pool = threading.current_thread().name.startswith("modspec-cpu")
    if n_threads() <= 1 or len(tasks) <= 1 or in_pool:
        for task in tasks:
            task()
        return
    futures = [_thread_pool().submit(task) for task in tasks]
    for future in futures:
        future.result()


def _padded_spectra(x, geometry, cdtype):
    """rfft of every reflect-padded signal, (n_batch, n_padded // 2 + 1)."""
    B = x.shape[0]
    xp = np.empty((B, geometry.n_padded), dtype=x.dtype)
    _reflect_pad(x, geometry.pad_left, xp)
    return scipy.fft.rfft(xp, axis=-1, workers=min(n_threads(), B))


def scattering(x, plan):
    """Time scattering of every row of ``x`` (n_batch, n_samples), contiguous float32/float64.

    Returns
    -------
    np.ndarray, shape (n_batch, plan.n_paths, plan.count), dtype of ``x``
        Paths in kymatio's order: order 0, order 1 by n1, order 2 by (n1, n2).
    """
    B = x.shape[0]
    Np = plan.geometry.n_padded
    out = np.empty((B, plan.n_paths, plan.count), dtype=x.dtype)
    X = _padded_spectra(x, plan.geometry, plan.cdtype)

    # Order 0.
    Z0 = np.empty((B, plan.M0), dtype=plan.cdtype)
    zeros = np.zeros(B, dtype=np.int64)
    _fold(X, Np, np.arange(B, dtype=np.int64), zeros, plan.phi0.starts, plan.phi0.offsets, plan.phi0.vals, Z0)
    S0 = scipy.fft.irfft(Z0[:, : plan.M0 // 2 + 1], n=plan.M0, axis=-1, workers=1)
    _scatter_rows(S0, plan.first, np.arange(B, dtype=np.int64), zeros, out)

    tasks = []
    for (k1, kids), n1s in plan.groups:
        rows = [(b, a) for a in n1s for b in range(B)]
        size = _rows_per_task(Np >> k1)
        for lo in range(0, len(rows), size):
            chunk = rows[lo : lo + size]
            tasks.append(functools.partial(_first_order_task, plan, X, k1, kids, chunk, out))
    _run(tasks)
    return out


def _first_order_task(plan, X, k1, kids, rows, out):
    """|x * psi1| for a group of rows, its low-pass (order 1) and all its second-order paths."""
    Np = plan.geometry.n_padded
    M1 = Np >> k1
    g = len(rows)
    b_idx = np.array([b for b, _ in rows], dtype=np.int64)
    n1_idx = np.array([a for _, a in rows], dtype=np.int64)
    p1_idx = 1 + n1_idx
    Z = _workspace("Z1", (g, M1), plan.cdtype)
    _fold(X, Np, b_idx, n1_idx, plan.psi1.starts, plan.psi1.offsets, plan.psi1.vals, Z)
    U = scipy.fft.ifft(Z, axis=-1, workers=1, overwrite_x=True)
    node = plan.s1[k1]
    if not kids:
        _modulus_lowpass(U, node.taps, node.right, node.step, plan.first, b_idx, p1_idx, out)
        return
    A = _workspace("A1", (g, M1), plan.dtype)
    _modulus(U, A)
    H = scipy.fft.rfft(A, axis=-1, workers=1)
    local = np.arange(g, dtype=np.int64)
    zeros = np.zeros(g, dtype=np.int64)
    Zs = _workspace("Zs", (g, node.phi_M), plan.cdtype)
    arcs = node.phi_arc
    _fold(H, M1, local, zeros, arcs.starts, arcs.offsets, arcs.vals, Zs)
    S = scipy.fft.irfft(Zs[:, : node.phi_M // 2 + 1], n=node.phi_M, axis=-1, workers=1)
    _scatter_rows(S, plan.first, b_idx, p1_idx, out)
    for n2 in kids:
        child = plan.s2[k1, n2]
        p2_idx = np.array([plan.path2[a, n2] for _, a in rows], dtype=np.int64)
        Z2 = _workspace("Z2", (g, child.M), plan.cdtype)
        arcs = child.arc
        _fold(H, M1, local, zeros, arcs.starts, arcs.offsets, arcs.vals, Z2)
        U2 = scipy.fft.ifft(Z2, axis=-1, workers=1, overwrite_x=True)
        _modulus_lowpass(U2, child.taps, child.right, child.step, plan.first, b_idx, p2_idx, out)


class ScalogramPlan:
    """Arcs of the first-order wavelets for a scalogram sampled every ``2**k`` samples."""

    def __init__(self, geometry, J, Q, T, k, dtype):
        self.geometry = geometry
        self.dtype = np.dtype(dtype)
        self.cdtype = np.result_type(self.dtype, np.complex64)
        self.k = k
        bank = filters.scattering_filterbank(geometry.n_padded, J, Q, T)
        self.bank = bank
        tol = math.exp(-tail_sigmas(dtype) ** 2 / 2)
        self.psi1 = _Arcs([_arc(h / 2**k, tol) for h in bank.psi1_f], self.dtype)
        self.n_filters = bank.psi1_f.shape[0]
        self.first = geometry.start(k)
        self.count = geometry.count(k)


@functools.lru_cache(maxsize=16)
def scalogram_plan(geometry_key, J, Q, T, k, dtype):
    """Memoised :class:`ScalogramPlan`; ``geometry_key = (n_samples, n_padded, pad_left)``."""
    return ScalogramPlan(Geometry(*geometry_key), J, Q, T, k, np.dtype(dtype))


def scalogram(x, plan):
    """|x * psi1| of every row of ``x`` (n_batch, n_samples), every ``2**plan.k`` samples.

    Returns
    -------
    np.ndarray, shape (n_batch, n_filters, plan.count), dtype of ``x``
    """
    B = x.shape[0]
    Np = plan.geometry.n_padded
    M = Np >> plan.k
    out = np.empty((B, plan.n_filters, plan.count), dtype=x.dtype)
    X = _padded_spectra(x, plan.geometry, plan.cdtype)
    rows = [(b, a) for a in range(plan.n_filters) for b in range(B)]

    def task(chunk):
        g = len(chunk)
        b_idx = np.array([b for b, _ in chunk], dtype=np.int64)
        n_idx = np.array([a for _, a in chunk], dtype=np.int64)
        Z = _workspace("Zsc", (g, M), plan.cdtype)
        _fold(X, Np, b_idx, n_idx, plan.psi1.starts, plan.psi1.offsets, plan.psi1.vals, Z)
        U = scipy.fft.ifft(Z, axis=-1, workers=1, overwrite_x=True)
        A = _workspace("Asc", (g, M), plan.dtype)
        _modulus(U, A)
        _scatter_rows(A, plan.first, b_idx, n_idx, out)

    size = _rows_per_task(M)
    _run([functools.partial(task, rows[lo : lo + size]) for lo in range(0, len(rows), size)])
    return out
