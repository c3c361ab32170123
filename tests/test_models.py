"""The model registry and what every model shares (TaggingModel): options, windows, clip predictions."""

import pytest

torch = pytest.importorskip("torch")

import modspec.models as mm  # noqa: E402
from modspec.errors import ParameterError  # noqa: E402
from modspec.models._base import TaggingModel, window_clips  # noqa: E402


class _MeanBackend(torch.nn.Module):
    """Logits = a linear map of the window's mean and absolute mean: easy to predict by hand."""

    def __init__(self, n_classes):
        super().__init__()
        self.linear = torch.nn.Linear(2, n_classes)

    def forward(self, x):
        return self.linear(torch.stack([x.mean(-1), x.abs().mean(-1)], dim=-1))


def _toy(n_samples=8, n_classes=3, loss="bce"):
    torch.manual_seed(0)
    return TaggingModel(
        torch.nn.Identity(), _MeanBackend(n_classes), sample_rate=8, n_samples=n_samples, n_classes=n_classes, loss=loss
    )


def test_available_lists_the_five_papers_models():
    assert mm.available() == sorted(
        ["dieleman2014", "choi2018", "modnet", "sincmodnet", "harmoniccnn", "tmnn", "jtfs_packnet"]
    )


def test_unknown_model_names_the_available_ones():
    with pytest.raises(ParameterError, match="unknown model 'resnet50'.*dieleman2014"):
        mm.build("resnet50")


def test_unknown_option_is_named():
    with pytest.raises(ParameterError, match="no option 'n_mels_typo'"):
        mm.build("dieleman2014", n_mels_typo=3)


@pytest.mark.parametrize("n_classes", [0, -1, 2.5])
def test_bad_n_classes(n_classes):
    with pytest.raises(ParameterError, match="n_classes"):
        mm.build("dieleman2014", n_classes=n_classes)


def test_bad_sample_rate():
    with pytest.raises(ParameterError, match="sample_rate"):
        mm.build("dieleman2014", sample_rate=0)


def test_every_builder_documents_its_options():
    import inspect

    for name in mm.available():
        doc = inspect.getdoc(mm.builder(name))
        assert doc, name
        assert mm.option_names(name), name
        for option in mm.option_names(name):
            assert option in doc, (name, option)


def test_forward_checks_the_batch_layout():
    model = _toy()
    with pytest.raises(ParameterError, match=r"\(batch, n_samples\)"):
        model(torch.zeros(8))
    with pytest.raises(ParameterError, match="floating-point"):
        model(torch.zeros(2, 8, dtype=torch.int16))


def test_unknown_loss():
    with pytest.raises(ParameterError, match="loss='hinge'"):
        TaggingModel(torch.nn.Identity(), torch.nn.Identity(), sample_rate=8, n_samples=8, n_classes=2, loss="hinge")


def test_window_clips_covers_the_tail():
    clips = torch.arange(20.0).reshape(1, 20)
    windows, owner = window_clips(clips, 8, 8)
    assert windows[:, 0].tolist() == [0.0, 8.0, 12.0]  # the last window is aligned to the clip's end
    assert owner.tolist() == [0, 0, 0]
    short, _ = window_clips(torch.ones(2, 5), 8, 8)
    assert short.shape == (2, 8) and short[:, 5:].abs().sum() == 0  # zero-padded to one window


def test_predict_clip_averages_window_predictions():
    model = _toy()
    torch.manual_seed(1)
    clips = torch.randn(2, 24)
    expected = torch.stack([
        torch.stack([model.predict(clip[None, s : s + 8])[0] for s in (0, 8, 16)]).mean(0) for clip in clips
    ])
    torch.testing.assert_close(model.predict_clip(clips, batch_size=2), expected)
    torch.testing.assert_close(model.predict_clip(clips[0]), expected[0])
    # hop 4 adds the overlapping windows
    hop4 = torch.stack([model.predict(clips[:1, s : s + 8])[0] for s in range(0, 17, 4)]).mean(0)
    torch.testing.assert_close(model.predict_clip(clips[0], hop=4), hop4)


def test_predict_uses_the_loss_activation():
    model = _toy(loss="ce")
    x = torch.randn(3, 8)
    probs = model.predict(x)
    torch.testing.assert_close(probs.sum(-1), torch.ones(3))
    torch.testing.assert_close(_toy(loss="bce").predict(x), torch.sigmoid(_toy(loss="bce")(x)))


#: Smaller front ends where the paper's take long on the CPU (the code path is the same).
SMALL_OPTIONS = {"jtfs_packnet": {"n_samples": 4096, "J": 6, "Q": (8, 2)}}


@pytest.mark.parametrize("name", mm.available())
def test_mixed_precision_leaves_the_front_end_at_full_precision(name):
    """Under autocast (AMP training) the back end may run in float16, the front end not: same features, gradients."""
    torch.manual_seed(0)
    model = mm.build(name, **SMALL_OPTIONS.get(name, {}))
    x = 0.1 * torch.randn(2, model.n_samples)  # two clips: the back ends' batch norms need more than one
    features = []
    model.frontend.register_forward_hook(lambda module, args, out: features.append(out))
    with torch.autocast("cpu", dtype=torch.float16):
        logits = model(x)
    assert features[0].dtype == torch.float32
    torch.testing.assert_close(features[0], model.frontend(x), rtol=1e-6, atol=0)
    logits.float().sum().backward()
    grads = [p.grad for p in model.frontend.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
