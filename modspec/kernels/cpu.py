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

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
import scipy.fft

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
    futures = [_thread_pool().submit(run, tasks[lo:hi]) for lo, hi in zip(bounds[:-1], bounds[1:])]
    for future in futures:
        future.result()
    return out


# --------------------------------------------------------------------------- strided correlation

_RECTIFIERS = (None, "relu", "abs", "square")


def correlate(x, filters, stride=1, *, rectify=None):
    """Valid, strided cross-correlation of every row with every filter (torch's conv1d).

    ``out[r, f, t] = sum_j x[r, t * stride + j] * filters[f, j]``.

    Parameters
    ----------
    x : np.ndarray, shape (n_rows, n_samples), C-contiguous float32 or float64
    filters : np.ndarray, shape (n_filters, kernel_size), same dtype, kernel_size <= n_samples
    stride : int > 0
    rectify : {None, 'relu', 'abs', 'square'}
        Applied to the output.

    Returns
    -------
    np.ndarray, shape (n_rows, n_filters, (n_samples - kernel_size) // stride + 1)
    """
    # Reference implementation (sliding windows @ filters); the fast kernels replace it.
    kernel_size = filters.shape[1]
    frames = np.lib.stride_tricks.sliding_window_view(x, kernel_size, axis=-1)[:, ::stride]
    out = np.ascontiguousarray(np.matmul(frames, filters.T).transpose(0, 2, 1))
    if rectify == "relu":
        np.maximum(out, 0, out=out)
    elif rectify == "abs":
        np.abs(out, out=out)
    elif rectify == "square":
        np.square(out, out=out)
    return out


def all_kernels():
    """The numba dispatchers of this module (to check what has been compiled)."""
    return [obj for obj in globals().values() if isinstance(obj, numba.core.registry.CPUDispatcher)]
