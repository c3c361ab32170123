"""modspec.nn.TimeFrequencyScattering: the numbers of features.jtfs (and kymatio's), differentiable, validated."""

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="modspec.nn needs the torch extra")

import modspec.nn as mn
from modspec import ParameterError, filters
from modspec.features.scattering import jtfs, jtfs_meta

REFERENCE = "kymatio_dev_jtfs_J6_Jfr2_Q8-2_Qfr1_Tdefault_Fdefault_N8192_time.npz"
BASE = {"J": 6, "J_fr": 2, "Q": (8, 2)}
SMALL = {"J": 3, "J_fr": 1, "Q": (2, 1)}  # 23 paths of 16 frames for 128 samples: a full gradcheck in seconds
DESIGNS = {"psi1_f", "psi2_f", "phi_f", "maps1_real", "maps1_imag", "avg1", "maps2_real", "maps2_imag", "avg2"}


def _order_errors(out, expected, order, axis=-2):
    """max |out - expected| / max |expected| per order (paths on ``axis``: -2 for 'time', -3 for 'joint')."""
    assert out.shape == expected.shape, (out.shape, expected.shape)
    errors = {}
    for o in np.unique(order):
        paths = np.flatnonzero(order == o)
        a, b = np.take(out, paths, axis=axis), np.take(expected, paths, axis=axis)
        errors[int(o)] = float(np.abs(a - b).max() / np.abs(b).max())
    return errors


@pytest.mark.parametrize("kwargs, format", [
    (BASE, "time"),
    (BASE, "joint"),
    ({"J": 6, "J_fr": 3, "Q": (8, 1), "Q_fr": 2, "T": 128, "F": 4}, "time"),
    # F > 2**J_fr with kymatio's frequential padding (80 rows) not a multiple of 16: padded to 64 + 16
    ({"J": 6, "J_fr": 2, "Q": (8, 2), "F": 16}, "time"),
])
def test_module_equals_function(rng, kwargs, format):
    n_samples = 4096
    y = rng.standard_normal((2, n_samples))
    layer = mn.TimeFrequencyScattering(shape=n_samples, format=format, **kwargs)
    meta = layer.meta()
    assert meta["key"] == jtfs_meta(format=format, **kwargs)["key"] and len(meta["key"]) == layer.n_paths
    order, axis = meta["order"], (-3 if format == "joint" else -2)

    out32 = layer(torch.from_numpy(y.astype(np.float32)))
    expected32 = jtfs(y.astype(np.float32), format=format, **kwargs)
    assert out32.dtype == torch.float32 and tuple(out32.shape) == expected32.shape
    errors = _order_errors(out32.numpy(), expected32, order, axis)
    assert max(errors.values()) <= 1e-4, errors

    layer.double()
    out64 = layer(torch.from_numpy(y)).numpy()
    expected64 = jtfs(y, format=format, **kwargs)
    assert out64.dtype == np.float64 and out64.shape == expected64.shape
    assert out64.shape[1] == layer.n_paths
    errors = _order_errors(out64, expected64, order, axis)
    assert max(errors.values()) <= 1e-10, errors


def test_module_matches_kymatio_dev_reference(reference):
    ref = reference(REFERENCE)
    x = ref["x"]
    layer = mn.TimeFrequencyScattering(shape=x.shape[-1], **BASE).double()
    S = layer(torch.from_numpy(x)).numpy()
    assert S.shape == ref["S"].shape
    errors = _order_errors(S, ref["S"], jtfs_meta(**BASE)["order"])
    assert max(errors.values()) <= 1e-7, errors


@pytest.fixture
def one_thread():
    """Tiny tensors: intra-op threads only add synchronisation (and spin-waits on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_gradcheck_and_finite_gradient_at_silence(one_thread):
    layer = mn.TimeFrequencyScattering(shape=128, **SMALL).double()
    x = torch.randn(1, 128, dtype=torch.float64, generator=torch.Generator().manual_seed(0), requires_grad=True)
    assert torch.autograd.gradcheck(layer, (x,))  # the full Jacobian, 128 x (23 * 16)
    joint = mn.TimeFrequencyScattering(4, 2, 256, Q=(2, 1), format="joint").double()
    x = torch.randn(2, 256, dtype=torch.float64, generator=torch.Generator().manual_seed(1), requires_grad=True)
    assert torch.autograd.gradcheck(joint, (x,), fast_mode=True)
    # |z| has a zero gradient at z = 0: silence gives finite (zero) gradients, not NaNs.
    silence = torch.zeros(1, 128, dtype=torch.float64, requires_grad=True)
    layer(silence).sum().backward()
    assert torch.isfinite(silence.grad).all()


def test_gradient_reaches_the_input_in_float32(rng):
    layer = mn.TimeFrequencyScattering(shape=1024, **{**BASE, "J": 5})
    x = torch.from_numpy(rng.standard_normal((2, 1024)).astype(np.float32)).requires_grad_()
    layer(x).pow(2).sum().backward()
    assert x.grad.dtype == torch.float32 and torch.isfinite(x.grad).all() and x.grad.abs().max() > 0


def test_batch_shapes_are_kept_and_items_independent(rng):
    kwargs = {"J": 5, "J_fr": 2, "Q": (4, 1)}
    y = rng.standard_normal((2, 3, 2048))
    for format in ("time", "joint"):
        layer = mn.TimeFrequencyScattering(shape=2048, format=format, **kwargs).double()
        out = layer(torch.from_numpy(y))
        expected = jtfs(y, format=format, **kwargs)
        assert tuple(out.shape) == expected.shape and out.shape[:3] == (2, 3, layer.n_paths)
        one = layer(torch.from_numpy(y[1, 2])).numpy()
        assert one.shape == expected.shape[2:]
        np.testing.assert_allclose(out[1, 2].numpy(), one, rtol=0, atol=1e-12 * np.abs(one).max())


def test_buffers_dtypes_and_state_dict():
    layer = mn.TimeFrequencyScattering(3, 1, 256, Q=(2, 1))
    assert set(layer.state_dict()) == DESIGNS  # the row index of 'time' is not state
    assert {name for name, _ in layer.named_buffers()} == DESIGNS | {"rows_kept"}
    assert all(getattr(layer, name).dtype == torch.float32 for name in DESIGNS)
    assert layer(torch.zeros(256)).dtype == torch.float32
    layer.double()
    assert all(getattr(layer, name).dtype == torch.float64 for name in DESIGNS)
    assert layer.rows_kept.dtype == torch.long
    assert layer(torch.zeros(256, dtype=torch.float64)).dtype == torch.float64
    # .double() refills the buffers from the float64 design, not from their float32 copies.
    bank = filters.scattering_filterbank(layer.n_padded, 3, (2, 1), 8)
    np.testing.assert_array_equal(layer.psi1_f.numpy(), bank.psi1_f)
    np.testing.assert_array_equal(layer.phi_f.numpy(), bank.phi_f)
    layer.float()
    assert all(getattr(layer, name).dtype == torch.float32 for name in DESIGNS)
    # A module loaded from a state dict gives the same numbers.
    x = torch.randn(2, 256, generator=torch.Generator().manual_seed(2))
    copy = mn.TimeFrequencyScattering(3, 1, 256, Q=(2, 1))
    copy.load_state_dict(layer.state_dict())
    torch.testing.assert_close(copy(x), layer(x), rtol=0, atol=0)


def test_shape_tuple_compact_and_repr():
    a = mn.TimeFrequencyScattering(3, 1, (256,), Q=(2, 1)).double()
    b = mn.TimeFrequencyScattering(3, 1, 256, Q=(2, 1), compact=False).double()
    assert b.n_padded >= a.n_padded
    x = torch.randn(256, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(a(x), b(x), rtol=0, atol=1e-12 * float(b(x).abs().max()))
    assert "J_fr=1" in repr(a) and "format='time'" in repr(a)
    assert "TimeFrequencyScattering" in mn.__all__


@pytest.mark.parametrize("kwargs, match", [
    ({"J_fr": 0}, r"J_fr=0 must be a positive integer"),
    ({"J_fr": 4}, r"J_fr=4 is too large"),
    ({"Q_fr": 0}, r"Q_fr=0 must be a positive integer"),
    ({"F": 100}, r"F=100 must be None"),
    ({"format": "x"}, r"format='x' is not one of"),
    ({"format": "joint", "F": 8}, r"format='joint' needs F <= 2\*\*J_fr"),
    ({"T": 1}, r"T=1 is too small for J=3"),
    ({"J": 9}, r"J=9 is too large"),
    ({"shape": 0}, r"shape=0 must be the signal length"),
    ({"shape": (256, 2)}, r"must be the signal length"),
])
def test_constructor_rejects_bad_parameters(kwargs, match):
    params = {"J": 3, "J_fr": 2, "shape": 256, "Q": (2, 1), **kwargs}
    with pytest.raises(ParameterError, match=match):
        mn.TimeFrequencyScattering(**params)


def test_forward_rejects_bad_input():
    layer = mn.TimeFrequencyScattering(3, 1, 256, Q=(2, 1))
    with pytest.raises(ParameterError, match="y has 255 samples but the module was built for shape=256"):
        layer(torch.zeros(255))
    with pytest.raises(ParameterError, match="y has dtype torch.float64 but TimeFrequencyScattering holds 'phi_f'"):
        layer(torch.zeros(256, dtype=torch.float64))
    with pytest.raises(ParameterError, match="y has dtype torch.int16"):
        layer(torch.zeros(256, dtype=torch.int16))
    with pytest.raises(ParameterError, match="y must be a torch.Tensor"):
        layer(np.zeros(256, dtype=np.float32))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (torch.cuda.is_available() is False)")
def test_cuda_matches_cpu(rng):
    layer = mn.TimeFrequencyScattering(shape=4096, **BASE).double()
    y = torch.from_numpy(rng.standard_normal((2, 4096)))
    expected = layer(y)
    gpu = layer.cuda()
    assert all(b.is_cuda for b in gpu.buffers())
    x = y.cuda().requires_grad_()
    out = gpu(x)
    assert out.is_cuda and out.dtype == torch.float64
    torch.testing.assert_close(out.detach().cpu(), expected, rtol=0, atol=1e-10 * float(expected.abs().max()))
    out.sum().backward()
    assert torch.isfinite(x.grad).all()
