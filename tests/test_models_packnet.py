"""jtfs_packnet (Raghavan): the JTFSTensor front end against features.jtfs_tensor, the PackNet back end, the model."""

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="modspec.nn and modspec.models need the torch extra")

from modspec import ParameterError
from modspec.features.scattering import jtfs_meta, jtfs_tensor
from modspec.models import build, count_parameters, summary
from modspec.models.packnet import PackingLayer, PackNetBackend
from modspec.nn import JTFSTensor

# A short window for the model: T = 64, 16 frames, 9 temporal x 9 frequential scales (the paper's F, J_fr, Q_fr).
SMALL = {"n_samples": 1024, "J": 6, "Q": (8, 2)}
# Two front-end settings for parity: kymatio's defaults for F, and the model's F = 24, J_fr = 4, Q_fr = 2.
PARITY = [{"J": 6, "J_fr": 2, "Q": (8, 2)}, {"J": 6, "J_fr": 4, "Q": (8, 2), "Q_fr": 2, "F": 24}]


@pytest.fixture(autouse=True)
def one_thread():
    """Small tensors on a shared 2-core machine: one intra-op thread, no spin-waits."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _rel(a, b):
    return float(np.abs(np.asarray(a) - b).max() / np.abs(b).max())


# --------------------------------------------------------------------------- JTFSTensor


@pytest.mark.parametrize("kwargs", PARITY)
def test_jtfs_tensor_module_equals_function(rng, kwargs):
    y = rng.standard_normal((2, 2, 512))  # leading axes are kept
    layer = JTFSTensor(shape=512, **kwargs)
    out32, spin32 = layer(torch.from_numpy(y.astype(np.float32)), return_spin=True)
    expected32, expected_spin32 = jtfs_tensor(y.astype(np.float32), return_spin=True, **kwargs)
    assert out32.dtype == torch.float32 and tuple(out32.shape) == expected32.shape == (2, 2) + layer.output_shape
    assert _rel(out32.numpy(), expected32) <= 1e-4
    assert spin32.dtype == torch.int8 and spin32.tolist() == expected_spin32.tolist()

    layer.double()
    out64, spin64 = layer(torch.from_numpy(y), return_spin=True)
    expected64, expected_spin64 = jtfs_tensor(y, return_spin=True, **kwargs)
    assert out64.dtype == torch.float64 and _rel(out64.numpy(), expected64) <= 1e-10
    assert spin64.tolist() == expected_spin64.tolist()
    assert set(expected_spin64.ravel().tolist()) == {1, -1}  # both branches of the choice are compared


def test_jtfs_tensor_keeps_the_spin_of_the_glissando():
    t = np.arange(2048) / 8000
    rate = 4.0  # octaves per second
    up = np.sin(2 * np.pi * 200 * (2 ** (rate * t) - 1) / (rate * np.log(2)))
    down = np.sin(2 * np.pi * 3200 * (1 - 2 ** (-rate * t)) / (rate * np.log(2)))
    layer = JTFSTensor(6, 2, 2048, Q=(8, 2)).double()
    X, spin = layer(torch.from_numpy(np.stack([up, down])), return_spin=True)
    assert spin.tolist() == [1, -1]
    assert torch.isfinite(X).all() and (X >= 0).all()


def test_jtfs_tensor_gradcheck_and_silence():
    layer = JTFSTensor(3, 1, 128, Q=(2, 1)).double()  # (16, 1, 2): a full Jacobian in a second
    assert layer.output_shape == (16, 1, 2)
    x = torch.randn(1, 128, dtype=torch.float64, generator=torch.Generator().manual_seed(0), requires_grad=True)
    assert torch.autograd.gradcheck(layer, (x,))
    # NumPy's 0 / 0 is NaN for silence; the module adds the dtype's tiny to S1: zeros, zero gradients.
    silence = torch.zeros(1, 128, dtype=torch.float64, requires_grad=True)
    out = layer(silence)
    out.sum().backward()
    assert torch.equal(out, torch.zeros_like(out)) and torch.isfinite(silence.grad).all()


def test_jtfs_tensor_state_and_errors():
    layer = JTFSTensor(3, 1, 256, Q=(2, 1))
    # Index buffers are rebuilt from the parameters: only the jTFS filters are state.
    assert all(name.startswith("jtfs.") for name in layer.state_dict())
    assert "output_shape=" in repr(layer)
    with pytest.raises(ParameterError, match=r"eps=-1.0 must be a finite number >= 0"):
        JTFSTensor(3, 1, 256, Q=(2, 1), eps=-1.0)
    with pytest.raises(ParameterError, match=r"J=9 is too large"):
        JTFSTensor(9, 1, 256, Q=(2, 1))
    with pytest.raises(ParameterError, match=r"y has 255 samples"):
        layer(torch.zeros(255))


# --------------------------------------------------------------------------- back end


def test_packing_is_packnets_space2depth_and_keeps_the_channels():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 4, 6)
    # PackNet's packing(): view (b, c, h/2, 2, w/2, 2), permute (0, 1, 3, 5, 2, 4).
    expected = x.view(2, 3, 2, 2, 3, 2).permute(0, 1, 3, 5, 2, 4).reshape(2, 12, 2, 3)
    torch.testing.assert_close(torch.nn.functional.pixel_unshuffle(x, 2), expected, rtol=0, atol=0)

    layer = PackingLayer(16, 3, d=8)
    seen = {}
    layer.conv3d.register_forward_hook(lambda m, i, o: seen.update(conv3d=(tuple(i[0].shape), tuple(o.shape))))
    layer.conv.register_forward_hook(lambda m, i, o: seen.update(conv=(tuple(i[0].shape), tuple(o.shape))))
    out = layer(torch.randn(2, 16, 21, 9))  # odd axes: zero-padded to (22, 10)
    # Raghavan Sec. 3.3: (N, J2, J_fr) -> (4N, J2/2, J_fr/2) -> (D, 4N, ...) -> (4DN, ...) -> (N, J2/2, J_fr/2).
    assert seen["conv3d"] == ((2, 1, 64, 11, 5), (2, 8, 64, 11, 5))
    assert seen["conv"] == ((2, 512, 11, 5), (2, 16, 11, 5))
    assert out.shape == (2, 16, 11, 5)
    with pytest.raises(ParameterError, match="kernel_size=4 must be odd"):
        PackingLayer(16, 4)


def test_backend_shapes_and_input_check():
    torch.manual_seed(0)
    backend = PackNetBackend(16, 21, 9, 50)
    shapes = []
    for i in range(1, 5):
        getattr(backend, f"pack{i}").register_forward_hook(lambda m, i, o: shapes.append(tuple(o.shape[1:])))
    assert backend(torch.randn(2, 16, 21, 9)).shape == (2, 50)
    assert shapes == [(16, 11, 5), (16, 6, 3), (16, 3, 2), (16, 2, 1)]
    assert backend.classifier.kernel_size == (2, 1)
    with pytest.raises(ParameterError, match=r"x must have shape \(batch, 16, 21, 9\)"):
        backend(torch.randn(2, 16, 9, 21))


# --------------------------------------------------------------------------- the model


def test_default_model_parameters_shapes_and_summary():
    model = build("jtfs_packnet")
    assert model.n_samples == 65536 and model.sample_rate == 16000 and model.loss == "mse"
    # N = 65536 / T with T = 2**12; J2 = the n2 with some j1 < j2 (the paper's Q2 log2 T = 24 less the three
    # wavelets no first-order one lies above); J_fr = 9 = round(Q_fr log2(Q1 F)) = round(2 log2 24) per spin.
    meta = jtfs_meta(J=12, J_fr=4, Q=(12, 2), Q_fr=2, F=24)
    second = meta["order"] == 2
    n2 = len(set(meta["n"][second, 1].tolist()))
    n_fr = len(set(meta["n_fr"][second & (meta["spin"] == 1)].tolist()))
    assert model.frontend.output_shape == (16, n2, n_fr) == (16, 21, 9)
    # 4 packing layers (3-D conv 1->8 3x3x3; 2-D conv 4*8*16 -> 16, kernels 5, 3, 3, 3; GroupNorm 16), and a
    # (2, 1) conv 16 -> 50: 205,072 + 3 * 74,000 + 1,650. The jTFS has no parameters.
    assert count_parameters(model.frontend) == 0
    assert count_parameters(build("jtfs_packnet")) == 428722
    assert count_parameters(PackNetBackend(16, 21, 9, n_classes=10)) == 428722 - 1650 + (16 * 10 * 2 + 10)
    with torch.no_grad():
        assert model.backend(torch.rand(2, *model.frontend.output_shape)).shape == (2, 50)
    text = summary("jtfs_packnet")
    assert "backend.pack1 (PackingLayer)" in text and "428,722" in text and "loss=mse" in text


def test_forward_backward_float32_and_float64():
    torch.manual_seed(0)
    model = build("jtfs_packnet", **SMALL)
    assert model.frontend.output_shape == (16, 9, 9)
    x = torch.randn(2, 1024, requires_grad=True)
    logits = model(x)
    assert logits.shape == (2, 50) and logits.dtype == torch.float32 and torch.isfinite(logits).all()
    torch.nn.functional.mse_loss(model.predict(x), torch.rand(2, 50)).backward()
    first = model.backend.pack1
    for p in (first.conv3d.weight, first.conv.weight, model.backend.classifier.weight):
        assert torch.isfinite(p.grad).all() and p.grad.abs().max() > 0
    assert torch.isfinite(x.grad).all() and x.grad.abs().max() > 0  # through the jTFS to the waveform

    model.double()
    logits64 = model(x.detach().double())
    assert logits64.dtype == torch.float64
    torch.testing.assert_close(logits64.float(), logits.detach(), rtol=1e-3, atol=1e-4 * float(logits.detach().abs().max()))


def test_loss_option_and_predict_clip():
    torch.manual_seed(0)
    model = build("jtfs_packnet", n_classes=5, loss="bce", **SMALL)
    assert model.loss == "bce"
    clip = torch.randn(2500)
    probs = model.predict_clip(clip)
    assert probs.shape == (5,) and ((probs > 0) & (probs < 1)).all()


@pytest.mark.parametrize("options, match", [
    ({"loss": "ce"}, r"loss='ce' is not one of \['bce', 'mse'\]"),
    ({"n_samples": 0}, r"n_samples=0 must be a positive integer"),
    ({"d": 0}, r"d=0 must be a positive integer"),
    ({"J": 11}, r"J=11 is too large"),
    ({"F": 200}, r"F=200 must be None"),
    ({"eps": -1.0}, r"eps=-1.0 must be a finite number"),
    ({"width": 3}, r"has no option 'width'"),
])
def test_bad_options_raise(options, match):
    with pytest.raises(ParameterError, match=match):
        build("jtfs_packnet", **{**SMALL, **options})
