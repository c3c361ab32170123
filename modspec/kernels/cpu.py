"""numba kernels for the CPU backend.

Private, module-level, compiled lazily on first call (``cache=True`` keeps the
machine code on disk for later processes). Callers in :mod:`modspec.features`
validate and allocate.

The STFT-based features run as a pipeline over blocks of frames: frame and
window a block (numba), FFT it (scipy.fft), reduce it to the output (numba:
|X|^p, sparse mel projection or transpose). Blocks are spread over a pool of
threads, one per core, and every stage releases the GIL, so the pipeline is
parallel over batch and frames. Why not one ``parallel=True`` kernel per stage
with a threaded FFT between them: numba's OpenMP workers spin after each
parallel region and take the cores scipy.fft's threads need, and whole-signal
intermediates fall out of cache; on this project's 2-core benchmark machine the
staged version was 1.5-3x slower. Kernels with no FFT inside use ``prange``.
"""

import functools
import itertools
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
import scipy.fft
from llvmlite import ir
from numba.core import cgutils
from numba.extending import intrinsic

# About 64k samples of frames per block: the block and its spectrum stay in L2.
_BLOCK_SAMPLES = 1 << 16
_pool = None
_pool_lock = threading.Lock()


def n_threads():
    """Threads the CPU kernels use: numba's thread count (NUMBA_NUM_THREADS), else the cores."""
    return max(1, numba.config.NUMBA_NUM_THREADS or os.cpu_count() or 1)


def _thread_pool():
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=n_threads(), thread_name_prefix="modspec-cpu")
    return _pool


@numba.njit(cache=True, nogil=True)
def _frame_block(y, window, hop, pad, reflect, t0, frames):  # pragma: no cover
    """frames[i, k] = window[k] * y[(t0 + i) * hop + k - pad], edges padded.

    ``pad`` samples of zeros (or, with ``reflect``, the mirrored signal without
    repeating the edge sample, as np.pad 'reflect') stand before and after the
    signal; the padded signal is never materialised. Reflection is single, so
    the caller guarantees ``pad < len(y)`` when ``reflect``.
    """
    n_samples = y.shape[0]
    n_frames, n_fft = frames.shape
    for i in range(n_frames):
        start = (t0 + i) * hop - pad
        if start >= 0 and start + n_fft <= n_samples:
            for k in range(n_fft):
                frames[i, k] = y[start + k] * window[k]
        else:
            for k in range(n_fft):
                j = start + k
                if 0 <= j < n_samples:
                    frames[i, k] = y[j] * window[k]
                elif not reflect:
                    frames[i, k] = 0.0
                elif j < 0:
                    frames[i, k] = y[-j] * window[k]
                else:
                    frames[i, k] = y[2 * (n_samples - 1) - j] * window[k]


@numba.njit(cache=True, nogil=True)
def _block_power_t(X, exponent, power):  # pragma: no cover
    """power[k, i] = |X[i, k]|^exponent: a frame-major FFT block, transposed.

    re² + im² avoids the sqrt of abs() in the common power=2 case; the exponent
    test stays out of the inner loop so that it vectorises.
    """
    n_frames, n_freq = X.shape
    for k in range(n_freq):
        for i in range(n_frames):
            z = X[i, k]
            power[k, i] = z.real * z.real + z.imag * z.imag
    if exponent == 1.0:
        for k in range(n_freq):
            for i in range(n_frames):
                power[k, i] = np.sqrt(power[k, i])
    elif exponent != 2.0:
        half = 0.5 * exponent
        for k in range(n_freq):
            for i in range(n_frames):
                power[k, i] = power[k, i] ** half


@numba.njit(cache=True, nogil=True)
def _block_to_bands(X, exponent, weights, starts, stops, t0, out):  # pragma: no cover
    """out[m, t0 + i] = sum_k weights[m, k] |X[i, k]|^exponent over band m's bins only.

    |X|^p of the block is computed once, transposed to (bin, frame); band m then
    reads only its non-zero bins ``starts[m]:stops[m]``, vectorised over frames.
    """
    n_frames, n_freq = X.shape
    power = np.empty((n_freq, n_frames), dtype=out.dtype)
    _block_power_t(X, exponent, power)
    for m in range(weights.shape[0]):
        row = out[m, t0 : t0 + n_frames]
        row[:] = 0.0
        for k in range(starts[m], stops[m]):
            w = weights[m, k]
            for i in range(n_frames):
                row[i] += w * power[k, i]


@numba.njit(cache=True, nogil=True)
def _block_to_power(X, exponent, t0, out):  # pragma: no cover
    """out[k, t0 + i] = |X[i, k]|^exponent (frame-major block to frequency-major output)."""
    _block_power_t(X, exponent, out[:, t0 : t0 + X.shape[0]])


@numba.njit(parallel=True, cache=True, nogil=True)
def _project_bands(S, weights, starts, stops, out):  # pragma: no cover
    """out[b, m, t] = sum_k weights[m, k] S[b, k, t] over band m's non-zero bins."""
    n_batch, _, n_frames = S.shape
    n_bands = weights.shape[0]
    for i in numba.prange(n_batch * n_bands):
        b = i // n_bands
        m = i - b * n_bands
        for t in range(n_frames):
            out[b, m, t] = 0.0
        for k in range(starts[m], stops[m]):
            w = weights[m, k]
            for t in range(n_frames):
                out[b, m, t] += w * S[b, k, t]


def stft_pipeline(y, window, hop, pad, reflect, n_frames, reduce, out, exponent=2.0, bands=None):
    """Run frame → FFT → ``reduce`` over blocks of frames of every signal.

    Parameters
    ----------
    y : np.ndarray, shape (n_batch, n_samples), C-contiguous
    window : np.ndarray, shape (n_fft,)
    hop, pad : int
        Hop length and left/right padding in samples.
    reflect : bool
        Reflect padding (else zeros).
    n_frames : int
        Frames per signal.
    reduce : {'bands', 'power', 'complex'}
        What each FFT block becomes: band projections of |X|^exponent
        (``bands = (weights, starts, stops)``), |X|^exponent, or X itself.
    out : np.ndarray, shape (n_batch, n_out, n_frames), or (n_batch, n_frames, n_freq) for 'complex'
        Written in place. The complex STFT stays frame-major (a contiguous copy
        per block); the caller returns it as a transposed view, as librosa
        returns a Fortran-ordered array.
    """
    n_batch = y.shape[0]
    n_fft = window.shape[0]
    block = max(8, _BLOCK_SAMPLES // n_fft)
    tasks = [(b, t0) for b in range(n_batch) for t0 in range(0, n_frames, block)]

    def run(task_slice):
        frames = np.empty((block, n_fft), dtype=y.dtype)
        for b, t0 in task_slice:
            rows = frames[: min(block, n_frames - t0)]
            _frame_block(y[b], window, hop, pad, reflect, t0, rows)
            X = scipy.fft.rfft(rows, axis=-1, workers=1)
            if reduce == "bands":
                _block_to_bands(X, exponent, bands[0], bands[1], bands[2], t0, out[b])
            elif reduce == "power":
                _block_to_power(X, exponent, t0, out[b])
            else:
                out[b, t0 : t0 + rows.shape[0]] = X

    n_workers = min(n_threads(), len(tasks))
    if n_workers <= 1:
        run(tasks)
        return out
    # Contiguous runs of blocks per worker keep each signal's samples in one cache.
    bounds = np.linspace(0, len(tasks), n_workers + 1).astype(int)
    futures = [_thread_pool().submit(run, tasks[lo:hi]) for lo, hi in itertools.pairwise(bounds)]
    for future in futures:
        future.result()
    return out


# --------------------------------------------------------------------------- strided correlation
#
# Two methods, both built on small matrix products (BLAS through np.dot: on the
# 2-core benchmark machine 4-8x faster than numba loops doing the same).
#
# 'direct' multiplies frames (n_frames x K) by the taps (K x n_filters). For
# symmetric filters the frames are folded first, x[j] + x[K-1-j], which halves
# the products. Frames that do not overlap (stride >= K) are read in place.
#
# 'fft' is overlap-save that exploits the stride. With blocks of L = stride * P
# samples, the decimated output of a block is the P-point inverse FFT of the
# *folded* product spectrum
#     Zdec[k] = 1/stride * sum_{m < stride} X[k + m P] conj(G[k + m P]),
# bins above L/2 being the conjugates of their mirrors. For every bin k that is
# a product (n_filters x stride) @ (stride x blocks), and only output-sized
# P-point inverse FFTs remain. For linear-phase filters conj(G) is a real
# amplitude times a phase shared by all filters: the phase is applied once to X
# and the products are real (half the multiply-adds of complex ones).
#
# A cost model picks the method and P. Both run on the module's thread pool.

_RECTIFIERS = (None, "relu", "abs", "square")
_RECTIFY_CODES = {None: 0, "relu": 1, "abs": 2, "square": 3}
# Computed indices are cast to unsigned: numba wraps negative signed indices, and
# that check keeps copy loops from vectorising.
_u = np.uintp
# Multiply-adds per matrix product: OpenBLAS runs larger products on threads of
# its own, which compete with this module's pool (10-100x slower when the machine
# is busy).
_MAX_PRODUCT = 1 << 18
# Output samples per chunk of FFT blocks: a chunk's spectra stay in L2.
_FFT_CHUNK_SAMPLES = 1 << 18
# Cost model, ns, fitted on the 2-core benchmark machine: per multiply-add in a
# matrix product, per sample copied into frames or written out, per point x
# log2(n) of a forward and an inverse FFT, per round of FFT calls on a chunk.
_COST_MAC = 1 / 45
_COST_COPY = 0.3
_COST_FFT = 0.16
_COST_IFFT = 0.2
_COST_CALL = 20e3
_MAX_FFT_SIZE = 2048
# Even FFT sizes 2^a 3^b 5^c: the block lengths P of the decimated output.
_FFT_SIZES = sorted(
    n for n in (2**a * 3**b * 5**c for a in range(1, 12) for b in range(5) for c in range(4)) if n <= _MAX_FFT_SIZE
)


@numba.njit(cache=True, nogil=True)
def _rectified(v, rectify):  # pragma: no cover
    """v rectified: 1 relu, 2 abs, 3 square (0: v itself)."""
    if rectify == 1:
        return max(v, 0.0)
    if rectify == 2:
        return abs(v)
    if rectify == 3:
        return v * v
    return v


@numba.njit(cache=True, nogil=True)
def _correlate_direct(x, taps_t, stride, kernel_size, symmetric, rectify, chunk, g0, g1, out):  # pragma: no cover
    """Direct correlation of the global frames ``g0:g1`` (frame g: row g // n_out, time g % n_out).

    ``taps_t`` is (width, n_filters): the filters transposed, or for
    ``symmetric`` filters their first ceil(K/2) taps, which multiply the folded
    frame x[j] + x[K-1-j] (the middle tap of an odd K is not folded). Chunks of
    ``chunk`` frames are gathered into a matrix and multiplied by the taps in
    one product, then transposed into the output.

    """
    width, n_filters = taps_t.shape
    n_out = out.shape[2]
    half = kernel_size // 2
    frames = np.empty((chunk, width), dtype=x.dtype)
    acc = np.empty((chunk, n_filters), dtype=x.dtype)
    r0 = g0 // n_out
    t0 = g0 - r0 * n_out
    for c0 in range(g0, g1, chunk):
        n = min(chunk, g1 - c0)
        r, t = r0, t0
        for i in range(n):
            start = t * stride
            if symmetric:
                # Two passes: the loop with both the forward and the reversed reads does not
                # vectorise well (1.8x slower on the benchmark machine).
                last = start + kernel_size - 1
                for j in range(half):
                    frames[i, j] = x[r, _u(start + j)]
                for j in range(half):
                    frames[i, j] += x[r, _u(last - j)]
                if kernel_size % 2:
                    frames[i, half] = x[r, _u(start + half)]
            else:
                for j in range(kernel_size):
                    frames[i, j] = x[r, _u(start + j)]
            t += 1
            if t == n_out:
                r, t = r + 1, 0
        np.dot(frames[:n], taps_t, acc[:n])
        # One run per signal row the chunk touches.
        i = 0
        while i < n:
            m = min(n - i, n_out - t0)
            for f in range(n_filters):
                for q in range(m):
                    out[r0, f, _u(t0 + q)] = _rectified(acc[_u(i + q), f], rectify)
            i += m
            t0 += m
            if t0 == n_out:
                r0, t0 = r0 + 1, 0


@intrinsic
def _gemm_tn(typingctx, m, n, k, a, a_start, lda, b, c, c_start, ldc):
    """C = A^T B in BLAS's column-major terms, on raw array memory (no copies, any lda).

    A is (k x m) at ``a[a_start:]`` with leading dimension ``lda`` (>= k), B is
    ``b`` (k x n, leading dimension k), C is (m x n) at ``c[c_start:]`` with
    leading dimension ``ldc``; all flat, same float dtype. np.dot needs
    contiguous operands; this calls the same BLAS entry point as numba's
    np.dot (``numba_xxgemm`` of numba's helper library, scipy's BLAS behind it)
    with explicit leading dimensions, so that frames that do not overlap are
    read in place.
    """
    sig = numba.types.void(
        numba.types.intp, numba.types.intp, numba.types.intp, a, numba.types.intp, numba.types.intp, b, c,
        numba.types.intp, numba.types.intp,
    )

    def codegen(context, builder, signature, args):
        m, n, k, a, a_start, lda, b, c, c_start, ldc = args
        a_type, b_type, c_type = signature.args[3], signature.args[6], signature.args[7]
        char = ir.IntType(8)
        void_p = char.as_pointer()
        intp = context.get_value_type(numba.types.intp)
        # int numba_xxgemm(kind, transa, transb, m, n, k, *alpha, *a, lda, *b, ldb, *beta, *c, ldc)
        args = [char, char, char, intp, intp, intp, void_p, void_p, intp, void_p, intp, void_p, void_p, intp]
        fnty = ir.FunctionType(ir.IntType(32), args)
        gemm = cgutils.get_or_insert_function(builder.module, fnty, "numba_xxgemm")
        dtype = a_type.dtype
        kind = ir.Constant(char, ord("s" if dtype == numba.types.float32 else "d"))
        a_data = builder.gep(context.make_array(a_type)(context, builder, a).data, [a_start])
        b_data = context.make_array(b_type)(context, builder, b).data
        c_data = builder.gep(context.make_array(c_type)(context, builder, c).data, [c_start])
        one = cgutils.alloca_once_value(builder, context.get_constant(dtype, 1.0))
        zero = cgutils.alloca_once_value(builder, context.get_constant(dtype, 0.0))
        builder.call(
            gemm,
            (kind, ir.Constant(char, ord("t")), ir.Constant(char, ord("n")), m, n, k,
             builder.bitcast(one, void_p), builder.bitcast(a_data, void_p), lda,
             builder.bitcast(b_data, void_p), k, builder.bitcast(zero, void_p),
             builder.bitcast(c_data, void_p), ldc),
        )
        return context.get_dummy_value()

    return sig, codegen


@numba.njit(cache=True, nogil=True)
def _correlate_strided(x, filters, stride, rectify, chunk, r0, r1, out):  # pragma: no cover
    """Direct correlation of rows ``r0:r1`` when frames do not overlap (stride >= K).

    The frames of a row are then a matrix with leading dimension ``stride``
    inside x: one product per row (per ``chunk`` frames) reads them in place
    and writes out[r] (filters x time) directly.
    """
    n_samples = x.shape[1]
    n_filters, kernel_size = filters.shape
    n_out = out.shape[2]
    flat_x = x.ravel()
    flat_out = out.ravel()
    for r in range(r0, r1):
        for t0 in range(0, n_out, chunk):
            m = min(chunk, n_out - t0)
            _gemm_tn(m, n_filters, kernel_size, flat_x, r * n_samples + t0 * stride, stride, filters, flat_out,
                     r * n_filters * n_out + t0, n_out)
        if rectify:
            for f in range(n_filters):
                for t in range(n_out):
                    out[r, f, t] = _rectified(out[r, f, t], rectify)


@numba.njit(cache=True, nogil=True)
def _gather_blocks(x, hop, blocks_per_row, g0, left, frames):  # pragma: no cover
    """frames[i] = xp[r, b * hop : b * hop + L] for global block g0 + i = r * blocks_per_row + b.

    ``xp`` is the row zero-padded by ``left`` samples on the left and
    without end on the right: the padding is never materialised.
    """
    n_samples = x.shape[1]
    length = frames.shape[1]
    for i in range(frames.shape[0]):
        r = (g0 + i) // blocks_per_row
        start = (g0 + i - r * blocks_per_row) * hop - left
        lo = min(max(0, -start), length)
        stop = max(lo, min(length, n_samples - start))
        for k in range(lo):
            frames[i, k] = 0.0
        for k in range(lo, stop):
            frames[i, k] = x[r, _u(start + k)]
        for k in range(stop, length):
            frames[i, k] = 0.0


@numba.njit(cache=True, nogil=True)
def _fold_spectra(X, bins, phase, rotation, y):  # pragma: no cover
    """y[k, m, (2b, 2b + 1)] = Y[k, m, b]: the folded spectra of a chunk of blocks, as (re, im) pairs.

    Y[k, m, b] is the full spectrum of block b at bin k + m P, read from the
    rfft bins ``bins[m, k]`` (``X`` is (block, bin)) and conjugated where
    mirrored (``phase`` then carries the conjugation as a sign of the imaginary
    part: phase[m, k] = (c, s, sign) applies X -> (Xr + i sign Xi)(c + i s)).
    Linear-phase filters: ``phase`` is their shared phase, else (1, 0, sign).
    With ``rotation`` (filters without linear phase, and gradients toward
    them) the rows m + stride of y hold i Y.
    """
    n_blocks = X.shape[0]
    stride, n_bins = bins.shape
    for k in range(n_bins):
        for m in range(stride):
            c, s, sign = phase[m, k, 0], phase[m, k, 1], phase[m, k, 2]
            for b in range(n_blocks):
                v = X[b, bins[m, k]]
                im = sign * v.imag
                y[k, m, 2 * b] = v.real * c - im * s
                y[k, m, 2 * b + 1] = v.real * s + im * c
                if rotation:
                    y[k, m + stride, 2 * b] = -y[k, m, 2 * b + 1]
                    y[k, m + stride, 2 * b + 1] = y[k, m, 2 * b]


@numba.njit(cache=True, nogil=True)
def _fold_matmul(factors, y, Z):  # pragma: no cover
    """Z[k] = factors[k] @ y[k]: the folded product spectra of a chunk of blocks.

    ``factors`` are :func:`fft_factors` (n_bins, n_filters, rows): real
    amplitudes for linear-phase filters, else [Cr | Ci] against the rows
    [Y; iY], so that one real product gives Cr Y + Ci (i Y). Complex numbers
    are (re, im) pairs along the last axis of ``y`` (n_bins, rows, 2 n_blocks)
    and ``Z`` (n_bins, n_filters, 2 n_blocks), the real view of the complex
    spectra.
    """
    n_bins, n_filters, rows = factors.shape
    if rows >= 4:
        for k in range(n_bins):
            np.dot(factors[k], y[k], Z[k])
    else:
        # A product with one or two terms per bin (stride 1) is cheaper in a loop.
        width = y.shape[2]
        for k in range(n_bins):
            for f in range(n_filters):
                a = factors[k, f, 0]
                for q in range(width):
                    Z[k, f, q] = a * y[k, 0, q]
                for m in range(1, rows):
                    a = factors[k, f, m]
                    for q in range(width):
                        Z[k, f, q] += a * y[k, m, q]


@numba.njit(cache=True, nogil=True)
def _scatter_blocks(y, blocks_per_row, n_valid, g0, rectify, out):  # pragma: no cover
    """out[r, f, b * n_valid + t] = y[i, f, t] (t < n_valid, rectified) for global block g0 + i."""
    n_out = out.shape[2]
    for i in range(y.shape[0]):
        r = (g0 + i) // blocks_per_row
        t0 = (g0 + i - r * blocks_per_row) * n_valid
        n = min(n_valid, n_out - t0)
        for f in range(y.shape[1]):
            for t in range(n):
                out[r, f, _u(t0 + t)] = _rectified(y[i, f, t], rectify)


def _is_symmetric(filters):
    """Every filter equals its time reversal, exactly (linear phase)."""
    return bool(np.array_equal(filters, filters[:, ::-1]))


def _direct_cost(n_rows, n_out, n_filters, kernel_size, stride, symmetric):
    """Modelled time (ns) of the direct method."""
    width = (kernel_size + 1) // 2 if symmetric else kernel_size
    copied = 0 if stride >= kernel_size and not symmetric else width + n_filters
    return n_rows * n_out * (n_filters * width * _COST_MAC + copied * _COST_COPY)


def _fft_plan(n_rows, n_out, n_filters, kernel_size, stride, symmetric):
    """(modelled time in ns, P) of the cheapest FFT block length L = stride * P."""
    best = (math.inf, 0)
    terms = stride if symmetric else 2 * stride
    for size in _FFT_SIZES:
        length = stride * size
        if length < kernel_size:
            continue
        n_valid = (length - kernel_size) // stride + 1
        n_blocks = n_rows * -(-n_out // n_valid)
        n_bins = size // 2 + 1
        block = (
            length * (_COST_COPY + _COST_FFT * math.log2(length))
            + 2 * n_bins * n_filters * terms * _COST_MAC
            + n_filters * (_COST_IFFT * size * math.log2(size) + n_valid * _COST_COPY)
        )
        # Filter spectra, and per chunk of blocks the FFT calls and a product per bin.
        chunk = max(8, _FFT_CHUNK_SAMPLES // (n_filters * size))
        fixed = n_filters * length * (_COST_FFT * math.log2(length) + terms / stride * _COST_COPY)
        fixed += -(-n_blocks // chunk) * (_COST_CALL + n_bins * _COST_CALL / 50)
        best = min(best, (n_blocks * block + fixed, size))
        if n_blocks == n_rows:
            break  # one block per row: longer blocks only add work
    return best


def _run_tasks(run, n_items, grain):
    """run(lo, hi) over contiguous ranges of ``n_items``, on the calling thread and the pool's.

    About eight ranges per thread, at least ``grain`` items each, handed out as
    threads become free: when another process takes a core for a while, the
    other threads do more of the work instead of waiting for it.
    """
    n_ranges = -(-n_items // grain)
    n_workers = min(n_threads(), n_ranges)
    if n_workers <= 1:
        run(0, n_items)
        return
    bounds = np.linspace(0, n_items, min(n_ranges, 8 * n_workers) + 1).astype(int)
    ranges = iter(zip(bounds[:-1].tolist(), bounds[1:].tolist()))
    lock = threading.Lock()

    def work():
        while True:
            with lock:
                task = next(ranges, None)
            if task is None:
                return
            run(*task)

    futures = [_thread_pool().submit(work) for _ in range(n_workers - 1)]
    work()
    for future in futures:
        future.result()


@functools.lru_cache(maxsize=64)
def _fold_tables(stride, size, kernel_size, symmetric, dtype):
    """Fold tables for blocks of L = stride * size, the phase in ``dtype`` (a np.dtype).

    Returns the rfft bin of every full-spectrum bin k + m P (k <= P/2), shape
    (stride, n_bins); whether it is mirrored (read as a conjugate); the phase
    table (stride, n_bins, 3) of :func:`_fold_spectra`; and, for linear-phase
    filters, their shared phase e^{i pi n (K-1) / L} (else None).
    """
    length = stride * size
    full = np.arange(size // 2 + 1)[None, :] + size * np.arange(stride)[:, None]
    mirrored = full > length // 2
    bins = np.where(mirrored, length - full, full)
    phase = np.zeros(bins.shape + (3,))
    phase[..., 2] = np.where(mirrored, -1.0, 1.0)
    shared = None
    if symmetric:
        # e^{i pi n (K-1) / L}, the exponent reduced mod 2L in integers first.
        shared = np.exp(1j * np.pi * ((full * (kernel_size - 1)) % (2 * length)) / length)
        phase[..., 0], phase[..., 1] = shared.real, shared.imag
    else:
        phase[..., 0] = 1.0
    phase = phase.astype(dtype)
    for table in (bins, mirrored, phase):
        table.setflags(write=False)  # cached: shared by every call
    return bins, mirrored, phase, shared


def fft_factors(filters, stride, size, symmetric):
    """The filter factors of the FFT method for blocks of L = stride * size.

    Parameters
    ----------
    filters : np.ndarray, shape (n_filters, kernel_size)
    stride, size : int
        The stride and the block length P of the decimated output.
    symmetric : bool
        The filters equal their time reversal (linear phase).

    Returns
    -------
    np.ndarray, shape (P // 2 + 1, n_filters, stride) or (P // 2 + 1, n_filters, 2 * stride)
        Divided by ``stride``, in the filters' dtype: for linear-phase filters
        the real amplitudes A with conj(G) = A e^{i pi n (K-1) / L}, else
        [Re | Im] of conj(G), G being the filters' L-point spectra at the
        folded bins (conjugated where mirrored). :class:`modspec.nn` computes
        the same factors in torch, differentiably.
    """
    bins, mirrored, _, shared = _fold_tables(stride, size, filters.shape[1], symmetric, filters.dtype)
    # In the input's precision: float32 spectra add ~1e-7 relative error, float64 ones ~1e-16.
    G = scipy.fft.rfft(filters, n=stride * size, workers=n_threads())[:, bins]
    G[:, mirrored] = G[:, mirrored].conj()
    if symmetric:
        factors = (G * shared).real
    else:
        C = G.conj()
        factors = np.concatenate([C.real, C.imag], axis=1)
    return np.ascontiguousarray(factors.transpose(2, 0, 1) / stride, dtype=filters.dtype)


class _FFTGeometry:
    """Blocks of the FFT method: L = stride * size samples, ``n_valid`` outputs each, in chunks."""

    def __init__(self, n_out, n_filters, kernel_size, stride, size, symmetric, rotation):
        self.stride, self.size, self.kernel_size = stride, size, kernel_size
        self.symmetric, self.rotation = symmetric, rotation
        self.length = stride * size
        self.n_valid = (self.length - kernel_size) // stride + 1
        self.blocks_per_row = -(-n_out // self.n_valid)
        self.n_bins = size // 2 + 1
        self.rows = rows = 2 * stride if rotation else stride  # rows of the fold: [Y] or [Y; iY]
        # At least 8 blocks (16 columns in the fold's products) unless that passes _MAX_PRODUCT.
        chunk = max(8, _FFT_CHUNK_SAMPLES // (n_filters * size))
        self.chunk = max(1, min(chunk, _MAX_PRODUCT // (2 * n_filters * rows)))

    def spectra(self, x, g0, n, frames, y_buffer, left=0):
        """The folded spectra y (n_bins, rows, 2 n) of the n blocks from global block g0 (rows padded by ``left``)."""
        bins, _, phase, _ = _fold_tables(self.stride, self.size, self.kernel_size, self.symmetric, x.dtype)
        _gather_blocks(x, self.stride * self.n_valid, self.blocks_per_row, g0, left, frames[:n])
        X = scipy.fft.rfft(frames[:n], axis=-1, workers=1)
        y = y_buffer[: self.n_bins * self.rows * 2 * n].reshape(self.n_bins, self.rows, 2 * n)
        _fold_spectra(X, bins, phase, self.rotation, y)
        return y


def fft_forward(x, factors, stride, size, kernel_size, *, left=0, right=0, rectify=None, out=None):
    """Strided overlap-save correlation of every row of ``x`` with filters given by their FFT factors.

    Parameters
    ----------
    x : np.ndarray, shape (n_rows, n_samples), C-contiguous float32 or float64
    factors : np.ndarray
        :func:`fft_factors` of the filters, same dtype as ``x``.
    stride, size, kernel_size : int
        Stride, block length P of the decimated output, taps per filter.
    left, right : int >= 0
        Zeros before and after every row (read as such, never copied).
    rectify : {None, 'relu', 'abs', 'square'}
    out : np.ndarray, shape (n_rows, n_filters, n_out), optional
        Written in place; allocated when None.

    Returns
    -------
    np.ndarray, shape (n_rows, n_filters, n_out)
        ``n_out = (left + n_samples + right - kernel_size) // stride + 1``.
    """
    n_bins, n_filters, rows = factors.shape
    n_rows, n_samples = x.shape
    n_out = (left + n_samples + right - kernel_size) // stride + 1
    if out is None:
        out = np.empty((n_rows, n_filters, n_out), dtype=x.dtype)
    symmetric = rows == stride
    geometry = _FFTGeometry(n_out, n_filters, kernel_size, stride, size, symmetric, not symmetric)
    complex_dtype = np.result_type(x.dtype, np.complex64)
    chunk, code = geometry.chunk, _RECTIFY_CODES[rectify]

    def run(lo, hi):
        frames = np.empty((chunk, geometry.length), dtype=x.dtype)
        # Flat buffers: the last, shorter chunk takes contiguous leading parts.
        y_buffer = np.empty(n_bins * rows * 2 * chunk, dtype=x.dtype)
        Z_buffer = np.empty(n_bins * n_filters * chunk, dtype=complex_dtype)
        for g0 in range(lo, hi, chunk):
            n = min(chunk, hi - g0)
            y = geometry.spectra(x, g0, n, frames, y_buffer, left)
            Z = Z_buffer[: n_bins * n_filters * n].reshape(n_bins, n_filters, n)
            _fold_matmul(factors, y, Z.view(x.dtype))
            # Block-major output (pocketfft copies lines either way): contiguous runs to scatter.
            decimated = scipy.fft.irfft(Z.transpose(2, 1, 0), n=size, axis=-1, workers=1)
            _scatter_blocks(decimated, geometry.blocks_per_row, geometry.n_valid, g0, code, out)

    _run_tasks(run, n_rows * geometry.blocks_per_row, chunk)
    return out


def irfft_adjoint_weights(size, dtype):
    """Weights of the adjoint of a ``size``-point inverse real FFT, per rfft bin: 1/P at DC and Nyquist, else 2/P."""
    weights = np.full(size // 2 + 1, 2.0 / size, dtype=dtype)
    weights[0] = 1.0 / size
    if size % 2 == 0:
        weights[-1] = 1.0 / size
    return weights


@numba.njit(cache=True, nogil=True)
def _gather_grad_blocks(grad, blocks_per_row, n_valid, g0, blocks):  # pragma: no cover
    """blocks[i, f, t] = grad[r, f, b * n_valid + t] for the outputs of global block g0 + i, zero after them."""
    n_out = grad.shape[2]
    size = blocks.shape[2]
    for i in range(blocks.shape[0]):
        r = (g0 + i) // blocks_per_row
        t0 = (g0 + i - r * blocks_per_row) * n_valid
        n = min(n_valid, n_out - t0)
        for f in range(blocks.shape[1]):
            for t in range(n):
                blocks[i, f, t] = grad[r, f, _u(t0 + t)]
            for t in range(n, size):
                blocks[i, f, t] = 0.0


@numba.njit(cache=True, nogil=True)
def _factor_grad_product(G, weights, y, g_pairs, acc):  # pragma: no cover
    """acc[k] += y[k] @ (weights[k] G[:, :, k])^T, G's complex numbers as (re, im) rows of ``g_pairs``.

    ``G`` (n_blocks, n_filters, n_bins) is the rfft of the output gradient's
    blocks; ``acc`` is (n_bins, rows, n_filters), the transposed gradient of the
    factors.
    """
    n_blocks, n_filters, n_bins = G.shape
    tmp = np.empty((acc.shape[1], n_filters), dtype=acc.dtype)
    for k in range(n_bins):
        w = weights[k]
        for i in range(n_blocks):
            for f in range(n_filters):
                v = G[i, f, k]
                g_pairs[2 * i, f] = w * v.real
                g_pairs[2 * i + 1, f] = w * v.imag
        np.dot(y[k], g_pairs, tmp)
        acc[k] += tmp


def fft_factor_grad(x, grad, factors_shape, stride, size, kernel_size, symmetric):
    """Gradient of a sum of ``fft_forward(x, factors, ...) * grad`` with respect to the factors.

    The adjoint of the forward pass, block by block: the output gradient's
    blocks are zero-padded to P and transformed (the adjoint of the P-point
    inverse real FFT, bins weighted 1/P at DC and Nyquist, else 2/P), and for
    every bin the factors' gradient is that spectrum times the folded block
    spectra, accumulated over blocks.

    Parameters
    ----------
    x : np.ndarray, shape (n_rows, n_samples), C-contiguous float32 or float64
    grad : np.ndarray, shape (n_rows, n_filters, n_out), same dtype, any strides
    factors_shape : tuple
        (n_bins, n_filters, rows): ``rows`` = 2 * stride gives the gradient of
        [Re | Im] of conj(G) (for linear-phase filters, of which the forward
        pass reads only the real part: the gradient toward filters without
        linear phase); ``rows`` = stride the real part's alone.
    stride, size, kernel_size : int
        As :func:`fft_forward`.
    symmetric : bool
        The factors are a linear-phase bank's (their phase e^{i pi n (K-1) / L}
        is applied to the block spectra).

    Returns
    -------
    np.ndarray, shape ``factors_shape``, dtype of ``x``
    """
    n_bins, n_filters, rows = factors_shape
    n_rows = x.shape[0]
    geometry = _FFTGeometry(grad.shape[2], n_filters, kernel_size, stride, size, symmetric, rows == 2 * stride)
    weights = irfft_adjoint_weights(size, x.dtype)
    chunk = geometry.chunk
    partial = []

    def run(lo, hi):
        frames = np.empty((chunk, geometry.length), dtype=x.dtype)
        y_buffer = np.empty(n_bins * rows * 2 * chunk, dtype=x.dtype)
        blocks = np.empty((chunk, n_filters, size), dtype=x.dtype)
        g_pairs = np.empty((2 * chunk, n_filters), dtype=x.dtype)
        acc = np.zeros((n_bins, rows, n_filters), dtype=x.dtype)
        for g0 in range(lo, hi, chunk):
            n = min(chunk, hi - g0)
            y = geometry.spectra(x, g0, n, frames, y_buffer)
            _gather_grad_blocks(grad, geometry.blocks_per_row, geometry.n_valid, g0, blocks[:n])
            G = scipy.fft.rfft(blocks[:n], axis=-1, workers=1)
            _factor_grad_product(G, weights, y, g_pairs[: 2 * n], acc)
        partial.append(acc)  # list.append is atomic

    _run_tasks(run, n_rows * geometry.blocks_per_row, chunk)
    return np.ascontiguousarray(np.sum(partial, axis=0).transpose(0, 2, 1))


def correlate(x, filters, stride=1, *, left=0, right=0, rectify=None, method=None):
    """Strided cross-correlation of every row with every filter (torch's conv1d).

    ``out[r, f, t] = sum_j xp[r, t * stride + j] * filters[f, j]``, ``xp`` the
    rows with ``left`` and ``right`` zeros around them.

    Parameters
    ----------
    x : np.ndarray, shape (n_rows, n_samples), C-contiguous float32 or float64
    filters : np.ndarray, shape (n_filters, kernel_size), same dtype, kernel_size <= padded length
    stride : int > 0
    left, right : int >= 0
        Zero padding of every row (the FFT method reads it without a copy).
    rectify : {None, 'relu', 'abs', 'square'}
        Applied to the output.
    method : {None, 'direct', 'fft'}
        Private, for tests and benchmarks: force a method. None picks the
        cheaper one by a cost model.

    Returns
    -------
    np.ndarray, shape (n_rows, n_filters, (left + n_samples + right - kernel_size) // stride + 1)

    Notes
    -----
    'direct' multiplies frames by the taps, 'fft' is strided overlap-save (see
    the comment above this section); filters that equal their time reversal
    exactly (sinc band-passes) take paths with half the multiply-adds in both.
    Chunks of rows and blocks run on the module's thread pool.
    """
    n_rows, n_samples = x.shape
    n_filters, kernel_size = filters.shape
    n_out = (left + n_samples + right - kernel_size) // stride + 1
    x = np.ascontiguousarray(x)
    filters = np.ascontiguousarray(filters, dtype=x.dtype)
    symmetric = _is_symmetric(filters)
    fft_cost, size = _fft_plan(n_rows, n_out, n_filters, kernel_size, stride, symmetric)
    if method is None:
        direct_cost = _direct_cost(n_rows, n_out, n_filters, kernel_size, stride, symmetric)
        method = "direct" if direct_cost <= fft_cost else "fft"
    out = np.empty((n_rows, n_filters, n_out), dtype=x.dtype)
    code = _RECTIFY_CODES[rectify]
    if method == "fft":
        factors = fft_factors(filters, stride, size, symmetric)
        return fft_forward(x, factors, stride, size, kernel_size, left=left, right=right, rectify=rectify, out=out)
    if left or right:  # the direct kernels read whole frames: pad once
        x = np.pad(x, ((0, 0), (left, right)))
    if stride >= kernel_size and not symmetric:
        # Frames do not overlap: read them in place (folding symmetric ones is faster still).
        chunk = max(1, _MAX_PRODUCT // (kernel_size * n_filters))

        def run(lo, hi):
            _correlate_strided(x, filters, stride, code, chunk, lo, hi, out)

        _run_tasks(run, n_rows, max(1, 4096 // n_out))  # some 4096 frames per range at least
        return out
    width = (kernel_size + 1) // 2 if symmetric else kernel_size
    taps_t = np.ascontiguousarray(filters[:, :width].T)
    chunk = max(8, min(256, _MAX_PRODUCT // (width * n_filters)))

    def run(lo, hi):
        _correlate_direct(x, taps_t, stride, kernel_size, symmetric, code, chunk, lo, hi, out)

    _run_tasks(run, n_rows * n_out, chunk)
    return out


def all_kernels():
    """The numba dispatchers of this module (to check what has been compiled)."""
    return [obj for obj in globals().values() if isinstance(obj, numba.core.registry.CPUDispatcher)]
