"""Harmonic CNN (Won et al. 2020) and TMNN (Ma & Stern 2022): shapes, parameters, gradients, options."""

import pytest

torch = pytest.importorskip("torch")

import modspec.models as mm
from modspec.errors import ParameterError
from modspec.models import count_parameters
from modspec.models.tmnn import POOLING, pooling_plan

SR = 16000


def _audio(n_clips, n_samples, seed=0, dtype=torch.float32):
    torch.manual_seed(seed)
    return (0.1 * torch.randn(n_clips, n_samples)).to(dtype)


# Parameter counts, default options (n_classes=50, 16 kHz). The back end follows Won et al.'s
# code (sota-music-tagging-models HarmonicCNN), which TMNN's section 2.3 describes as "12 layers
# of ResNet convolution and two fully-connected layers": BatchNorm2d(C) on the input channels
# (2C), conv3x3 C->128 (+bias) + BN, 3 residual blocks of two conv3x3 128->128 + BN,
# conv3x3 128->256 + BN, 2 residual blocks of two conv3x3 256->256 + BN (1 + 6 + 1 + 4 = 12 convs),
# dense 256->256, BatchNorm1d(256), dense 256->50; front end: Q (1) and, for TMNN, the cut-offs of
# the M sinc modulation filters (2M). C = 6 harmonics, 1 harmonic, 6 x (M + 1) = 12, 1 x 2 = 2.
# E.g. harmoniccnn: 12 + 7296 + 3 * 295680 + 295680 + 2 * 1181184 + 65792 + 512 + 12850 + 1.
@pytest.mark.parametrize(
    "name, options, expected",
    [
        ("harmoniccnn", {}, 3631551),
        ("harmoniccnn", {"n_harmonic": 1}, 3625781),
        ("tmnn", {}, 3638477),
        ("tmnn", {"n_harmonic": 1}, 3626937),
        ("tmnn", {"frontend": "mel"}, 3626936),  # no Q, 2 cut-offs
    ],
)
def test_parameter_count(name, options, expected):
    assert count_parameters(mm.build(name, **options)) == expected


def test_fixed_Q_is_not_a_parameter():
    learned, fixed = mm.build("harmoniccnn"), mm.build("harmoniccnn", learn_Q=False)
    assert count_parameters(learned) - count_parameters(fixed) == 1
    assert "Q" in dict(learned.frontend.named_parameters())
    assert "Q" in dict(fixed.frontend.named_buffers())


# Front-end outputs on the papers' 5-s windows at 16 kHz (80000 samples, Won et al.'s input_length):
# 512-point FFT with 50 % overlap -> 1 + 80000 // 256 = 313 frames; 2 bands per semitone from C1
# to sr / (2 n_harmonic) -> 128 bands for 6 harmonics, 190 for 1; TMNN stacks harmonics x (M + 1).
@pytest.mark.parametrize(
    "name, options, shape",
    [
        ("harmoniccnn", {}, (1, 6, 128, 313)),
        ("harmoniccnn", {"n_harmonic": 1}, (1, 1, 190, 313)),
        ("tmnn", {}, (1, 12, 128, 313)),
        ("tmnn", {"n_harmonic": 1}, (1, 2, 190, 313)),
        ("tmnn", {"frontend": "mel"}, (1, 2, 128, 313)),
        ("tmnn", {"n_modulation": 3}, (1, 24, 128, 313)),
    ],
)
def test_frontend_shape_on_the_paper_window(name, options, shape):
    model = mm.build(name, **options)
    assert model.n_samples == 80000 and model.sample_rate == SR
    with torch.no_grad():
        features = model.frontend(_audio(1, model.n_samples))
    assert tuple(features.shape) == shape
    assert torch.isfinite(features).all()


@pytest.mark.parametrize("name", ["harmoniccnn", "tmnn"])
def test_paper_window_logits(name):
    model = mm.build(name).eval()
    with torch.no_grad():
        logits = model(_audio(1, 80000))
    assert logits.shape == (1, 50) and torch.isfinite(logits).all()


def test_pooling_plan_reduces_to_one_by_one():
    assert pooling_plan(128, 313) == list(POOLING)  # Won et al.'s MTAT plan, unchanged
    # 1-s windows (63 frames): time stops being pooled at 1 frame, frequency keeps halving
    assert pooling_plan(128, 63)[-2:] == [(2, 1), (2, 1)]
    for n_bands, n_frames in [(128, 313), (190, 313), (128, 63), (190, 63)]:
        f, t = n_bands, n_frames
        for pf, pt in pooling_plan(n_bands, n_frames):
            f, t = f // pf, t // pt
        assert (f, t) == (1, 1)


@pytest.mark.parametrize(
    "name, options",
    [("harmoniccnn", {}), ("tmnn", {}), ("tmnn", {"frontend": "mel", "n_modulation": 2})],
)
def test_forward_backward_reaches_the_front_end(name, options):
    torch.manual_seed(0)
    model = mm.build(name, duration=0.5, **options).train()
    assert model.n_samples == 8000
    logits = model(_audio(2, model.n_samples))
    assert logits.shape == (2, 50) and torch.isfinite(logits).all()
    torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.rand(2, 50).round()).backward()
    learnable = {"harmoniccnn": ["Q"], "tmnn": ["spectrogram.Q", "modulation.low_hz", "modulation.high_hz"]}[name]
    if options.get("frontend") == "mel":
        learnable = ["modulation.low_hz", "modulation.high_hz"]
    front = dict(model.frontend.named_parameters())
    assert sorted(front) == sorted(learnable)
    for param_name in learnable:
        grad = front[param_name].grad
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0, param_name
    grad = model.backend.layer1.conv.weight.grad
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0


@pytest.mark.parametrize("name", ["harmoniccnn", "tmnn"])
def test_float64(name):
    model = mm.build(name, duration=0.25).double().eval()
    with torch.no_grad():
        logits = model(_audio(2, model.n_samples, dtype=torch.float64))
    assert logits.dtype == torch.float64 and torch.isfinite(logits).all()


def test_speech_commands_setting():
    model = mm.build("tmnn", n_classes=35, duration=1.0, loss="ce").eval()
    assert model.n_samples == 16000 and model.loss == "ce"
    with torch.no_grad():
        assert tuple(model.frontend(_audio(1, 16000)).shape) == (1, 12, 128, 63)
        probs = model.predict(_audio(2, 16000))
    assert probs.shape == (2, 35)
    torch.testing.assert_close(probs.sum(-1), torch.ones(2))


def test_tmnn_channels_are_harmonic_major_with_the_unfiltered_spectrum_first():
    model = mm.build("tmnn", n_modulation=2, duration=0.5)
    y = _audio(2, model.n_samples)
    with torch.no_grad():
        features = model.frontend(y)
        spectrum = model.frontend.spectrogram(y)  # (2, 6, 128, 32)
        filtered = model.frontend.modulation(spectrum)  # (2, 6, 128, 3, 32)
    assert features.shape == (2, 18, 128, 32)
    torch.testing.assert_close(features[:, 0::3], spectrum)  # channel h * (M + 1): harmonic h, unfiltered
    torch.testing.assert_close(features[:, 4], filtered[:, 1, :, 1])  # harmonic 1, filter 1
    assert not torch.allclose(features[:, 1], features[:, 0])  # the filter does change the envelopes


def test_tmnn_initial_modulation_filter_is_a_low_pass():
    modulation = mm.build("tmnn").frontend.modulation
    assert modulation.kernel_size == 101 and modulation.all_pass and modulation.frame_rate == SR / 256
    low, high = modulation.cutoffs()
    torch.testing.assert_close(low, torch.tensor([0.0]))
    torch.testing.assert_close(high, torch.tensor([SR / 256 / 4]))
    low, high = mm.build("tmnn", n_modulation=4, max_mod_hz=20.0).frontend.modulation.cutoffs()
    torch.testing.assert_close(high, torch.tensor([5.0, 10.0, 15.0, 20.0]))


@pytest.mark.parametrize("name", ["harmoniccnn", "tmnn"])
def test_summary_runs(name):
    text = mm.summary(name)
    assert "backend.layer7" in text and "window=80000 samples (5.00 s)" in text


@pytest.mark.parametrize(
    "name, options, match",
    [
        ("harmoniccnn", {"n_harmonic": 3}, "n_harmonic=3"),
        ("tmnn", {"n_harmonic": 3}, "n_harmonic=3"),
        ("harmoniccnn", {"n_harmonic": True}, "n_harmonic=True"),
        ("tmnn", {"n_modulation": 0}, "n_modulation"),
        ("tmnn", {"frontend": "foo"}, "frontend='foo'"),
        ("tmnn", {"frontend": "mel", "n_harmonic": 6}, "n_harmonic=6 applies to frontend='harmonic'"),
        ("tmnn", {"frontend": "mel", "learn_Q": False}, "learn_Q=False applies to frontend='harmonic'"),
        ("tmnn", {"max_mod_hz": 40.0}, "max_mod_hz=40.0"),
        ("tmnn", {"max_mod_hz": -1.0}, "max_mod_hz"),
        ("tmnn", {"n_modulation": 40}, "min_band_hz"),
        ("harmoniccnn", {"loss": "mse"}, "loss='mse'"),
        ("harmoniccnn", {"duration": 0}, "duration"),
        ("harmoniccnn", {"duration": 0.01}, "duration=0.01"),
        ("harmoniccnn", {"n_modulation": 2}, "no option 'n_modulation'"),
    ],
)
def test_bad_options(name, options, match):
    with pytest.raises(ParameterError, match=match):
        mm.build(name, **options)
