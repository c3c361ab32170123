"""The GPU pipelines of the scalogram, the time scattering and jTFS, on CuPy arrays.

The same plans as the CPU pipelines (:mod:`modspec.kernels.cpu_scattering`,
:mod:`modspec.kernels.cpu_jtfs`: filter arcs, low-pass taps, frequential
maps, all designed in NumPy and moved to the device once), run with cuFFT
(``cupy.fft``), cuBLAS (``cupy.matmul``) and the numba.cuda kernels of
:mod:`modspec.kernels.gpu`. What differs from the CPU is the grouping of the
work: instead of small tasks sized for a core's cache, every step runs on as
many rows at once as a memory budget allows (:data:`CHUNK_POINTS` complex
points per buffer), so that each kernel launch and each batched FFT fills
the GPU.

- Time scattering and scalogram: every (signal, first-order wavelet) row of
  one alias-free rate is folded (``fold``), inverse-transformed and reduced
  together; the modulus of a row with second-order children is
  transformed once and feeds its low-pass and all of its children; the
  final low-pass is the decimating ``modulus_lowpass``, which writes each
  row straight to its (signal, path) in the output.
- jTFS: first-order wavelets are grouped by their subsampling level; the
  second-order block of each ``n2`` is one batched inverse FFT per level,
  then one batched matrix product with the stacked frequential maps, then
  ``modulus_lowpass`` over every (signal, map row), then the frequential
  averaging as another product.

Everything here is private to :mod:`modspec.features.scattering`, which
validates and dispatches CuPy arrays here; importing this module imports
neither CuPy nor numba.cuda.
"""

import numpy as np

from modspec.kernels import gpu

__all__ = ["CHUNK_POINTS", "jtfs", "scalogram", "scattering"]

#: Complex points per working buffer (rows x length): 256 MiB in complex64.
#: The row chunks of every step are sized so that no buffer exceeds it.
CHUNK_POINTS = 1 << 25


def _rows_per_chunk(length):
    return max(1, CHUNK_POINTS // max(1, length))


def _device(array, like):
    """A plan's array on the device of ``like``, moved once (plans are memoised and never changed)."""
    return gpu._to_device(array, like, cache=True)


def _indices(values):
    """Row indices on the device (the current one: features run with their input's device current)."""
    return gpu._cupy().asarray(np.asarray(values, dtype=np.int64))


def _reflect_padded(x, geometry):
    """Every row of ``x`` (B, n_samples) reflect-padded to (B, geometry.n_padded), ``geometry.pad_left`` on the left."""
    cupy = gpu._cupy()
    out = cupy.empty((x.shape[0], geometry.n_padded), dtype=x.dtype)
    gpu.launch(gpu.kernels(x.dtype).reflect_pad, out.size, x, geometry.pad_left, out)
    return out


def _fold(X, length, src, fid, arcs, M, like):
    """(len(src), M) complex: row r is the spectrum X[src[r]] times arc fid[r], folded to M bins."""
    cupy = gpu._cupy()
    Z = cupy.empty((len(src), M), dtype=X.dtype)
    gpu.launch(
        gpu.kernels(arcs.vals.dtype).fold, Z.size, X, length, src, fid,
        _device(arcs.starts, like), _device(arcs.offsets, like), _device(arcs.vals, like), Z,
    )
    return Z


def _modulus_lowpass(U, node, first, b_idx, p_idx, out, like):
    """out[b_idx[r], p_idx[r]] = the decimating low-pass of |U[r]|, kept frames only.

    ``node`` holds the low-pass as ``taps``, ``right`` and ``step`` (a
    scattering plan's node, or a jTFS second-order path).
    """
    gpu.launch(
        gpu.kernels(out.dtype).modulus_lowpass, U.shape[0] * out.shape[2], U, _device(node.taps, like),
        node.right, node.step, first, b_idx, p_idx, out,
    )


def _fitting_rows(x, nbytes, what):
    """``x`` as contiguous rows, after checking that ``nbytes`` (the call's peak estimate) fit on its device."""
    gpu.check_memory(int(nbytes) + x.shape[0] * x.shape[1] * x.dtype.itemsize, x, what=what, n_batch=x.shape[0])
    return gpu._cupy().ascontiguousarray(x)


# --------------------------------------------------------------------------- time scattering


def scattering(x, plan):
    """Time scattering of every row of ``x`` (n_batch, n_samples) on the GPU.

    Parameters
    ----------
    x : cupy.ndarray, shape (n_batch, n_samples), float32 or float64
    plan : modspec.kernels.cpu_scattering.ScatteringPlan

    Returns
    -------
    cupy.ndarray, shape (n_batch, plan.n_paths, plan.count), dtype of ``x``
        Paths in kymatio's order (as the CPU pipeline).
    """
    cupy = gpu._cupy()
    B = x.shape[0]
    Np = plan.geometry.n_padded
    real, cplx = plan.dtype.itemsize, plan.cdtype.itemsize
    # The padded signals, their spectra, the output and about five working buffers of one chunk.
    work = 5 * min(CHUNK_POINTS, B * len(plan.k1) * Np) * cplx
    x = _fitting_rows(x, B * Np * (real + cplx) + B * plan.n_paths * plan.count * real + work, "scattering")
    out = cupy.empty((B, plan.n_paths, plan.count), dtype=x.dtype)
    X = cupy.fft.rfft(_reflect_padded(x, plan.geometry), axis=-1)
    first, count = plan.first, plan.count

    # Order 0.
    batch = _indices(np.arange(B))
    zeros = _indices(np.zeros(B))
    Z0 = _fold(X, Np, batch, zeros, plan.phi0, plan.M0, x)
    S0 = cupy.fft.irfft(Z0[:, : plan.M0 // 2 + 1], n=plan.M0, axis=-1)
    out[:, 0] = S0[:, first : first + count]

    for (k1, kids), n1s in plan.groups:
        # Rows (signal, wavelet) of one rate, signal-fastest as on the CPU.
        b_rows = np.tile(np.arange(B), len(n1s))
        n1_rows = np.repeat(np.asarray(n1s, dtype=np.int64), B)
        size = _rows_per_chunk(Np >> k1)
        for lo in range(0, b_rows.size, size):
            _first_order(plan, X, k1, kids, b_rows[lo : lo + size], n1_rows[lo : lo + size], out, x)
    return out


def _first_order(plan, X, k1, kids, b_rows, n1_rows, out, like):
    """|x * psi1| for a chunk of rows, its low-pass (order 1) and all of its second-order paths."""
    cupy = gpu._cupy()
    Np = plan.geometry.n_padded
    M1 = Np >> k1
    g = b_rows.size
    b_idx = _indices(b_rows)
    p1_idx = _indices(1 + n1_rows)
    U = cupy.fft.ifft(_fold(X, Np, b_idx, _indices(n1_rows), plan.psi1, M1, like), axis=-1)
    node = plan.s1[k1]
    if not kids:
        _modulus_lowpass(U, node, plan.first, b_idx, p1_idx, out, like)
        return
    A = cupy.empty((g, M1), dtype=plan.dtype)
    gpu.launch(gpu.kernels(plan.dtype).modulus, A.size, U, A)
    del U
    H = cupy.fft.rfft(A, axis=-1)
    del A
    local = _indices(np.arange(g))
    zeros = _indices(np.zeros(g))
    Zs = _fold(H, M1, local, zeros, node.phi_arc, node.phi_M, like)
    S = cupy.fft.irfft(Zs[:, : node.phi_M // 2 + 1], n=node.phi_M, axis=-1)
    out[b_idx, p1_idx] = S[:, plan.first : plan.first + plan.count]
    for n2 in kids:
        child = plan.s2[k1, n2]
        p2_idx = _indices([plan.path2[a, n2] for a in n1_rows.tolist()])
        U2 = cupy.fft.ifft(_fold(H, M1, local, zeros, child.arc, child.M, like), axis=-1)
        _modulus_lowpass(U2, child, plan.first, b_idx, p2_idx, out, like)


def scalogram(x, plan):
    """|x * psi1| of every row of ``x`` (n_batch, n_samples) on the GPU, every ``2**plan.k`` samples.

    Returns
    -------
    cupy.ndarray, shape (n_batch, plan.n_filters, plan.count), dtype of ``x``
    """
    cupy = gpu._cupy()
    B = x.shape[0]
    Np = plan.geometry.n_padded
    M = Np >> plan.k
    real, cplx = plan.dtype.itemsize, plan.cdtype.itemsize
    work = 3 * min(CHUNK_POINTS, B * plan.n_filters * M) * cplx
    x = _fitting_rows(x, B * Np * (real + cplx) + B * plan.n_filters * plan.count * real + work, "scalogram")
    out = cupy.empty((B, plan.n_filters, plan.count), dtype=x.dtype)
    X = cupy.fft.rfft(_reflect_padded(x, plan.geometry), axis=-1)
    b_rows = np.tile(np.arange(B), plan.n_filters)
    n_rows = np.repeat(np.arange(plan.n_filters), B)
    size = _rows_per_chunk(M)
    for lo in range(0, b_rows.size, size):
        b_idx = _indices(b_rows[lo : lo + size])
        n_idx = _indices(n_rows[lo : lo + size])
        U = cupy.fft.ifft(_fold(X, Np, b_idx, n_idx, plan.psi1, M, x), axis=-1)
        A = cupy.empty(U.shape, dtype=plan.dtype)
        gpu.launch(gpu.kernels(plan.dtype).modulus, A.size, U, A)
        out[b_idx, n_idx] = A[:, plan.first : plan.first + plan.count]
    return out


# --------------------------------------------------------------------------- jTFS


def _subsample_fourier(X, k):
    """Spectrum (..., n) of the signal subsampled by ``2**k``: the mean of the periods (as the CPU)."""
    if k == 0:
        return X
    n = X.shape[-1]
    return X.reshape(X.shape[:-1] + (2**k, n >> k)).mean(axis=-2)


def _levels(plan):
    """First-order wavelets grouped by subsampling level: [(k1, n1 array)], each a run of consecutive n1."""
    k1 = np.asarray(plan.k1)
    levels = [(int(k), np.flatnonzero(k1 == k)) for k in sorted(set(k1.tolist()))]
    # Scales grow with n1, so each level is a run: blocks of U1 are slices, not gathers.
    assert all(n1s[-1] - n1s[0] + 1 == n1s.size for _, n1s in levels)
    return levels


def jtfs(x, plan):
    """Joint time-frequency scattering of real signals ``x`` (B, n_samples) on the GPU.

    Parameters
    ----------
    x : cupy.ndarray, shape (B, n_samples), float32 or float64
    plan : modspec.kernels.cpu_jtfs.JTFSPlan

    Returns
    -------
    S0 : cupy.ndarray, shape (B, n_frames)
    paths : list of (order, n2, n_fr, coefficients (B, n_rows, n_frames))
        In kymatio's order, as :func:`modspec.kernels.cpu_jtfs.jtfs`.
    """
    cupy = gpu._cupy()
    B = x.shape[0]
    Np = plan.n_padded
    dtype = plan.dtype
    cdtype = plan.first.maps.dtype
    s = plan.log2_stride
    frames = plan.frames
    count = frames.stop - frames.start
    levels = _levels(plan)
    # Spectra of the padded signals and the kept first-order moduli's spectra, plus working buffers.
    kept = sum(n1s.size * (Np >> k1) for k1, n1s in levels)
    work = 4 * min(CHUNK_POINTS, B * plan.n1_count * Np)
    x = _fitting_rows(x, (B * (2 * Np + kept) + work) * cdtype.itemsize, "jtfs")

    x_pad = _reflect_padded(x, plan)
    X = cupy.fft.fft(x_pad, axis=-1)
    del x_pad
    S0 = cupy.fft.ifft(_subsample_fourier(X * _device(plan.phi_levels[0], x), s), axis=-1).real[:, frames]

    # Order 1, one subsampling level at a time: U1_hat[k1] holds (B, n1s, Np >> k1).
    psi1 = _device(plan.psi1_f, x)
    U1_hat = {}
    S1 = cupy.empty((B, plan.n1_count, count), dtype=dtype)
    for k1, n1s in levels:
        U1_hat[k1] = cupy.empty((B, n1s.size, Np >> k1), dtype=cdtype)
        size = max(1, _rows_per_chunk(Np) // B)
        for lo in range(0, n1s.size, size):
            chunk = n1s[lo : lo + size]
            sub = _subsample_fourier(X[:, None, :] * psi1[_indices(chunk)][None], k1)
            U = cupy.abs(cupy.fft.ifft(sub, axis=-1))
            U_hat = cupy.fft.fft(U, axis=-1)
            U1_hat[k1][:, lo : lo + chunk.size] = U_hat
            S1_hat = _subsample_fourier(U_hat * _device(plan.phi_levels[k1], x), s - k1)
            S1[:, chunk[0] : chunk[-1] + 1] = cupy.fft.ifft(S1_hat, axis=-1).real[..., frames]
    del X

    paths = []
    Y = cupy.abs(cupy.matmul(_device(plan.first.maps, x), S1.astype(cdtype)))
    for index, coef in zip(plan.first.n_fr, _outputs(plan.first, Y.astype(dtype, copy=False), x)):
        paths.append((1, None, index, coef))
    for second in plan.second:
        coefs = _second_order(plan, second, levels, U1_hat, B, x)
        paths += [(2, second.n2, index, coef) for index, coef in zip(second.block.n_fr, coefs)]
    return S0.astype(dtype, copy=False), paths


def _outputs(block, Y, like):
    """Each filter's output rows (B, n_out, t) from the stacked moduli ``Y`` (B, R, t)."""
    cupy = gpu._cupy()
    return [cupy.matmul(_device(A, like), Y[:, rows]) for rows, A in block.outputs]


def _second_order(plan, second, levels, U1_hat, B, like):
    """|Y2 * psi_fr| averaged in time (kept frames only), then in frequency, for one n2 and every signal."""
    cupy = gpu._cupy()
    L = plan.n_padded >> second.j2
    m = second.n1.size
    # Y2 (B, m, L): the second-order wavelet on every U1[n1], n1 < m, one batched inverse FFT per level.
    Y2 = cupy.empty((B, m, L), dtype=U1_hat[levels[0][0]].dtype)
    for k1, n1s in levels:
        used = n1s[n1s < m]
        if used.size == 0:
            continue
        psi = _device(second.psi2_levels[used[0]], like)
        k2 = second.k2[used[0]]
        Y2[:, used[0] : used[-1] + 1] = cupy.fft.ifft(
            _subsample_fourier(U1_hat[k1][:, : used.size] * psi, k2), axis=-1
        )
    maps = _device(second.block.maps, like)
    R = maps.shape[0]
    count = plan.frames.stop - plan.frames.start
    outputs = [[] for _ in second.block.outputs]
    size = max(1, _rows_per_chunk(R * L))
    for lo in range(0, B, size):
        chunk = min(size, B - lo)
        Y = cupy.matmul(maps, Y2[lo : lo + chunk]).reshape(chunk * R, L)
        S = cupy.empty((chunk, R, count), dtype=plan.dtype)
        b_idx = _indices(np.repeat(np.arange(chunk), R))
        p_idx = _indices(np.tile(np.arange(R), chunk))
        _modulus_lowpass(Y, second, plan.frames.start, b_idx, p_idx, S, like)
        for i, coef in enumerate(_outputs(second.block, S, like)):
            outputs[i].append(coef)
    return [parts[0] if len(parts) == 1 else cupy.concatenate(parts) for parts in outputs]

