"""ModNet and SincModNet (Vahidi, Saitis & Fazekas 2021) and the shared residual back-end blocks."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from modspec import filters
from modspec.errors import ParameterError
from modspec.models import build, count_parameters, summary
from modspec.models.resnet import (
    ConvBlock1d,
    ConvBlock2d,
    ConvClassifier,
    ResidualBlock1d,
    ResidualBlock2d,
)
from modspec.models.vahidi import BandMaxPool, ModulationFrontEnd

SR = 16000
SHORT = 0.5  # s: 8000 samples, 775 sinc frames, 5 modulation frames: fast forward + backward


def _train_step(model, n_clips=2, seed=0):
    """One forward + backward pass on random audio; returns the logits."""
    torch.manual_seed(seed)
    model.train()
    y = 0.1 * torch.randn(n_clips, model.n_samples)
    logits = model(y)
    targets = (torch.rand(n_clips, model.n_classes) > 0.5).to(logits.dtype)
    torch.nn.functional.binary_cross_entropy_with_logits(logits, targets).backward()
    return logits


def _assert_learns(parameter):
    assert parameter.grad is not None
    assert torch.isfinite(parameter.grad).all()
    assert parameter.grad.abs().max() > 0


# ----------------------------------------------------------------------------- paper shapes and sizes


@pytest.mark.parametrize("name", ["modnet", "sincmodnet"])
def test_frontend_shape_of_a_5_s_window(name):
    # Table I: sinc 1-80-256-10 -> (80000 - 256) // 10 + 1 = 7975 frames at 1600 Hz; modulation
    # 80-20-128-160 'valid' -> (7975 - 128) // 160 + 1 = 50 frames: 20 modulation channels x 80 bands.
    model = build(name)
    assert model.n_samples == 5 * SR and model.sample_rate == SR and model.loss == "bce"
    torch.manual_seed(0)
    y = 0.1 * torch.randn(2, 5 * SR)
    with torch.no_grad():
        sinc = model.frontend.sinc(y)
        S = model.frontend(y)
        logits = model(y)
    assert sinc.shape == (2, 80, 7975)
    assert S.shape == (2, 20, 80, 50)
    assert logits.shape == (2, 50) and torch.isfinite(logits).all()


@pytest.mark.parametrize("name", ["modnet", "sincmodnet"])
def test_maxpool_baseline_shape(name):
    # Table II: max-pooling of kernel 128, stride 128 instead of the modulation filters: one channel,
    # (7975 - 128) // 128 + 1 = 62 frames.
    model = build(name, modulation="maxpool")
    assert isinstance(model.frontend.modulation, BandMaxPool)
    with torch.no_grad():
        S = model.frontend(0.1 * torch.randn(1, 5 * SR))
    assert S.shape == (1, 1, 80, 62)


def test_parameter_counts():
    # Front end (Table I): 80 sinc filters x 2 cut-offs = 160; ModNet 20 x 128 FIR taps = 2560;
    # SincModNet 20 x 2 cut-offs = 40. Back end (Sec. II-B, Harmonic-CNN-like): layer 1 conv 3x3
    # in -> 256 + BN (in * 2304 + 256 + 512), layers 2-7 residual blocks of two 3x3 convs 256 -> 256
    # + BN (2 * (589824 + 256) + 2 * 512 = 1181184 each), dense 256 -> 50 (12850).
    backend_20 = 20 * 2304 + 768 + 6 * 1181184 + 12850
    assert count_parameters(build("modnet")) == 7149522 == 160 + 2560 + backend_20
    assert count_parameters(build("sincmodnet")) == 7147002 == 160 + 40 + backend_20
    baseline = 160 + (2304 + 768) + 6 * 1181184 + 12850
    assert count_parameters(build("modnet", modulation="maxpool")) == 7103186 == baseline
    assert count_parameters(build("sincmodnet", modulation="maxpool")) == 7103186
    assert count_parameters(build("modnet", n_classes=10)) == 7149522 - 40 * 257


def test_backend_has_seven_256_channel_layers():
    backend = build("sincmodnet").backend
    layers = [getattr(backend, f"layer{i}") for i in range(1, 8)]
    assert not hasattr(backend, "layer8")
    assert isinstance(layers[0], ConvBlock2d) and layers[0].conv.in_channels == 20
    assert all(isinstance(layer, ResidualBlock2d) for layer in layers[1:])
    assert all(layer.bn.num_features == 256 for layer in layers[:1])
    assert all(layer.conv_2.out_channels == 256 and layer.bn_2.num_features == 256 for layer in layers[1:])
    assert backend.dense.in_features == 256 and backend.dense.out_features == 50


@pytest.mark.parametrize("name", ["modnet", "sincmodnet"])
def test_summary_lists_frontend_and_backend(name):
    text = summary(name)
    assert "frontend.sinc (SincConv)" in text and "frontend.modulation (ModulationFilterbank)" in text
    assert "backend.layer7 (ResidualBlock2d)" in text
    total = count_parameters(build(name))
    assert f"{total:,}" in text.splitlines()[-2]


# ----------------------------------------------------------------------------- training step


def test_modnet_forward_backward_reaches_sinc_and_fir_taps():
    model = build("modnet", duration=SHORT)
    assert model.n_samples == 8000
    logits = _train_step(model)
    assert logits.shape == (2, 50) and torch.isfinite(logits).all()
    _assert_learns(model.frontend.sinc.low_hz)
    _assert_learns(model.frontend.sinc.high_hz)
    _assert_learns(model.frontend.modulation.filters)
    _assert_learns(model.backend.layer1.conv.weight)


def test_sincmodnet_forward_backward_reaches_both_sets_of_cutoffs():
    model = build("sincmodnet", duration=SHORT)
    logits = _train_step(model)
    assert logits.shape == (2, 50) and torch.isfinite(logits).all()
    _assert_learns(model.frontend.sinc.low_hz)
    _assert_learns(model.frontend.sinc.high_hz)
    _assert_learns(model.frontend.modulation.low_hz)
    _assert_learns(model.frontend.modulation.high_hz)
    for p in model.parameters():
        assert p.grad is None or torch.isfinite(p.grad).all()


def test_maxpool_baseline_trains_the_sinc_layer():
    model = build("sincmodnet", modulation="maxpool", duration=SHORT)
    logits = _train_step(model)
    assert torch.isfinite(logits).all()
    _assert_learns(model.frontend.sinc.high_hz)


def test_float64_forward_and_predict():
    model = build("modnet", duration=SHORT, n_classes=7).double()
    model.eval()
    torch.manual_seed(1)
    y = 0.1 * torch.randn(2, model.n_samples, dtype=torch.float64)
    logits = model(y)
    assert logits.dtype == torch.float64 and logits.shape == (2, 7) and torch.isfinite(logits).all()
    probs = model.predict(y)
    assert ((probs > 0) & (probs < 1)).all()
    with pytest.raises(ParameterError, match="dtype"):
        model(y.float())


# ----------------------------------------------------------------------------- the front end's layers


def test_initialisations_follow_the_paper():
    fir = build("modnet", duration=SHORT).frontend.modulation
    assert fir.kind == "fir" and fir.stride == 160 and fir.padding == "valid" and fir.rectify == "square"
    np.testing.assert_allclose(fir.filters.detach().numpy(), filters.modulation_fir_init(20, 128), rtol=1e-6)
    sinc = build("sincmodnet", duration=SHORT).frontend.modulation
    assert sinc.kind == "sinc" and sinc.frame_rate == SR / 10
    # linear initialisation over 0..800 Hz (half the 1600 Hz envelope rate): 40 Hz bands
    np.testing.assert_allclose(sinc.low_hz.detach().numpy(), np.arange(20) * 40.0, atol=1e-4)
    np.testing.assert_allclose(sinc.high_hz.detach().numpy(), np.arange(1, 21) * 40.0, atol=1e-4)
    band = build("modnet", duration=SHORT).frontend.sinc
    assert (band.n_filters, band.kernel_size, band.stride, band.rectify) == (80, 256, 10, "relu")


def test_instance_norm_standardises_each_channel_per_example():
    model = build("sincmodnet", duration=1.0)
    torch.manual_seed(2)
    with torch.no_grad():
        S = model.frontend(0.1 * torch.randn(2, model.n_samples))
    assert S.shape == (2, 20, 80, 10)
    mean, var = S.mean(dim=(2, 3)), S.var(dim=(2, 3), correction=0)
    torch.testing.assert_close(mean, torch.zeros_like(mean), atol=1e-4, rtol=0)
    torch.testing.assert_close(var, torch.ones_like(var), atol=1e-3, rtol=0)
    raw = build("sincmodnet", duration=1.0, norm=None)
    with torch.no_grad():
        R = raw.frontend(0.1 * torch.randn(2, raw.n_samples))
    assert (R >= 0).all()  # r2 = |.|^2 and no normalisation


def test_options_change_the_layers():
    model = build("modnet", n_filters=5, stride=80, r1="square", r2="relu", duration=1.0)
    front = model.frontend
    assert front.sinc.rectify == "square" and front.modulation.rectify == "relu"
    with torch.no_grad():
        S = front(0.1 * torch.randn(1, model.n_samples))
    assert S.shape == (1, 5, 80, (1575 - 128) // 80 + 1)
    assert model.backend.layer1.conv.in_channels == 5
    # Table IV's "-": no r1
    assert build("modnet", r1=None, duration=SHORT).frontend.sinc.rectify is None
    # the maxpool baseline applies r2 after pooling
    pooled = build("modnet", modulation="maxpool", r2="square", norm=None, duration=SHORT).frontend
    y = torch.randn(1, 8000)
    with torch.no_grad():
        expected = torch.nn.functional.max_pool1d(pooled.sinc(y), 128, 128).square()
        torch.testing.assert_close(pooled(y)[:, 0], expected)


def test_other_sample_rate_keeps_the_sample_geometry():
    model = build("sincmodnet", sample_rate=8000, duration=2.0)
    assert model.n_samples == 16000 and model.frontend.modulation.frame_rate == 800.0
    assert float(model.frontend.modulation.high_hz[-1].detach()) == pytest.approx(400.0)


def test_band_max_pool():
    pool = BandMaxPool(4, 2)
    S = torch.arange(2 * 3 * 10, dtype=torch.float32).reshape(2, 3, 10)
    out = pool(S)
    assert out.shape == (2, 3, 1, 4)
    torch.testing.assert_close(out[..., 0, :], S[..., 3:10:2])
    with pytest.raises(ParameterError, match="fewer than kernel_size=4"):
        pool(torch.zeros(3, 3))
    assert isinstance(build("modnet", duration=SHORT).frontend, ModulationFrontEnd)


# ----------------------------------------------------------------------------- bad options


@pytest.mark.parametrize(
    ("name", "options", "match"),
    [
        ("modnet", {"modulation": "sinc"}, "modulation='sinc'.*'fir', 'maxpool'"),
        ("sincmodnet", {"modulation": "fir"}, "modulation='fir'.*'sinc', 'maxpool'"),
        ("modnet", {"r1": "tanh"}, "r1='tanh'"),
        ("sincmodnet", {"r2": "softplus"}, "r2='softplus'"),
        ("modnet", {"norm": "batch"}, "norm='batch'"),
        ("modnet", {"n_filters": 0}, "n_filters"),
        ("sincmodnet", {"kernel_size": -3}, "kernel_size"),
        ("modnet", {"stride": 1.5}, "stride"),
        ("sincmodnet", {"duration": 0.0}, "duration"),
        ("modnet", {"duration": 0.09}, r"duration=0.09 s .*119 sinc frames, fewer than kernel_size=128.*>= 0.095375 s"),
        ("sincmodnet", {"window": 5.0}, "no option 'window'"),
        ("sincmodnet", {"n_filters": 80}, "min_band_hz"),  # 10 Hz bands, narrower than 1600 / 128 Hz
    ],
)
def test_bad_options_raise(name, options, match):
    with pytest.raises(ParameterError, match=match):
        build(name, **options)


def test_wrong_input_length_raises():
    model = build("modnet", duration=SHORT)
    with pytest.raises(ParameterError, match="fewer than kernel_size=256"):
        model(torch.zeros(1, 100))


# ----------------------------------------------------------------------------- resnet blocks


def test_residual_block_shortcuts():
    torch.manual_seed(3)
    same = ResidualBlock2d(8, 8)
    assert isinstance(same.shortcut, torch.nn.Identity)
    projected = ResidualBlock2d(4, 8, stride=2, shortcut_kernel_size=3)
    assert projected.shortcut[0].kernel_size == (3, 3) and projected.shortcut[0].stride == (2, 2)
    assert projected(torch.randn(2, 4, 9, 12)).shape == (2, 8, 5, 6)
    # the identity block adds its input: with the convolution branch zeroed it is relu(x)
    with torch.no_grad():
        same.bn_2.weight.zero_()
        same.bn_2.bias.zero_()
    x = torch.randn(2, 8, 5, 5)
    torch.testing.assert_close(same(x), torch.relu(x))


def test_blocks_pool_and_work_in_1d():
    torch.manual_seed(4)
    assert ConvBlock1d(3, 6, 5, pool=3)(torch.randn(2, 3, 30)).shape == (2, 6, 10)
    assert ResidualBlock1d(3, 6, pool=2, ceil_mode=True)(torch.randn(2, 3, 7)).shape == (2, 6, 4)
    assert ConvBlock2d(1, 2, (3, 5), pool=(2, 3))(torch.randn(2, 1, 8, 9)).shape == (2, 2, 4, 3)
    assert ResidualBlock2d(2, 2, pool=2, ceil_mode=True)(torch.randn(2, 2, 1, 1)).shape == (2, 2, 1, 1)
    with pytest.raises(ParameterError, match="pool=\\(2, 2, 2\\) must have 2 entries"):
        ConvBlock2d(1, 2, pool=(2, 2, 2))
    with pytest.raises(ParameterError, match="out_channels"):
        ResidualBlock1d(1, 0)


def test_conv_classifier_pooling_and_head():
    torch.manual_seed(5)
    blocks = [ConvBlock1d(2, 4), ResidualBlock1d(4, 4)]
    head = ConvClassifier(blocks, n_features=4, n_classes=3, global_pool="avg", hidden=6, dropout=0.5)
    assert [name for name, _ in head.named_children()][:2] == ["layer1", "layer2"]
    head.eval()
    x = torch.randn(5, 2, 11)
    features = head.layer2(head.layer1(x)).mean(dim=-1)
    torch.testing.assert_close(head(x), head.dense(head.hidden(features)))
    with pytest.raises(ParameterError, match="global_pool='sum'"):
        ConvClassifier(blocks, n_features=4, n_classes=3, global_pool="sum")
    with pytest.raises(ParameterError, match="dropout=1.0"):
        ConvClassifier(blocks, n_features=4, n_classes=3, dropout=1.0)
    with pytest.raises(ParameterError, match="blocks is empty"):
        ConvClassifier([], n_features=4, n_classes=3)
