"""Differentiable strided correlation shared by the torch modules.

Two methods, the same as :func:`modspec.kernels.cpu.correlate`'s:

- 'direct': the filters times the frames of every row, one batched matrix
  product (frames that do not overlap are read in place, as a view). Its
  backward is two more products and ``unfold``'s backward, much faster than
  ``conv1d``'s backward when the stride is large.
- 'fft': overlap-save that exploits the stride. With blocks of
  L = stride * P samples, the decimated output of a block is the P-point
  inverse FFT of the *folded* product spectrum
  ``Zdec[k] = 1/stride * sum_{m < stride} X[k + m P] conj(G[k + m P])``
  (bins above L/2 are the conjugates of their mirrors). For every bin k that is
  a matrix product (n_filters x stride) @ (stride x blocks), and the inverse
  FFTs are output-sized. For linear-phase filters conj(G) is a real amplitude
  times a phase shared by all filters: the phase is applied once to X and the
  products are real, half the work of complex ones.

Both are :class:`torch.autograd.Function` s with hand-written backward passes.
The FFT method's input gradient is the output gradient, upsampled by the
stride, convolved with the filters and summed over them: the spectrum of the
upsampled gradient is the short FFT of the gradient read cyclically, so a row
costs one short FFT per filter and one inverse FFT (see :func:`_input_grad`).
On CPU they work in chunks of rows (or of blocks) whose intermediates stay in
cache and in memory that the allocator reuses: torch does not cache CPU memory,
and fresh pages for large intermediates cost about as much as the work on them.
Autograd through the plain operations would also keep several output-sized
tensors. The backward passes give exact gradients for any filters, including
the part toward asymmetric filters for symmetric ones (which the real-product
forward pass never sees). On CUDA the whole batch is one chunk.
"""

import contextlib
import functools
import math

import numpy as np
import torch

from modspec.kernels import cpu

# Bytes of the largest intermediate of a chunk on CPU: about L2-sized. Smaller
# chunks mean more operations, each with a fixed cost (and a parallel region).
_CHUNK_BYTES = 4 << 20
# Cost model of the method choice: ns of forward plus backward (filter gradient),
# fitted on the 2-core benchmark machine. Direct: per multiply-add, per frame
# sample copied (overlapping frames), per output sample, per row. FFT: per block
# (x L log2 L: its spectrum; x L n_filters: the fold; x n_filters P log2 P: the
# output-sized FFTs), per chunk of blocks, and per filter (x L log2 L: its
# spectrum).
_COST_MAC = 0.064
_COST_COPY = 0.32
_COST_OUT = 1.8
_COST_ROW = 9e3
_COST_BLOCK_FFT = 0.31
_COST_FOLD = 0.2
_COST_OUT_FFT = 0.42
_COST_CHUNK = 750e3
_COST_FILTER_FFT = 1.6
_MAX_FFT_SIZE = 2048
# Block lengths P of the decimated output: 2^a and 3 * 2^a (torch's CPU FFTs are up
# to 2x slower per point at other sizes).
_FFT_SIZES = sorted(n for a in range(1, 12) for n in (2**a, 3 * 2**a) if n <= _MAX_FFT_SIZE)


# The method every correlate() call uses inside ``forced_method`` (None: chosen by the cost model).
_forced = None


@contextlib.contextmanager
def forced_method(method):
    """Make every :func:`correlate` call in the block use ``method`` ('direct' or 'fft').

    For benchmarks and tests: the cost model is fitted on CPU, and on CUDA
    ``benchmarks.compare_gpu`` times both methods through the modules with it.
    """
    global _forced
    if method not in ("direct", "fft"):
        raise ValueError(f"method={method!r}: 'direct' or 'fft'")
    previous, _forced = _forced, method
    try:
        yield
    finally:
        _forced = previous


def correlate(x, filters, stride=1, *, method=None):
    """Valid, strided cross-correlation of every row of ``x`` with every filter.

    ``out[r, f, t] = sum_j x[r, t * stride + j] * filters[f, j]``, as
    ``torch.nn.functional.conv1d(x[:, None], filters[:, None], stride=stride)``.

    Parameters
    ----------
    x : torch.Tensor, shape (n_rows, n_samples)
    filters : torch.Tensor, shape (n_filters, kernel_size), same dtype and device
    stride : int > 0
    method : {None, 'direct', 'fft'}
        Private, for tests and benchmarks: force a method. None picks the
        cheaper one by a cost model (or the method of :func:`forced_method`).

    Returns
    -------
    torch.Tensor, shape (n_rows, n_filters, (n_samples - kernel_size) // stride + 1)
        Contiguous; differentiable with respect to ``x`` and ``filters``.

    Notes
    -----
    See the module docstring for the methods. Filters that equal their time
    reversal exactly take the FFT method's real-product path; checking that
    reads the filters (a device synchronisation on CUDA). Works on CPU and
    CUDA tensors, float32 and float64; the output has the input's dtype.
    """
    n_rows, n_samples = x.shape
    n_filters, kernel_size = filters.shape
    n_out = (n_samples - kernel_size) // stride + 1
    symmetric = bool(torch.equal(filters, filters.flip(-1)))
    method = _forced if method is None else method
    # Rows without gradient on CPU (a first layer on audio) run the FFT method on the numba
    # kernels, with their own cost model and plan.
    kernel = _kernel_path(x)
    if kernel:
        fft_cost, size = cpu._fft_plan(n_rows, n_out, n_filters, kernel_size, stride, symmetric)
    else:
        fft_cost, size = _fft_plan(n_rows, n_out, n_filters, kernel_size, stride, symmetric, x.element_size())
    if method is None:
        if kernel:
            direct_cost = cpu._direct_cost(n_rows, n_out, n_filters, kernel_size, stride, symmetric)
        else:
            direct_cost = _direct_cost(n_rows, n_out, n_filters, kernel_size, stride)
        method = "direct" if direct_cost <= fft_cost else "fft"
    if method == "direct":
        # Per row: its frames when they overlap (the products copy them), else the filter
        # gradient's (filters x K) term.
        row_bytes = x.element_size() * kernel_size * (n_out if stride < kernel_size else n_filters)
        rows = n_rows if x.is_cuda else max(1, _CHUNK_BYTES // row_bytes)
        return _Direct.apply(x, filters, stride, rows)
    if kernel:
        tables = _fold_tables(stride, size, kernel_size, symmetric, x.device)
        C = _filter_factors(filters, stride, size, tables)
        return _FFTKernel.apply(x, torch.cat([C.real, C.imag], dim=-1), stride, size, kernel_size, symmetric)
    chunk = 1 << 62 if x.is_cuda else _fft_chunk(n_filters, stride, size, x.element_size())
    plan = _FFTPlan(n_samples, kernel_size, stride, size, symmetric, chunk)
    tables = _fold_tables(stride, size, kernel_size, symmetric, x.device)
    return _FFT.apply(x, _filter_factors(filters, stride, size, tables), plan, tables, filters.detach())


def _kernel_path(x):
    """Whether the FFT method runs on :mod:`modspec.kernels.cpu`: CPU rows that need no gradient."""
    needs_grad = x.requires_grad and torch.is_grad_enabled()
    return x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64) and not needs_grad


def _direct_cost(n_rows, n_out, n_filters, kernel_size, stride):
    """Modelled time (ns) of the direct method."""
    copied = kernel_size if stride < kernel_size else 0
    per_row = n_out * (n_filters * kernel_size * _COST_MAC + copied * _COST_COPY + n_filters * _COST_OUT)
    return n_rows * (per_row + _COST_ROW)


def _fft_chunk(n_filters, stride, size, itemsize):
    """Blocks per chunk on CPU: the complex spectra of a chunk take about _CHUNK_BYTES."""
    return max(1, _CHUNK_BYTES // (2 * itemsize * max(n_filters, 2 * stride) * size))


def _fft_plan(n_rows, n_out, n_filters, kernel_size, stride, symmetric, itemsize=4):
    """(modelled time in ns, P) of the cheapest FFT block length L = stride * P."""
    best = (math.inf, 0)
    fold = _COST_FOLD if symmetric else 2 * _COST_FOLD
    for size in _FFT_SIZES:
        length = stride * size
        if length < kernel_size:
            continue
        n_valid = (length - kernel_size) // stride + 1
        blocks_per_row = -(-n_out // n_valid)
        chunk = _fft_chunk(n_filters, stride, size, itemsize)
        if chunk < blocks_per_row:
            n_chunks = n_rows * -(-blocks_per_row // chunk)
        else:
            n_chunks = -(-n_rows // (chunk // blocks_per_row))
        block = length * (_COST_BLOCK_FFT * math.log2(length) + fold * n_filters)
        block += n_filters * size * math.log2(size) * _COST_OUT_FFT
        cost = n_rows * blocks_per_row * block + n_chunks * _COST_CHUNK
        cost += n_filters * length * math.log2(length) * _COST_FILTER_FFT
        best = min(best, (cost, size))
        if blocks_per_row == 1:
            break  # one block per row: longer blocks only add work
    return best


def _chunks(n_rows, rows):
    """(r0, r1) ranges of ``rows`` rows."""
    return [(r0, min(n_rows, r0 + rows)) for r0 in range(0, n_rows, rows)]


# ---------------------------------------------------------------- direct


class _Direct(torch.autograd.Function):
    """out = filters @ frames^T row by row (batched products), frames being a view of x.

    When the stride is at least the kernel size the frames of a row are a
    matrix with leading dimension ``stride`` and the products read them in
    place; otherwise they are copied, a chunk of rows at a time.
    """

    @staticmethod
    def forward(ctx, x, filters, stride, rows):
        n_rows = x.shape[0]
        n_filters, kernel_size = filters.shape
        n_out = (x.shape[1] - kernel_size) // stride + 1
        out = x.new_empty(n_rows, n_filters, n_out)
        for r0, r1 in _chunks(n_rows, rows):
            frames = x[r0:r1].unfold(-1, kernel_size, stride)  # (rows, n_out, K)
            torch.bmm(filters.expand(r1 - r0, n_filters, kernel_size), frames.transpose(1, 2), out=out[r0:r1])
        ctx.save_for_backward(x, filters)
        ctx.stride, ctx.rows = stride, rows
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        x, filters = ctx.saved_tensors
        stride = ctx.stride
        grad = grad.contiguous()  # e.g. expanded by sum(): products on stride-0 operands go matrix by matrix
        n_rows, n_samples = x.shape
        n_filters, kernel_size = filters.shape
        grad_x = torch.empty_like(x) if ctx.needs_input_grad[0] else None
        grad_filters = torch.zeros_like(filters) if ctx.needs_input_grad[1] else None
        for r0, r1 in _chunks(n_rows, ctx.rows):
            g = grad[r0:r1]  # (rows, filters, n_out)
            if grad_filters is not None:
                frames = x[r0:r1].unfold(-1, kernel_size, stride)
                grad_filters += torch.bmm(g, frames).sum(0)
            if grad_x is not None:
                grad_frames = torch.bmm(g.transpose(1, 2), filters.expand(r1 - r0, n_filters, kernel_size))
                grad_x[r0:r1] = torch.ops.aten.unfold_backward(
                    grad_frames, [r1 - r0, n_samples], 1, kernel_size, stride
                )
        return grad_x, grad_filters, None, None


# ---------------------------------------------------------------- fft


class _FFTPlan:
    """Block geometry of the FFT method: L = stride * size, n_valid outputs per block.

    Work goes in chunks of ``chunk`` blocks: whole rows when a row has fewer
    blocks, else runs of blocks of one row (segments of the signal that overlap
    by L - hop samples).
    """

    def __init__(self, n_samples, kernel_size, stride, size, symmetric, chunk):
        self.stride, self.size, self.symmetric = stride, size, symmetric
        self.n_samples = n_samples
        self.length = stride * size
        self.n_out = (n_samples - kernel_size) // stride + 1
        self.n_valid = (self.length - kernel_size) // stride + 1
        self.hop = stride * self.n_valid
        self.n_blocks = -(-self.n_out // self.n_valid)
        self.n_bins = size // 2 + 1
        self.chunk = chunk

    def chunks(self, n_rows):
        """(r0, r1, b0, b1): rows r0:r1, blocks b0:b1 of each."""
        if self.chunk >= self.n_blocks:
            rows = self.chunk // self.n_blocks
            return [(r0, min(n_rows, r0 + rows), 0, self.n_blocks) for r0 in range(0, n_rows, rows)]
        blocks = -(-self.n_blocks // -(-self.n_blocks // self.chunk))  # equal runs of at most `chunk`
        starts = range(0, self.n_blocks, blocks)
        return [(r, r + 1, b0, min(self.n_blocks, b0 + blocks)) for r in range(n_rows) for b0 in starts]

    def samples(self, b0, b1):
        """The signal samples that blocks b0:b1 read (the end clipped to the signal)."""
        return b0 * self.hop, min(self.n_samples, (b1 - 1) * self.hop + self.length)


@functools.lru_cache(maxsize=64)
def _fold_tables(stride, size, kernel_size, symmetric, device):
    """:func:`modspec.kernels.cpu._fold_tables` as torch tensors in (k, m) order, and the irfft adjoint's weights.

    Returns the rfft bin of every full-spectrum bin k + m P (k <= P/2),
    whether it is mirrored (read as a conjugate), the phase e^{i pi n (K-1) / L}
    shared by linear-phase filters (1 for others), and the weights of the
    inverse real FFT's adjoint (1/P at DC and Nyquist, else 2/P).
    """
    bins, mirrored, _, shared = cpu._fold_tables(stride, size, kernel_size, symmetric, np.dtype(np.float64))
    bins, mirrored = torch.from_numpy(bins.T.copy()), torch.from_numpy(mirrored.T.copy())
    if symmetric:
        phase = torch.from_numpy(shared.T.copy())
    else:
        phase = torch.ones(bins.shape, dtype=torch.complex128)
    weights = torch.from_numpy(cpu.irfft_adjoint_weights(size, np.float64))
    return tuple(t.to(device) for t in (bins, mirrored, phase, weights))


def _filter_factors(filters, stride, size, tables):
    """C = conj(G e^{i phi}) / stride at the folded bins of blocks of L = stride * size, (bin, filter, m).

    Real for linear-phase filters. Differentiable (torch operations); the FFT
    functions take it as an input.
    """
    bins, mirrored, phase, _ = tables
    G = torch.fft.rfft(filters, n=stride * size, dim=-1)[:, bins]  # (filter, bin, m)
    C = torch.where(mirrored, G, G.conj()) * phase.to(G.dtype).conj() / stride
    return C.permute(1, 0, 2).contiguous()


def _block_spectra(segment, n_blocks, plan, tables):
    """Y[k, m, r * n_blocks + b]: block b of the segment's row r at bin k + m P, times e^{i phi}."""
    bins, mirrored, phase, _ = tables
    pad = (n_blocks - 1) * plan.hop + plan.length - segment.shape[-1]
    blocks = torch.nn.functional.pad(segment, (0, pad)).unfold(-1, plan.length, plan.hop)
    X = torch.fft.rfft(blocks, dim=-1).reshape(-1, plan.length // 2 + 1).t()
    Y = X.index_select(0, bins.reshape(-1)).view(plan.n_bins, plan.stride, -1)
    Y = torch.where(mirrored[..., None], Y.conj(), Y)
    return Y * phase.to(Y.dtype)[..., None] if plan.symmetric else Y


def _pairs(Y):
    """A complex (bins, m, blocks) tensor as real (bins, m, 2 blocks): (re, im) pairs."""
    return torch.view_as_real(Y).reshape(Y.shape[0], Y.shape[1], -1)


def _with_rotation(Y):
    """[Y; iY] along m, as (re, im) pairs: C Y = [Re C | Im C] @ [Y; iY] is one real product."""
    return _pairs(torch.cat([Y, 1j * Y], dim=1))


def _fast_length(n):
    """The smallest 2^a or 3 * 2^a >= n (torch's FFTs are fastest at these lengths)."""
    power = 1 << max(0, (n - 1).bit_length())
    three = 3 << max(0, (-(-n // 3) - 1).bit_length())
    return min(power, three)


def _input_grad(grad, filters, stride, n_samples, chunk_elements):
    """The correlation's gradient with respect to its input, (n_rows, n_samples).

    ``out[f, t] = sum_j x[t s + j] h_f[j]`` has the input gradient
    ``sum_f (u_f * h_f)``, ``u_f`` the output gradient upsampled by the
    stride (``u_f[t s] = g_f[t]``): a linear convolution, done as one product
    of spectra per filter and one inverse FFT per row of length N = s M. The
    spectrum of ``u_f`` repeats every M bins, so it is the FFT of ``g_f``
    itself at M points, read cyclically: no upsampled signal is formed.
    Frames that do not overlap (``s >= K``) take one matrix product instead.
    ``chunk_elements`` bounds the intermediates of a chunk of rows.
    """
    n_rows, n_filters, n_out = grad.shape
    kernel_size = filters.shape[1]
    if stride >= kernel_size:
        # Frames that do not overlap: each is the filters weighted by its outputs' gradients, and
        # the samples between and after them get none (zeroed alone: a full zero fill costs more).
        out = grad.new_empty(n_rows, n_samples)
        frames = out.as_strided((n_rows, n_out, kernel_size), (n_samples, stride, 1))
        out.as_strided((n_rows, n_out - 1, stride - kernel_size), (n_samples, stride, 1), kernel_size).zero_()
        out[:, (n_out - 1) * stride + kernel_size :] = 0
        rows = max(1, chunk_elements // (n_out * kernel_size))
        for r0 in range(0, n_rows, rows):
            g = grad[r0 : r0 + rows].transpose(1, 2).reshape(-1, n_filters)  # (row * frame, filter): one product
            frames[r0 : r0 + rows] = torch.matmul(g, filters).view(-1, n_out, kernel_size)
        return out
    # The convolution spans (n_out - 1) s + K samples: N = s M must hold it (and M the n_out values).
    M = _fast_length(max(n_out, -(-((n_out - 1) * stride + kernel_size) // stride)))
    N = stride * M
    H = torch.fft.rfft(filters, n=N)  # (filter, bin)
    wrap = torch.arange(N // 2 + 1, device=grad.device) % M
    n_kept = min(N, n_samples)
    out = grad.new_empty(n_rows, n_samples)
    out[:, n_kept:] = 0  # samples no output reads
    rows = max(1, chunk_elements // (n_filters * (N // 2 + 1)))
    for r0 in range(0, n_rows, rows):
        g = grad[r0 : r0 + rows]
        U = torch.fft.rfft(g, n=N) if stride == 1 else torch.fft.fft(g, n=M)[..., wrap]
        out[r0 : r0 + rows, :n_kept] = torch.fft.irfft((U * H).sum(dim=1), n=N)[:, :n_kept]
    return out


class _FFT(torch.autograd.Function):
    """Strided overlap-save correlation of x with the filter factors C, chunk by chunk of blocks."""

    @staticmethod
    def forward(ctx, x, C, plan, tables, filters):
        n_rows = x.shape[0]
        n_filters = C.shape[1]
        # Real matrices of the fold: Re C for linear-phase filters, else [Re C | Im C].
        A = C.real.contiguous() if plan.symmetric else torch.cat([C.real, C.imag], dim=-1)
        out = x.new_empty(n_rows, n_filters, plan.n_out)
        # The filter gradient needs the blocks' spectra: keep them (about twice the signal's
        # size) rather than recompute them.
        ctx.spectra = [] if ctx.needs_input_grad[1] else None
        for r0, r1, b0, b1 in plan.chunks(n_rows):
            Y = _block_spectra(x[r0:r1, slice(*plan.samples(b0, b1))], b1 - b0, plan, tables)
            if ctx.spectra is not None:
                ctx.spectra.append(Y)
            Z = torch.matmul(A, _pairs(Y) if plan.symmetric else _with_rotation(Y))
            # Bins last: the inverse FFTs read the transposed spectra in place (faster than a copy first).
            Z = torch.view_as_complex(Z.view(plan.n_bins, -1, 2)).t()
            y = torch.fft.irfft(Z, n=plan.size, dim=-1)  # (filter * row * block, t)
            y = y.view(n_filters, r1 - r0, b1 - b0, plan.size)[..., : plan.n_valid].transpose(0, 1)
            t0, t1 = b0 * plan.n_valid, min(plan.n_out, b1 * plan.n_valid)
            _copy_blocks(y, out[r0:r1, :, t0:t1])
        ctx.save_for_backward(C, filters)
        ctx.plan, ctx.tables = plan, tables
        ctx.n_rows, ctx.chunk_elements = n_rows, (1 << 26) if x.is_cuda else _CHUNK_BYTES // (2 * x.element_size())
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        C, filters = ctx.saved_tensors
        plan, tables = ctx.plan, ctx.tables
        grad_x = grad_C = None
        if ctx.needs_input_grad[0]:
            grad_x = _input_grad(grad, filters, plan.stride, plan.n_samples, ctx.chunk_elements)
        if ctx.needs_input_grad[1]:
            weights = tables[3].to(grad.dtype)[:, None, None]
            n_filters = C.shape[1]
            grad_C = torch.zeros_like(C)
            for (r0, r1, b0, b1), Y in zip(plan.chunks(ctx.n_rows), ctx.spectra):
                # Adjoint of the inverse real FFT and of the block layout.
                t0, t1 = b0 * plan.n_valid, min(plan.n_out, b1 * plan.n_valid)
                g = grad[r0:r1, :, t0:t1].transpose(0, 1)
                g = torch.nn.functional.pad(g, (0, (b1 - b0) * plan.n_valid - (t1 - t0)))
                g = torch.fft.rfft(g.reshape(-1, plan.n_valid), n=plan.size, dim=-1)  # (filter * row * block, bin)
                # To (bin, filter * row * block) for the products, again a 2-D transpose; the adjoint's
                # weights go on the products' (smaller) results.
                gZ = _pairs(g.t().contiguous().view(plan.n_bins, n_filters, -1))
                # dL/dC = gZ Y^H: real part against Y, imaginary part against iY.
                g_C = torch.matmul(gZ, _with_rotation(Y).transpose(1, 2))
                grad_C += torch.complex(g_C[..., : plan.stride], g_C[..., plan.stride :]) * weights
        return grad_x, grad_C, None, None, None


class _FFTKernel(torch.autograd.Function):
    """The FFT method on :mod:`modspec.kernels.cpu` (numba, its thread pool), for rows without gradient.

    The input ``A`` is [Re C | Im C] of :func:`_filter_factors` (a
    differentiable function of the filters), as :func:`modspec.kernels.cpu.fft_factors`
    lays out the factors; for linear-phase filters the forward pass reads
    Re C alone, and the backward pass still gives the gradient of both halves
    (toward asymmetric filters too). The backward pass is the kernels' adjoint,
    :func:`modspec.kernels.cpu.fft_factor_grad`; it reads the output gradient
    with its strides (an expanded gradient, e.g. of ``sum()``, is not copied).
    """

    @staticmethod
    def forward(ctx, x, A, stride, size, kernel_size, symmetric):
        x = x.detach().contiguous()
        factors = A.detach()[..., :stride] if symmetric else A.detach()
        out = cpu.fft_forward(x.numpy(), factors.contiguous().numpy(), stride, size, kernel_size)
        ctx.save_for_backward(x)
        ctx.geometry = (A.shape, stride, size, kernel_size, symmetric)
        return torch.from_numpy(out)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        grad_A = None
        if ctx.needs_input_grad[1]:
            grad_A = torch.from_numpy(cpu.fft_factor_grad(x.numpy(), grad.numpy(), *ctx.geometry))
        return None, grad_A, None, None, None, None


def _copy_blocks(y, out):
    """out[r, f, b * n_valid + t] = y[r, f, b, t]; the last block is cut at the end of ``out``."""
    n_rows, n_filters, n_blocks, n_valid = y.shape
    full = min(n_blocks, out.shape[-1] // n_valid)
    if full:
        out[..., : full * n_valid].view(n_rows, n_filters, full, n_valid).copy_(y[:, :, :full])
    if full < n_blocks:
        out[..., full * n_valid :].copy_(y[:, :, full, : out.shape[-1] - full * n_valid])
