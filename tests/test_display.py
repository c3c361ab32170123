"""Plots of filter responses and modulation representations (modspec.display)."""

import numpy as np
import pytest

pytest.importorskip("matplotlib", reason="modspec.display needs the 'plot' extra (matplotlib)")

import matplotlib.pyplot as plt

from modspec import display, filters
from modspec.errors import ParameterError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SR = 16000
FRAME_RATE = 62.5  # 16 kHz, hop 256


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def assert_png(fig, path):
    fig.savefig(path, format="png")
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert len(data) > 5000, f"{path.name} is only {len(data)} bytes"


def image_axes(fig):
    return [ax for ax in fig.axes if ax.images]


@pytest.fixture
def sinc_bank():
    return filters.sinc_bandpass(8, 256, sr=SR)


@pytest.fixture
def mod_bank():
    return filters.modulation_sinc(4, 101, frame_rate=FRAME_RATE)


# --------------------------------------------------------------------------- filter_responses


def test_filter_responses_lines(sinc_bank, tmp_path):
    fig = display.filter_responses(sinc_bank, sr=SR, title="sinc bank")
    assert_png(fig, tmp_path / "sinc.png")
    (ax,) = fig.axes
    assert len(ax.lines) == 8
    assert ax.get_xlabel() == "frequency (Hz)"
    # Cut-offs of the SincBank are marked (as collections, not extra lines).
    assert len(ax.collections) == 2
    n_fft = 1024  # next power of two >= 4 * 256
    for line in ax.lines:
        np.testing.assert_allclose(line.get_xdata(), np.fft.rfftfreq(n_fft, 1 / SR))
        assert line.get_xdata()[-1] == SR / 2


def test_filter_responses_db_normalisation(sinc_bank):
    # Scale one filter up: it alone reaches 0 dB, the others stay below; all stay at or above the floor.
    weights = np.array(sinc_bank.filters)
    weights[3] *= 4.0
    fig = display.filter_responses(weights, sr=SR, db_floor=-60.0)
    ydata = [np.asarray(line.get_ydata()) for line in fig.axes[0].lines]
    peaks = np.array([y.max() for y in ydata])
    assert peaks[3] == pytest.approx(0.0, abs=1e-12)
    others = np.delete(peaks, 3)
    np.testing.assert_allclose(others, 20 * np.log10(1 / 4), atol=0.5)  # unit pass-band gain, 1/4 of the peak
    assert min(y.min() for y in ydata) >= -60.0
    assert min(y.min() for y in ydata) == pytest.approx(-60.0)  # the stop bands do reach the floor


def test_filter_responses_sinc_peak_in_band(sinc_bank):
    fig = display.filter_responses(sinc_bank, sr=SR)
    lines = fig.axes[0].lines
    assert len(lines) == len(sinc_bank.low_hz)
    for line, low, high in zip(lines, sinc_bank.low_hz, sinc_bank.high_hz, strict=True):
        peak_hz = line.get_xdata()[np.argmax(line.get_ydata())]
        assert low <= peak_hz <= high, (peak_hz, low, high)


def test_filter_responses_image_and_cutoffs(tmp_path):
    weights = filters.sinc_bandpass(20, 128, sr=SR)
    fig = display.filter_responses(weights.filters, sr=SR, kind="image", n_fft=512,
                                   low_hz=weights.low_hz, high_hz=weights.high_hz)
    assert_png(fig, tmp_path / "image.png")
    (ax,) = image_axes(fig)
    (image,) = ax.images
    assert image.get_array().shape == (20, 257)
    assert image.get_array().max() == pytest.approx(0.0)
    assert image.get_array().min() >= -80.0
    assert len(fig.axes) == 2  # the image and its colour bar
    assert len(ax.collections) == 2  # low and high cut-off markers


def test_filter_responses_into_given_axes(sinc_bank):
    fig, (left, right) = plt.subplots(1, 2)
    out = display.filter_responses(sinc_bank, sr=SR, ax=right)
    assert out is fig
    assert len(right.lines) == 8 and not left.lines


# --------------------------------------------------------------------------- modulation_filter_responses


def test_modulation_filter_responses_lines(mod_bank, tmp_path):
    fig = display.modulation_filter_responses(mod_bank, frame_rate=FRAME_RATE)
    assert_png(fig, tmp_path / "mod.png")
    (ax,) = fig.axes
    assert len(ax.lines) == 4
    assert ax.get_xlabel() == "modulation frequency (Hz)"
    assert ax.get_xlim() == (0.0, FRAME_RATE / 2)
    assert max(np.max(line.get_ydata()) for line in ax.lines) == pytest.approx(0.0)
    for line, low, high in zip(ax.lines, mod_bank.low_hz, mod_bank.high_hz, strict=True):
        assert line.get_xdata()[-1] == FRAME_RATE / 2
        peak_hz = line.get_xdata()[np.argmax(line.get_ydata())]
        assert low <= peak_hz <= high, (peak_hz, low, high)


def test_modulation_filter_responses_fir_init_image(tmp_path):
    bank = filters.modulation_fir_init(20, 80)
    fig = display.modulation_filter_responses(bank, frame_rate=400.0, kind="image")
    assert_png(fig, tmp_path / "fir.png")
    (ax,) = image_axes(fig)
    assert ax.images[0].get_array().shape == (20, 1 + 512 // 2)
    # Unit-sum smoothing windows: low-passes whose peak is at 0 Hz.
    assert np.all(np.argmax(ax.images[0].get_array(), axis=1) == 0)


# --------------------------------------------------------------------------- modulation_spectrum


def test_modulation_spectrum_stack(tmp_path):
    mod_freqs = np.linspace(0.0, 32.0, 129)
    spectra = np.stack([np.exp(-0.5 * ((mod_freqs - c) / 1.5) ** 2) + 1e-3 for c in (2.0, 4.0, 8.0)])
    fig = display.modulation_spectrum(spectra, mod_freqs, labels=["a", "b", "c"], title="modulation spectra")
    assert_png(fig, tmp_path / "spectrum.png")
    (ax,) = fig.axes
    assert len(ax.lines) == 3
    assert ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b", "c"]
    for line, curve in zip(ax.lines, spectra, strict=True):
        np.testing.assert_array_equal(line.get_xdata(), mod_freqs[1:])  # 0 Hz skipped on the log axis
        np.testing.assert_array_equal(line.get_ydata(), curve[1:])


def test_modulation_spectrum_single_linear_db():
    mod_freqs = np.linspace(0.0, 20.0, 41)
    spectrum = 1.0 + mod_freqs
    fig = display.modulation_spectrum(spectrum, mod_freqs, log_x=False, db=True, db_floor=-40.0, fmin=5.0)
    (line,) = fig.axes[0].lines
    assert fig.axes[0].get_xscale() == "linear"
    assert fig.axes[0].get_legend() is None
    assert line.get_xdata()[0] == 5.0
    assert np.max(line.get_ydata()) == pytest.approx(0.0)
    np.testing.assert_allclose(line.get_ydata(), 20 * np.log10(spectrum[mod_freqs >= 5.0] / 21.0))


def test_modulation_spectrum_power_db():
    mod_freqs = np.arange(1.0, 5.0)
    fig = display.modulation_spectrum(np.array([1.0, 0.1, 0.01, 1e-12]), mod_freqs, db=True, power=2)
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), [0.0, -10.0, -20.0, -80.0])


# --------------------------------------------------------------------------- modulation_response


def test_modulation_response_panels(rng, tmp_path):
    n_bands, n_channels, n_frames = 24, 5, 120
    S = rng.random((n_bands, n_channels, n_frames))
    S[:, 2] *= 10.0  # one louder channel sets the shared 0 dB
    labels = [f"{lo}-{hi} Hz" for lo, hi in zip(range(0, 25, 5), range(5, 30, 5), strict=True)]
    fig = display.modulation_response(S, frame_rate=100.0, mod_labels=labels, title="clip")
    assert_png(fig, tmp_path / "response.png")
    panels = image_axes(fig)
    assert len(panels) == n_channels
    assert len(fig.axes) == n_channels + 1  # unused grid cells removed; one shared colour bar
    assert [ax.get_title() for ax in panels] == labels
    limits = {ax.images[0].get_clim() for ax in panels}
    assert limits == {(-80.0, 0.0)}  # one colour scale for every panel
    peaks = [ax.images[0].get_array().max() for ax in panels]
    assert peaks[2] == pytest.approx(0.0) and max(np.delete(peaks, 2)) < -10.0
    for ax in panels:
        assert ax.images[0].get_array().shape == (n_bands, n_frames)
        assert ax.images[0].get_extent()[:2] == [0.0, n_frames / 100.0]  # time in seconds


def test_modulation_response_linear_signed(rng):
    S = rng.standard_normal((10, 3, 50))
    fig = display.modulation_response(S, frame_rate=50.0, db=False, ncols=3, band_labels=np.arange(10) * 100)
    panels = image_axes(fig)
    assert len(panels) == 3
    vmax = np.abs(S).max()
    assert {ax.images[0].get_clim() for ax in panels} == {(-vmax, vmax)}
    np.testing.assert_array_equal(panels[1].images[0].get_array(), S[:, 1, :])


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: display.filter_responses(np.ones(16), sr=SR), r"filters has shape \(16,\).*n_filters, kernel_size"),
        (lambda: display.filter_responses(np.ones((2, 2, 16)), sr=SR), r"filters has shape \(2, 2, 16\)"),
        (lambda: display.filter_responses(np.ones((2, 16)), sr=0), r"sr=0 must be a positive number"),
        (lambda: display.filter_responses(np.ones((2, 16)), sr=-8000.0), r"sr=-8000.0"),
        (lambda: display.filter_responses(np.ones((2, 16)), sr=SR, kind="bars"), r"kind='bars'.*'lines' or 'image'"),
        (lambda: display.filter_responses(np.ones((2, 16)), sr=SR, n_fft=8), r"n_fft=8.*kernel_size=16"),
        (lambda: display.filter_responses(np.ones((2, 16)), sr=SR, db_floor=10.0), r"db_floor=10.0.*negative"),
        (lambda: display.filter_responses(np.zeros((2, 16)), sr=SR), r"filters is zero everywhere"),
        (lambda: display.filter_responses(np.full((2, 16), np.nan), sr=SR), r"filters contains 32 non-finite"),
        (lambda: display.filter_responses(np.ones((2, 16)), sr=SR, low_hz=[100.0]), r"low_hz has 1 values.*2 filters"),
        (lambda: display.filter_responses(np.ones((2, 16)), sr=SR, high_hz=[100.0, 9000.0]),
         r"high_hz.*\[0, 8000.0\] Hz"),
        (lambda: display.modulation_filter_responses(np.ones((2, 16)), frame_rate=0.0), r"frame_rate=0.0 must be"),
        (lambda: display.modulation_filter_responses(np.ones((2, 16)), frame_rate=50.0, kind="3d"), r"kind='3d'"),
        (lambda: display.modulation_spectrum(np.ones((2, 3, 4)), np.arange(4.0)), r"spectrum has shape \(2, 3, 4\)"),
        (lambda: display.modulation_spectrum(np.ones(5), np.arange(4.0)),
         r"spectrum has 5 modulation frequencies.*mod_freqs has 4"),
        (lambda: display.modulation_spectrum(np.ones(4), np.arange(4.0).reshape(2, 2)),
         r"mod_freqs has shape \(2, 2\)"),
        (lambda: display.modulation_spectrum(np.ones(3), np.array([0.0, 2.0, 1.0])), r"mod_freqs must be strictly"),
        (lambda: display.modulation_spectrum(np.ones(3), np.array([-1.0, 1.0, 2.0])), r"mod_freqs has a negative"),
        (lambda: display.modulation_spectrum(np.ones((2, 3)), np.arange(3.0), labels=["a"]),
         r"labels has 1 entries.*2"),
        (lambda: display.modulation_spectrum(np.ones(3), np.arange(3.0), fmin=0.0), r"fmin=0.0 must be a positive"),
        (lambda: display.modulation_spectrum(np.ones(3), np.arange(3.0), fmin=5.0), r"fmin=5.0 Hz is above"),
        (lambda: display.modulation_spectrum(np.ones(2), np.array([0.0, 1.0]), db=True, power=3), r"power=3"),
        (lambda: display.modulation_spectrum(np.ones(1), np.zeros(1)), r"no positive frequency.*log_x=False"),
        (lambda: display.modulation_response(np.ones((4, 50)), frame_rate=100.0),
         r"S has shape \(4, 50\).*n_bands, n_channels, n_frames"),
        (lambda: display.modulation_response(np.ones((1, 4, 2, 50)), frame_rate=100.0), r"S\[0\]"),
        (lambda: display.modulation_response(np.ones((4, 2, 50)), frame_rate=-1), r"frame_rate=-1 must be"),
        (lambda: display.modulation_response(np.ones((4, 2, 50)), frame_rate=100.0, mod_labels=["x"]),
         r"mod_labels has 1 entries.*2"),
        (lambda: display.modulation_response(np.ones((4, 2, 50)), frame_rate=100.0, band_labels=["x"]),
         r"band_labels has 1 entries.*4"),
        (lambda: display.modulation_response(np.ones((4, 2, 50)), frame_rate=100.0, ncols=0), r"ncols=0"),
        (lambda: display.modulation_response(np.zeros((4, 2, 50)), frame_rate=100.0), r"S is zero.*db=False"),
        (lambda: display.modulation_response(np.ones((4, 2, 50)) * 1j, frame_rate=100.0), r"S has complex dtype"),
    ],
)
def test_errors(call, match):
    with pytest.raises(ParameterError, match=match):
        call()
    assert not plt.get_fignums()  # validation happens before any figure is made


def test_tag_metrics_bars_and_errors():
    import matplotlib.pyplot as plt

    from modspec import display
    from modspec.errors import ParameterError

    a = {"roc_auc": 0.75, "per_tag": [{"tag": "x", "roc_auc": 0.9}, {"tag": "y", "roc_auc": None}]}
    b = {"roc_auc": 0.6, "per_tag": [{"tag": "x", "roc_auc": 0.6}, {"tag": "y", "roc_auc": 0.6}]}
    fig = display.tag_metrics({"a": a, "b": b})
    ax = fig.axes[0]
    heights = [p.get_height() for p in ax.patches]
    assert heights[0] == 0.9 and np.isnan(heights[1]) and heights[2:] == [0.6, 0.6]  # a's bars, then b's
    assert [t.get_text() for t in ax.get_xticklabels()] == ["x", "y"]
    assert "a (macro 0.750)" in [t.get_text() for t in ax.get_legend().get_texts()]
    plt.close(fig)
    with pytest.raises(ParameterError, match="other tags"):
        display.tag_metrics({"a": a, "c": {"per_tag": [{"tag": "z", "roc_auc": 0.5}] * 2}})
    with pytest.raises(ParameterError, match="metric="):
        display.tag_metrics({"a": a}, metric="f1")
