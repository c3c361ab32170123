"""Dieleman & Schrauwen (2014) and Choi et al. (2018, k2c2) models, and the AWeighting module."""

import numpy as np
import pytest
import torch

import modspec.models as mm
from modspec import filters
from modspec.errors import ParameterError
from modspec.features import a_weight
from modspec.models import count_parameters
from modspec.models.choi import ChoiFrontend
from modspec.models.dieleman import StridedConvFrontend
from modspec.nn import AWeighting

torch.set_num_threads(1)


def _audio(batch, n_samples, seed=0):
    torch.manual_seed(seed)
    return 0.1 * torch.randn(batch, n_samples)


def _check_training_step(model, x, learnable):
    """Forward + backward: finite logits (B, n_classes), finite nonzero gradients on ``learnable`` and the input."""
    x = x.clone().requires_grad_(True)
    logits = model(x)
    assert logits.shape == (x.shape[0], model.n_classes)
    assert torch.isfinite(logits).all()
    logits.sum().backward()
    for name, parameter in learnable:
        assert parameter.grad is not None, name
        assert torch.isfinite(parameter.grad).all(), name
        assert parameter.grad.abs().sum() > 0, name
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0  # gradients flow through the front end


def test_registry_names():
    assert {"dieleman2014", "choi2018"} <= set(mm.available())
    with pytest.raises(ParameterError, match="n_mels"):
        mm.build("dieleman2014", n_mels=96)


# --------------------------------------------------------------------------- dieleman2014


def test_dieleman_mel_default_window_shapes_and_training_step():
    model = mm.build("dieleman2014")
    # "windows of about 3 seconds" at MTAT's 16 kHz; hop 256 (Table 1's best), centred frames
    assert model.n_samples == 48000 and model.sample_rate == 16000 and model.loss == "bce"
    x = _audio(2, model.n_samples)
    with torch.no_grad():
        assert model.frontend(x).shape == (2, 128, 1 + 48000 // 256)  # 128 mel components (Sec. 4.2)
    _check_training_step(model, x, list(model.backend.named_parameters()))


def test_dieleman_mel_is_log_compressed_mel():
    model = mm.build("dieleman2014", stride=512, length=1024)
    x = _audio(1, model.n_samples)
    with torch.no_grad():
        mel = model.frontend.mel(x)
        assert torch.allclose(model.frontend(x), torch.log1p(10000.0 * mel))
    assert model.frontend.mel.spectrogram.hop_length == 512 and model.frontend.mel.spectrogram.win_length == 1024
    assert model.frontend(x).shape == (1, 128, 1 + 48000 // 512)


@pytest.mark.parametrize("stride", [1024, 512, 256])
def test_dieleman_raw_strides(stride):
    model = mm.build("dieleman2014", frontend="raw", stride=stride)
    x = _audio(2, model.n_samples)
    n_frames = 1 + (48000 - stride) // stride
    with torch.no_grad():
        assert model.frontend(x).shape == (2, 128, n_frames)
    assert model.frontend.conv.weight.shape == (128, 1, stride) and model.frontend.conv.stride == (stride,)
    _check_training_step(model, x, list(model.named_parameters()))


def test_dieleman_raw_length_twice_stride():
    # Table 1: length 1024 with stride 512, and 512 with 256
    model = mm.build("dieleman2014", frontend="raw", length=1024, stride=512)
    with torch.no_grad():
        assert model.frontend(_audio(1, model.n_samples)).shape == (1, 128, 1 + (48000 - 1024) // 512)


@pytest.mark.parametrize("nonlinearity", ["relu", "log_square", "log_abs"])
def test_dieleman_raw_nonlinearities(nonlinearity):
    model = mm.build("dieleman2014", frontend="raw", stride=1024, nonlinearity=nonlinearity)
    x = _audio(2, model.n_samples)
    with torch.no_grad():
        features = model.frontend(x)
        z = model.frontend.conv(x[:, None])
    expected = {
        "relu": torch.relu(z), "log_square": torch.log1p(1e4 * z**2), "log_abs": torch.log1p(1e4 * z.abs()),
    }[nonlinearity]
    assert features.shape == (2, 128, 46)
    torch.testing.assert_close(features, expected)
    _check_training_step(model, x, list(model.frontend.named_parameters()))


@pytest.mark.parametrize("pooling", ["l2", "max"])
@pytest.mark.parametrize("pool_size", [2, 4])
def test_dieleman_raw_feature_pooling(pooling, pool_size):
    model = mm.build("dieleman2014", frontend="raw", stride=1024, pooling=pooling, pool_size=pool_size)
    x = _audio(2, model.n_samples)
    with torch.no_grad():
        features = model.frontend(x)
        z = model.frontend.conv(x[:, None]).unflatten(1, (128 // pool_size, pool_size))
    assert features.shape == (2, 128 // pool_size, 46)
    pooled = z.amax(dim=2) if pooling == "max" else z.square().sum(dim=2).sqrt()
    torch.testing.assert_close(features, torch.relu(pooled))
    assert model.backend.conv1.in_channels == 128 // pool_size  # fewer parameters in the next layer (Sec. 4.4)
    _check_training_step(model, x, list(model.frontend.named_parameters()))


def test_dieleman_l2_pooling_gradient_at_zero_is_finite():
    frontend = StridedConvFrontend(4, 4, 4, pooling="l2", pool_size=2)
    with torch.no_grad():
        frontend.conv.bias.zero_()
    x = torch.zeros(1, 16, requires_grad=True)
    frontend(x).sum().backward()
    assert torch.isfinite(frontend.conv.weight.grad).all() and torch.isfinite(x.grad).all()


def test_dieleman_parameter_counts():
    # Fig. 1: conv1d 32 x 8 over 128 features (128*8*32 + 32 = 32,800), conv1d 32 x 8 (8,224),
    # dense 100 over 32 x 10 frames left of a 3-s window (32,100), dense 50 (5,050).
    assert count_parameters(mm.build("dieleman2014")) == 78174
    # + the strided convolution, 128 filters of 256 samples (Table 1's 256/256): 32,896
    assert count_parameters(mm.build("dieleman2014", frontend="raw")) == 111070
    # L2 pools of 4 leave 32 features: conv1 shrinks to 32*8*32 + 32
    assert count_parameters(mm.build("dieleman2014", frontend="raw", pooling="l2")) == 86494
    assert "total" in mm.summary("dieleman2014") and "frontend.conv" in mm.summary("dieleman2014", frontend="raw")


def test_dieleman_predict_clip_averages_windows():
    torch.manual_seed(1)
    model = mm.build("dieleman2014", frontend="raw").eval()
    clip = _audio(1, 3 * model.n_samples, seed=2)[0]
    windows = clip.reshape(3, model.n_samples)
    with torch.no_grad():
        expected = model.predict(windows).mean(dim=0)
    result = model.predict_clip(clip)
    assert result.shape == (50,)
    torch.testing.assert_close(result, expected)
    assert not torch.allclose(expected, model.predict(windows)[0])  # the windows do differ


@pytest.mark.parametrize("frontend", ["mel", "raw"])
def test_dieleman_float64(frontend):
    model = mm.build("dieleman2014", frontend=frontend, n_classes=10).double()
    logits = model(_audio(2, model.n_samples).double())
    assert logits.dtype == torch.float64 and logits.shape == (2, 10) and torch.isfinite(logits).all()


@pytest.mark.parametrize(
    "options, match",
    [
        ({"stride": 300}, "stride=300"),
        ({"frontend": "raw", "nonlinearity": "tanh"}, "nonlinearity='tanh'"),
        ({"frontend": "raw", "pooling": "max", "pool_size": 3}, "pool_size=3"),
        ({"frontend": "raw", "pooling": "mean"}, "pooling='mean'"),
        ({"frontend": "raw", "pool_size": 2}, "pool_size=2"),
        ({"frontend": "cqt"}, "frontend='cqt'"),
        ({"length": 1024, "stride": 256}, "length=1024 with stride=256"),
        ({"nonlinearity": "log_abs"}, "frontend='raw'"),
        ({"frontend": "raw", "n_filters": 30, "pooling": "max"}, "n_filters=30"),
        ({"duration": 0.5}, "too short"),
        ({"duration": -1.0}, "duration"),
    ],
)
def test_dieleman_bad_options(options, match):
    with pytest.raises(ParameterError, match=match):
        mm.build("dieleman2014", **options)


# --------------------------------------------------------------------------- choi2018


def test_choi_k2c2_input_and_training_step():
    model = mm.build("choi2018", sample_rate=12000)
    assert model.n_samples == 348000 and model.sample_rate == 12000  # 29 s at 12 kHz
    x = _audio(2, model.n_samples)
    with torch.no_grad():
        features = model.frontend(x)
    assert features.shape == (2, 1, 96, 1360)  # the paper's input (1, 96, 1360)
    # per-sample standardisation is on by default
    torch.testing.assert_close(features.mean(dim=(-2, -1)), torch.zeros(2, 1), atol=1e-4, rtol=0)
    torch.testing.assert_close(features.std(dim=(-2, -1), correction=0), torch.ones(2, 1), atol=1e-4, rtol=0)
    _check_training_step(model, x, list(model.backend.named_parameters()))


def test_choi_stft_frontend_shapes():
    model = mm.build("choi2018", sample_rate=12000, frontend="stft").eval()
    x = _audio(1, model.n_samples)
    with torch.no_grad():
        features = model.frontend(x)
        assert features.shape == (1, 1, 257, 1360)  # 512-point DFT: 257 bins
        h = features
        for i in range(1, 6):
            h = getattr(model.backend, f"block{i}")(h)
        assert h.shape == (1, 32, 1, 1)  # Table 1's pools take 257 x 1360 to 1 x 1
        assert model.backend(features).shape == (1, 50)


def test_choi_mel_pools_reach_one_by_one():
    model = mm.build("choi2018").eval()
    with torch.no_grad():
        h = torch.zeros(1, 1, 96, 1360)
        for i in range(1, 6):
            h = getattr(model.backend, f"block{i}")(h)
    assert h.shape == (1, 32, 1, 1)


@pytest.mark.parametrize("db", [True, False])
@pytest.mark.parametrize("weighting", ["per_frequency", "a_weighting", "bypass"])
def test_choi_preprocessing_options(db, weighting):
    model = mm.build("choi2018", sample_rate=12000, db=db, weighting=weighting, per_sample_std=False)
    frontend = model.frontend
    x = _audio(1, model.n_samples)
    with torch.no_grad():
        power = frontend.spectrogram(x)
        S = frontend.features(x)
        out = frontend(x)
    assert out.shape == (1, 1, 96, 1360) and torch.isfinite(out).all()
    if db:
        assert S.amax() == 0 and S.amin() >= -80.0  # dB re each spectrogram's maximum, 80 dB range
    else:
        torch.testing.assert_close(S, power)
    centres = filters.mel_frequencies(98, fmin=0.0, fmax=6000.0)[1:-1]
    if weighting == "a_weighting":
        expected = a_weight(S[0].numpy(), frequencies=centres, kind="db" if db else "power")
        np.testing.assert_allclose(out[0, 0].numpy(), expected, rtol=1e-5, atol=1e-5 if db else 1e-12)
    else:  # per-frequency statistics start at 0 / 1: a bypass until fitted
        torch.testing.assert_close(out[:, 0], S)


def test_choi_scaler():
    model = mm.build("choi2018", sample_rate=12000, scale=10.0)
    reference = mm.build("choi2018", sample_rate=12000)
    x = _audio(1, model.n_samples)
    with torch.no_grad():
        torch.testing.assert_close(model.frontend(x), 10.0 * reference.frontend(x))


def test_choi_fit_standardization():
    model = mm.build("choi2018", sample_rate=12000, weighting="per_frequency", per_sample_std=False)
    frontend = model.frontend
    assert isinstance(frontend, ChoiFrontend)
    train = _audio(3, model.n_samples, seed=3) * torch.linspace(0.2, 1.0, 3)[:, None]
    assert frontend.fit_standardization(train, batch_size=2) is frontend
    with torch.no_grad():
        S = frontend.features(train)
        out = frontend(train)[:, 0]
    mean, std = S.double().mean(dim=(0, -1)), S.double().std(dim=(0, -1), correction=0)
    torch.testing.assert_close(frontend.weighting.mean[:, 0].double(), mean, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(frontend.weighting.std[:, 0].double(), std, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(out.mean(dim=(0, -1)), torch.zeros(96), atol=1e-3, rtol=0)
    torch.testing.assert_close(out.std(dim=(0, -1), correction=0), torch.ones(96), atol=1e-3, rtol=0)
    assert "frontend.weighting.mean" in model.state_dict()
    with pytest.raises(ParameterError, match="per_frequency"):
        mm.build("choi2018").frontend.fit_standardization(train)


def test_choi_parameter_counts():
    # Table 1: 5 x Conv2d (32, (3, 3)) -> 1*9*32 + 32 = 320 and 4 x (32*9*32 + 32) = 36,992; a batch norm per
    # block (Sec. 2.4.2; gamma and beta: 5 x 64 = 320); Fully-connected (50) over 32 x 1 x 1: 1,650.
    assert count_parameters(mm.build("choi2018")) == 39282
    assert count_parameters(mm.build("choi2018", frontend="stft")) == 39282
    assert "backend.block5" in mm.summary("choi2018", sample_rate=12000)


def test_choi_float64():
    model = mm.build("choi2018", sample_rate=12000, weighting="a_weighting", n_classes=5).double().eval()
    with torch.no_grad():
        logits = model(_audio(1, model.n_samples).double())
    assert logits.dtype == torch.float64 and logits.shape == (1, 5) and torch.isfinite(logits).all()


@pytest.mark.parametrize(
    "options, match",
    [
        ({"frontend": "cqt"}, "frontend='cqt'"),
        ({"weighting": "pcen"}, "weighting='pcen'"),
        ({"db": "yes"}, "db='yes'"),
        ({"n_samples": 12000 * 10}, "n_samples=120000"),
        ({"scale": float("nan")}, "scale"),
    ],
)
def test_choi_bad_options(options, match):
    with pytest.raises(ParameterError, match=match):
        mm.build("choi2018", **options)


# --------------------------------------------------------------------------- AWeighting


@pytest.mark.parametrize("kind", ["db", "power", "amplitude"])
def test_a_weighting_matches_functional(kind):
    rng = np.random.default_rng(0)
    frequencies = filters.fft_frequencies(sr=12000, n_fft=64)
    S = rng.random((2, 33, 7))
    module = AWeighting(frequencies, kind=kind)
    expected = a_weight(S, frequencies=frequencies, kind=kind)
    np.testing.assert_allclose(module.double()(torch.from_numpy(S)).numpy(), expected, rtol=1e-12, atol=1e-12)
    module32 = AWeighting(frequencies, kind=kind)
    out32 = module32(torch.from_numpy(S.astype(np.float32)))
    assert out32.dtype == torch.float32
    np.testing.assert_allclose(out32.numpy(), a_weight(S.astype(np.float32), frequencies=frequencies, kind=kind),
                               rtol=1e-5, atol=1e-5)


def test_a_weighting_errors():
    with pytest.raises(ParameterError, match="kind='dB'"):
        AWeighting([100.0, 1000.0], kind="dB")
    with pytest.raises(ParameterError, match="3 rows"):
        AWeighting([100.0, 1000.0])(torch.zeros(3, 4))
    with pytest.raises(ParameterError, match="min_db=None"):
        AWeighting([0.0, 1000.0], min_db=None)
    with pytest.raises(ParameterError, match="frequencies"):
        AWeighting([-5.0, 1000.0])


def test_strided_conv_frontend_errors():
    with pytest.raises(ParameterError, match="pool_size=1 does not fit pooling='max'"):
        StridedConvFrontend(256, 256, 128, pooling="max")
    with pytest.raises(ParameterError, match="n_filters=10"):
        StridedConvFrontend(256, 256, 10, pooling="l2", pool_size=4)
    with pytest.raises(ParameterError, match="stride=0"):
        StridedConvFrontend(256, 0)
