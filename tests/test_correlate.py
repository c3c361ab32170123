"""Strided correlation: the CPU kernels and the torch function agree with a direct sum, and differentiate."""

import numpy as np
import pytest
from conftest import rel_err

from modspec.kernels import cpu

TOL = {np.float32: 1e-5, np.float64: 1e-12}

# (n_rows, n_samples, n_filters, kernel_size, stride)
SHAPES = [
    pytest.param((1, 64, 3, 9, 1), id="stride1-one-row"),
    pytest.param((2, 64, 3, 9, 2), id="kernel>stride"),
    pytest.param((3, 100, 4, 8, 8), id="kernel=stride"),
    pytest.param((2, 100, 2, 7, 16), id="kernel<stride"),
    pytest.param((2, 130, 5, 33, 4), id="odd-kernel"),
    pytest.param((2, 50, 3, 50, 3), id="kernel=n_samples"),
    pytest.param((2, 700, 3, 40, 160), id="stride>>kernel"),
    pytest.param((3, 413, 4, 101, 1), id="modulation-tmnn"),
    pytest.param((2, 2000, 6, 128, 10), id="sinc-like"),
]
METHODS = ["direct", "fft"]


def reference(x, filters, stride):
    """out[r, f, t] = sum_j x[r, t * stride + j] filters[f, j], in float64."""
    frames = np.lib.stride_tricks.sliding_window_view(x.astype(np.float64), filters.shape[1], axis=-1)[:, ::stride]
    return np.matmul(frames, filters.astype(np.float64).T).transpose(0, 2, 1)


def make(rng, shape, dtype, symmetric):
    n_rows, n_samples, n_filters, kernel_size, _ = shape
    x = rng.standard_normal((n_rows, n_samples)).astype(dtype)
    filters = rng.standard_normal((n_filters, kernel_size))
    if symmetric:
        filters = filters + filters[:, ::-1]
        assert np.array_equal(filters, filters[:, ::-1])
    return x, filters.astype(dtype)


# ---------------------------------------------------------------- CPU kernels


@pytest.mark.parametrize("method", METHODS + [None])
@pytest.mark.parametrize("symmetric", [False, True], ids=["asymmetric", "symmetric"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_cpu_matches_direct_sum(rng, shape, dtype, symmetric, method):
    x, filters = make(rng, shape, dtype, symmetric)
    stride = shape[-1]
    out = cpu.correlate(x, filters, stride, method=method)
    expected = reference(x, filters, stride)
    assert out.shape == expected.shape == (shape[0], shape[2], (shape[1] - shape[3]) // stride + 1)
    assert out.dtype == dtype and out.flags.c_contiguous
    assert rel_err(out, expected) <= TOL[dtype]


@pytest.mark.parametrize("method", METHODS + [None])
@pytest.mark.parametrize("symmetric", [False, True], ids=["asymmetric", "symmetric"])
@pytest.mark.parametrize(("shape", "left", "right"), [
    pytest.param((3, 313, 4, 101, 1), 50, 50, id="tmnn-same"),
    pytest.param((2, 64, 3, 10, 1), 4, 5, id="even-same"),
    pytest.param((2, 40, 3, 9, 3), 30, 2, id="left-beyond-a-block"),
    pytest.param((2, 100, 2, 7, 16), 0, 11, id="right-only"),
    pytest.param((2, 5, 2, 9, 1), 4, 4, id="row-shorter-than-kernel"),
])
def test_padding_is_read_as_zeros(rng, shape, left, right, symmetric, method):
    """Zero padding given as left/right equals the correlation of the padded rows (never copied by 'fft')."""
    x, filters = make(rng, shape, np.float64, symmetric)
    stride = shape[-1]
    out = cpu.correlate(x, filters, stride, left=left, right=right, method=method)
    expected = reference(np.pad(x, ((0, 0), (left, right))), filters, stride)
    assert out.shape == expected.shape
    assert rel_err(out, expected) <= TOL[np.float64]


@pytest.mark.parametrize("rectify", ["relu", "abs", "square"])
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("symmetric", [False, True], ids=["asymmetric", "symmetric"])
@pytest.mark.parametrize("shape", [SHAPES[1], SHAPES[6]])
def test_cpu_rectify(rng, shape, symmetric, method, rectify):
    x, filters = make(rng, shape, np.float64, symmetric)
    plain = reference(x, filters, shape[-1])
    expected = {"relu": np.maximum(plain, 0), "abs": np.abs(plain), "square": plain**2}[rectify]
    out = cpu.correlate(x, filters, shape[-1], rectify=rectify, method=method)
    assert rel_err(out, expected) <= 1e-12
    assert (out >= 0).all() and (out == 0).any() == (rectify == "relu")


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("symmetric", [False, True], ids=["asymmetric", "symmetric"])
def test_cpu_chunks_and_tasks_across_rows(rng, monkeypatch, symmetric, method):
    # Small chunks: chunks of frames and of FFT blocks, and the threads' ranges, straddle rows.
    monkeypatch.setattr(cpu, "_MAX_PRODUCT", 1)
    monkeypatch.setattr(cpu, "_FFT_CHUNK_SAMPLES", 1)
    shape = (7, 997, 5, 24, 3)
    x, filters = make(rng, shape, np.float64, symmetric)
    out = cpu.correlate(x, filters, shape[-1], method=method)
    assert rel_err(out, reference(x, filters, shape[-1])) <= 1e-12


def test_cpu_one_row_equals_batch(rng):
    x, filters = make(rng, (5, 3000, 4, 64, 8), np.float32, True)
    batch = cpu.correlate(x, filters, 8)
    for r in range(5):
        np.testing.assert_allclose(cpu.correlate(x[r : r + 1], filters, 8)[0], batch[r], rtol=0, atol=1e-5)


def test_cpu_method_choice_follows_shape():
    # Long, densely strided filters go through the FFT; strides near the kernel size do not.
    assert cpu._fft_plan(16, 7975, 80, 256, 10, True)[0] < cpu._direct_cost(16, 7975, 80, 256, 10, True)
    assert cpu._fft_plan(1280, 50, 20, 128, 160, True)[0] > cpu._direct_cost(1280, 50, 20, 128, 160, True)


@pytest.mark.parametrize("symmetric", [False, True], ids=["asymmetric", "symmetric"])
@pytest.mark.parametrize("shape", [(2, 2000, 6, 128, 10), (3, 700, 3, 40, 4), (2, 413, 4, 101, 1)])
def test_cpu_factor_grad_is_the_adjoint(rng, shape, symmetric):
    # fft_forward is linear in the factors: <forward(dF), g> = <factor_grad(g), dF> for any dF and g.
    x, filters = make(rng, shape, np.float64, symmetric)
    stride = shape[-1]
    size = cpu._fft_plan(shape[0], (shape[1] - shape[3]) // stride + 1, shape[2], shape[3], stride, symmetric)[1]
    factors = cpu.fft_factors(filters, stride, size, symmetric)
    out = cpu.fft_forward(x, factors, stride, size, shape[3])
    assert rel_err(out, reference(x, filters, stride)) <= 1e-12
    grad = rng.standard_normal(out.shape)
    d_factors = rng.standard_normal(factors.shape)
    lhs = np.sum(cpu.fft_forward(x, d_factors, stride, size, shape[3]) * grad)
    factor_grad = cpu.fft_factor_grad(x, grad, d_factors.shape, stride, size, shape[3], symmetric)
    assert factor_grad.shape == factors.shape
    assert np.isclose(np.sum(factor_grad * d_factors), lhs, rtol=1e-12)
    # An expanded (stride-0) gradient is read in place and gives the same as a contiguous copy.
    ones = np.broadcast_to(np.ones((1, 1, 1)), out.shape)
    np.testing.assert_allclose(
        cpu.fft_factor_grad(x, ones, d_factors.shape, stride, size, shape[3], symmetric),
        cpu.fft_factor_grad(x, np.ones(out.shape), d_factors.shape, stride, size, shape[3], symmetric),
        rtol=0, atol=1e-12,
    )


# ---------------------------------------------------------------- torch

try:
    import torch

    from modspec.nn import _conv
except ImportError:  # the CPU tests above still run
    torch = None
requires_torch = pytest.mark.skipif(
    torch is None, reason="modspec.nn needs the torch extra: pip install 'modspec[torch]'"
)
requires_cuda = pytest.mark.skipif(
    torch is None or not torch.cuda.is_available(), reason="needs a CUDA GPU (torch.cuda.is_available() is False)"
)


@requires_torch
@pytest.mark.parametrize("method", METHODS + [None])
@pytest.mark.parametrize("symmetric", [False, True], ids=["asymmetric", "symmetric"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_torch_matches_direct_sum(rng, shape, dtype, symmetric, method):
    x, filters = make(rng, shape, dtype, symmetric)
    stride = shape[-1]
    out = _conv.correlate(torch.from_numpy(x), torch.from_numpy(filters), stride, method=method)
    assert out.dtype == torch.from_numpy(x).dtype and out.is_contiguous()
    assert rel_err(out.numpy(), reference(x, filters, stride)) <= TOL[dtype]


@requires_torch
@pytest.mark.parametrize(("n_samples", "kernel_size", "stride"), [
    (313, 101, 1), (200, 7, 3), (200, 9, 9), (200, 7, 40), (30, 30, 4), (1000, 128, 160),
])
def test_input_gradient_is_conv1ds(n_samples, kernel_size, stride):
    """The FFT method's input gradient (spectra of the output gradient, read cyclically) equals conv1d's."""
    generator = torch.Generator().manual_seed(n_samples + kernel_size + stride)
    x = torch.randn(3, n_samples, dtype=torch.float64, generator=generator, requires_grad=True)
    filters = torch.randn(4, kernel_size, dtype=torch.float64, generator=generator)
    out = torch.nn.functional.conv1d(x[:, None], filters[:, None], stride=stride)
    grad = torch.randn(out.shape, dtype=torch.float64, generator=generator)
    expected, = torch.autograd.grad(out, x, grad)
    for chunk_elements in (1 << 20, 50):  # whole batch, and one row per chunk
        got = _conv._input_grad(grad, filters, stride, n_samples, chunk_elements)
        torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)


@requires_torch
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("symmetric", [False, True], ids=["asymmetric", "symmetric"])
@pytest.mark.parametrize("stride", [1, 2, 5, 16])
def test_torch_gradcheck(stride, symmetric, method):
    generator = torch.Generator().manual_seed(stride)
    x = torch.randn(2, 64, dtype=torch.float64, generator=generator)
    filters = torch.randn(3, 9, dtype=torch.float64, generator=generator)
    if symmetric:
        # The real-product FFT path must still give the gradient toward asymmetric filters.
        filters = filters + filters.flip(-1)
    x.requires_grad_()
    filters.requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: _conv.correlate(a, b, stride, method=method), (x, filters))


@requires_torch
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("symmetric", [False, True], ids=["asymmetric", "symmetric"])
def test_torch_chunked(monkeypatch, symmetric, method):
    # One row (direct) or one block (fft) per chunk: chunked forward and backward passes equal whole-batch ones.
    generator = torch.Generator().manual_seed(3)
    x = torch.randn(3, 60, dtype=torch.float64, generator=generator, requires_grad=True)
    filters = torch.randn(4, 8, dtype=torch.float64, generator=generator)
    if symmetric:
        filters = filters + filters.flip(-1)
    filters.requires_grad_()
    grad_out = torch.randn(3, 4, (60 - 8) // 3 + 1, dtype=torch.float64, generator=generator)
    whole = _conv.correlate(x, filters, 3, method=method)
    whole_grads = torch.autograd.grad(whole, (x, filters), grad_out)
    monkeypatch.setattr(_conv, "_CHUNK_BYTES", 1)
    chunked = _conv.correlate(x, filters, 3, method=method)
    chunked_grads = torch.autograd.grad(chunked, (x, filters), grad_out)
    torch.testing.assert_close(chunked, whole, rtol=0, atol=1e-12)
    for a, b in zip(chunked_grads, whole_grads):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
    assert torch.autograd.gradcheck(lambda a, b: _conv.correlate(a, b, 3, method=method), (x, filters))


@requires_torch
@pytest.mark.parametrize("input_grad", [False, True], ids=["filters-grad", "input-and-filters-grad"])
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("symmetric", [False, True], ids=["asymmetric", "symmetric"])
def test_torch_gradients_match_conv1d(rng, symmetric, method, input_grad):
    # Several blocks per row; without input gradient is the sinc layer's training case.
    x, filters = make(rng, (2, 500, 4, 32, 4), np.float64, symmetric)
    xt = torch.from_numpy(x).requires_grad_(input_grad)
    ft = torch.from_numpy(filters).requires_grad_()
    inputs = (xt, ft) if input_grad else (ft,)
    grad_out = torch.from_numpy(rng.standard_normal((2, 4, (500 - 32) // 4 + 1)))
    grads = torch.autograd.grad(_conv.correlate(xt, ft, 4, method=method), inputs, grad_out)
    conv = torch.nn.functional.conv1d(xt[:, None], ft[:, None], stride=4)
    for grad, expected in zip(grads, torch.autograd.grad(conv, inputs, grad_out)):
        torch.testing.assert_close(grad, expected, rtol=1e-10, atol=1e-10)


@requires_torch
@pytest.mark.parametrize("symmetric", [False, True], ids=["asymmetric", "symmetric"])
@pytest.mark.parametrize("stride", [1, 4, 10])
def test_torch_kernel_path_gradcheck(monkeypatch, stride, symmetric):
    # Rows without gradient on CPU run the FFT method on the numba kernels; their backward pass is hand-written.
    calls = []
    forward = cpu.fft_forward
    monkeypatch.setattr(cpu, "fft_forward", lambda *a, **k: calls.append(1) or forward(*a, **k))
    generator = torch.Generator().manual_seed(stride)
    x = torch.randn(2, 300, dtype=torch.float64, generator=generator)
    filters = torch.randn(3, 24, dtype=torch.float64, generator=generator)
    if symmetric:
        filters = filters + filters.flip(-1)
    filters.requires_grad_()
    assert torch.autograd.gradcheck(lambda b: _conv.correlate(x, b, stride, method="fft"), (filters,))
    assert calls, "the numba kernels were not used"
    # The gradient of sum() arrives expanded (stride 0) and is read in place.
    _conv.correlate(x, filters, stride, method="fft").sum().backward()
    expected = torch.autograd.grad(torch.nn.functional.conv1d(x[:, None], filters[:, None], stride=stride).sum(),
                                   filters)[0]
    torch.testing.assert_close(filters.grad, expected, rtol=1e-10, atol=1e-10)


@requires_torch
@pytest.mark.parametrize("method", METHODS)
def test_forced_method_reaches_every_call_in_the_block(monkeypatch, method):
    """forced_method overrides the cost model inside the block only (compare_gpu times both methods with it)."""
    import modspec.nn as mn

    used = []
    for name, cls in (("direct", _conv._Direct), ("fft", _conv._FFT)):
        monkeypatch.setattr(cls, "apply", lambda *args, _name=name, _apply=cls.apply: used.append(_name) or _apply(*args))
    layer = mn.SincConv(8, 65, 10, sr=16000.0)
    y = torch.randn(2, 4000, requires_grad=True)  # a gradient keeps the FFT method off the numba kernels
    free = layer(y)
    chosen = list(used)
    with _conv.forced_method(method):
        forced = layer(y)
        forced.sum().backward()
    assert used[len(chosen):] == [method]
    layer(y)
    assert used[len(chosen) + 1:] == chosen  # the cost model again after the block
    torch.testing.assert_close(forced, free, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="'direct' or 'fft'"), _conv.forced_method("conv1d"):
        pass


@pytest.mark.gpu
@requires_cuda
@pytest.mark.parametrize("method", METHODS)
def test_torch_cuda_matches_cpu(rng, method):
    x, filters = make(rng, (3, 2000, 6, 128, 10), np.float64, True)
    grad_out = rng.standard_normal((3, 6, (2000 - 128) // 10 + 1))
    results = {}
    for device in ("cpu", "cuda"):
        xt = torch.from_numpy(x).to(device).requires_grad_()
        ft = torch.from_numpy(filters).to(device).requires_grad_()
        out = _conv.correlate(xt, ft, 10, method=method)
        assert out.device.type == device
        out.backward(torch.from_numpy(grad_out).to(device))
        results[device] = [t.detach().cpu().numpy() for t in (out, xt.grad, ft.grad)]
    assert rel_err(results["cuda"][0], reference(x, filters, 10)) <= 1e-12
    for gpu, cpu_result in zip(results["cuda"], results["cpu"]):
        assert rel_err(gpu, cpu_result) <= 1e-12
