"""Plots of scalograms and of the joint time-frequency scattering (modspec.display.scalogram / jtfs)."""

import numpy as np
import pytest

pytest.importorskip("matplotlib", reason="modspec.display needs the 'plot' extra (matplotlib)")

import matplotlib.pyplot as plt

from modspec import display
from modspec.errors import ParameterError
from modspec.features.scattering import jtfs, jtfs_meta, scalogram

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SR = 16000
N = 16384
KW = {"J": 6, "J_fr": 2, "Q": (8, 2)}
HOP = 2**KW["J"]  # jtfs frames: T = 2**J by default


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _glissando(f0, f1, n=N, sr=SR):
    """An exponential glissando from f0 to f1 Hz under a Hann window (no onset or offset clicks)."""
    t = np.arange(n) / sr
    c = np.log(f1 / f0) / (n / sr)
    return 0.5 * np.sin(2 * np.pi * f0 * (np.exp(c * t) - 1) / c) * np.hanning(n)


@pytest.fixture(scope="module")
def glissandi():
    """jtfs ('time' and 'joint') of a glissando up (index 0) and one down (index 1), with their meta."""
    y = np.stack([_glissando(200.0, 3200.0), _glissando(3200.0, 200.0)])
    return {
        "time": (jtfs(y, **KW), jtfs_meta(**KW)),
        "joint": (jtfs(y, format="joint", **KW), jtfs_meta(format="joint", **KW)),
    }


def _maps(fig):
    """The overview's arrays: spin +1, spin -1, balance."""
    return [np.asarray(ax.images[0].get_array(), dtype=np.float64) for ax in fig.axes[:3]]


def assert_png(fig, path):
    fig.savefig(path, format="png")
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert len(data) > 5000, f"{path.name} is only {len(data)} bytes"


# --------------------------------------------------------------------------- scalogram


@pytest.fixture(scope="module")
def chirp_scalogram():
    return scalogram(_glissando(200.0, 3200.0, n=8192), J=8, Q=8, hop_length=64, sr=SR)


def test_scalogram_image_low_frequencies_at_bottom(chirp_scalogram, tmp_path):
    S, freqs = chirp_scalogram
    ax = display.scalogram(S, freqs, hop_length=64, sr=SR, title="glissando")
    assert_png(ax.figure, tmp_path / "scalogram.png")
    assert isinstance(ax, plt.Axes)
    (image,) = ax.images
    np.testing.assert_array_equal(image.get_array(), S[::-1])  # rows by increasing frequency
    assert image.origin == "lower"
    assert ax.get_ylabel() == "frequency (Hz)" and ax.get_xlabel() == "time (s)"
    assert ax.get_title() == "glissando"
    # Pixel centres at the frames' instants: frame t at t * hop / sr seconds.
    step = 64 / SR
    np.testing.assert_allclose(image.get_extent(), [-0.5 * step, (S.shape[1] - 0.5) * step, -0.5, S.shape[0] - 0.5])
    # Octave ticks in Hz, increasing up the axis, at the rows of those frequencies.
    labels = [float(t.get_text()) for t in ax.get_yticklabels()]
    assert 1000.0 in labels and np.all(np.diff(labels) > 0)
    positions = ax.get_yticks()
    freqs_up = freqs[::-1]
    row_1k = positions[labels.index(1000.0)]
    below, above = freqs_up[int(np.floor(row_1k))], freqs_up[int(np.ceil(row_1k))]
    assert below <= 1000.0 <= above
    assert len(ax.figure.axes) == 2  # the image and its colour bar


def test_scalogram_accepts_increasing_freqs(chirp_scalogram):
    S, freqs = chirp_scalogram
    a = display.scalogram(S, freqs, sr=SR, hop_length=64).images[0].get_array()
    b = display.scalogram(S[::-1], freqs[::-1], sr=SR, hop_length=64).images[0].get_array()
    np.testing.assert_array_equal(a, b)


def test_scalogram_db_and_unitless_axes():
    S, freqs = scalogram(_glissando(200.0, 3200.0, n=4096), J=7, Q=4, hop_length=16)  # freqs in cycles/sample
    ax = display.scalogram(S, freqs, hop_length=16, db=True, db_floor=-60.0, colorbar=False)
    values = np.asarray(ax.images[0].get_array())
    assert values.max() == pytest.approx(0.0) and values.min() >= -60.0
    np.testing.assert_allclose(values, np.maximum(20 * np.log10(S[::-1] / S.max()), -60.0))
    assert ax.get_ylabel() == "frequency (cycles/sample)"
    assert ax.get_xlabel() == "frame (hop 16 samples)"
    assert ax.images[0].get_extent()[:2] == [-0.5, S.shape[1] - 0.5]
    assert len(ax.figure.axes) == 1
    labels = [float(t.get_text()) for t in ax.get_yticklabels()]
    assert 0.25 in labels and 0.125 in labels


def test_scalogram_into_given_axes(chirp_scalogram):
    S, freqs = chirp_scalogram
    _, (left, right) = plt.subplots(1, 2)
    assert display.scalogram(S, freqs, sr=SR, hop_length=64, ax=right, colorbar=False) is right
    assert right.images and not left.images


# --------------------------------------------------------------------------- jtfs: the overview


@pytest.mark.parametrize("fmt", ["time", "joint"])
def test_jtfs_overview_tells_up_from_down(glissandi, fmt):
    S, meta = glissandi[fmt]
    n_rates = len(set(meta["n"][meta["order"] == 2, 1].tolist()))
    up = display.jtfs(S[0], meta, db=False)
    down = display.jtfs(S[1], meta, db=False)
    up_plus, up_minus, up_balance = _maps(up)
    down_plus, down_minus, down_balance = _maps(down)
    assert up_plus.shape == up_minus.shape == up_balance.shape == (n_rates, 3)  # (xi2, |xi_fr|)
    # Upward glissando: more energy in spin +1 than spin -1; downward: the reverse.
    assert up_plus.sum() > 1.5 * up_minus.sum()
    assert down_minus.sum() > 1.5 * down_plus.sum()
    # ... on every (rate, scale) within 80 dB (the default db_floor) of the peak, as the balance map shows;
    # the quieter ones are left at 0 dB.
    loud = np.maximum(up_plus, up_minus) > 1e-8 * max(up_plus.max(), up_minus.max())
    assert 6 <= loud.sum() < loud.size
    assert (up_balance[loud] > 1.0).all() and (down_balance[loud] < -1.0).all()
    np.testing.assert_allclose(up_balance[loud], 10 * np.log10(up_plus[loud] / up_minus[loud]))
    assert not up_balance[~loud].any()
    # The downward glissando is the upward one reversed in time: the balance flips sign.
    np.testing.assert_allclose(down_balance, -up_balance, atol=0.5)


def test_jtfs_overview_time_and_joint_agree(glissandi):
    S_time, meta_time = glissandi["time"]
    S_joint, meta_joint = glissandi["joint"]
    for a, b in zip(_maps(display.jtfs(S_time[1], meta_time)), _maps(display.jtfs(S_joint[1], meta_joint)),
                    strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)


def test_jtfs_overview_axes_and_db(glissandi, tmp_path):
    S, meta = glissandi["time"]
    fig = display.jtfs(S[0], meta, sr=SR, db_floor=-60.0, title="glissando up")
    assert_png(fig, tmp_path / "jtfs.png")
    assert isinstance(fig, plt.Figure)
    assert len(fig.axes) == 5  # spin +1, spin -1, balance and two colour bars
    plus, minus, balance = _maps(fig)
    assert max(plus.max(), minus.max()) == pytest.approx(0.0)  # one 0 dB for both spins
    assert min(plus.min(), minus.min()) >= -60.0
    assert fig.axes[0].images[0].get_clim() == fig.axes[1].images[0].get_clim() == (-60.0, 0.0)
    low, high = fig.axes[2].images[0].get_clim()
    assert low == -high and np.abs(balance).max() <= high <= 60.0
    assert [ax.get_title() for ax in fig.axes[:3]] == ["spin +1 (up)", "spin -1 (down)", "up / down"]
    assert fig.axes[0].get_ylabel() == "temporal modulation xi2 (Hz)"
    assert fig.axes[0].get_xlabel() == "|xi_fr| (cycles/wavelet)"
    assert fig.get_suptitle() == "glissando up"
    # Rows by increasing rate: the tick labels (Hz) increase up the axis.
    rates = [float(t.get_text()) for t in fig.axes[0].get_yticklabels()]
    assert np.all(np.diff(rates) > 0) and rates[-1] < SR / 2


# --------------------------------------------------------------------------- jtfs: images of one n2


@pytest.mark.parametrize("fmt", ["time", "joint"])
def test_jtfs_images_of_one_n2(glissandi, fmt, tmp_path):
    S, meta = glissandi[fmt]
    n2 = int(np.nanmax(meta["n"][:, 1]))  # the slowest temporal modulation
    fig = display.jtfs(S[0], meta, n2=n2, sr=SR, hop_length=HOP, db=False)
    if fmt == "time":
        assert_png(fig, tmp_path / "images.png")
    panels = [ax for ax in fig.axes if ax.images]
    assert len(panels) == 6 and len(fig.axes) == 7  # 3 frequential wavelets x 2 spins, one colour bar
    assert [ax.get_title().split(",")[0] for ax in panels] == ["spin +1", "spin -1"] * 3
    (shape,) = {ax.images[0].get_array().shape for ax in panels}
    assert shape[1] == S.shape[-1]
    assert panels[-1].get_xlabel() == "time (s)"
    assert panels[0].images[0].get_extent()[1] == pytest.approx((S.shape[-1] - 0.5) * HOP / SR)
    # Upward glissando: each spin +1 image holds more energy than its spin -1 partner.
    energies = [float(np.sum(np.asarray(ax.images[0].get_array()) ** 2)) for ax in panels]
    for plus, minus in zip(energies[::2], energies[1::2], strict=True):
        assert plus > minus


def test_jtfs_images_are_the_path_rows(glissandi):
    S, meta = glissandi["time"]
    n2 = int(np.nanmax(meta["n"][:, 1]))
    fig = display.jtfs(S[1], meta, n2=n2, db=False)
    panels = [ax for ax in fig.axes if ax.images]
    # Top-left panel: spin +1, the frequential wavelet of smallest |xi_fr|; low frequencies (large n1) at the bottom.
    plus = (meta["order"] == 2) & (meta["spin"] == 1) & (meta["n"][:, 1] == n2)
    n_fr = meta["n_fr"][plus][np.argmin(np.abs(meta["xi_fr"][plus]))]
    rows = np.flatnonzero(plus & (meta["n_fr"] == n_fr))
    rows = rows[np.argsort(meta["n"][rows, 0])]
    np.testing.assert_array_equal(panels[0].images[0].get_array(), S[1][rows][::-1])
    assert panels[0].get_ylabel() == "xi1 (cycles/sample)"
    assert panels[-1].get_xlabel() == "frame"


# --------------------------------------------------------------------------- errors


def _errors():
    S2, freqs = np.ones((4, 10)), np.array([0.4, 0.2, 0.1, 0.05])
    meta = jtfs_meta(J=5, J_fr=2, Q=(4, 1))
    meta_joint = jtfs_meta(J=5, J_fr=2, Q=(4, 1), format="joint")
    n_time, n_joint = len(meta["key"]), len(meta_joint["key"])
    return [
        (lambda: display.scalogram(np.ones(10), freqs), r"S has shape \(10,\).*\(n_filters, n_frames\)"),
        (lambda: display.scalogram(np.ones((2, 4, 10)), freqs), r"S has shape \(2, 4, 10\).*S\[0\]"),
        (lambda: display.scalogram(S2, freqs[:3]), r"freqs has 3 values but S has 4 rows"),
        (lambda: display.scalogram(S2, freqs.reshape(2, 2)), r"freqs has shape \(2, 2\)"),
        (lambda: display.scalogram(S2, np.array([0.4, 0.1, 0.2, 0.05])), r"strictly monotonic"),
        (lambda: display.scalogram(S2, np.array([0.4, 0.2, 0.1, 0.0])), r"freqs has a value <= 0"),
        (lambda: display.scalogram(S2, freqs, sr=0), r"sr=0 must be"),
        (lambda: display.scalogram(S2, freqs, hop_length=0), r"hop_length=0 must be a positive integer"),
        (lambda: display.scalogram(np.zeros((4, 10)), freqs, db=True), r"S is zero everywhere"),
        (lambda: display.scalogram(S2, freqs, db=True, db_floor=3.0), r"db_floor=3.0"),
        (lambda: display.jtfs(np.ones(10), meta), r"S has shape \(10,\).*n_paths"),
        (lambda: display.jtfs(np.ones((2, n_time, 8)), meta), r"S has shape \(2, \d+, 8\) \(format='joint'"),
        (lambda: display.jtfs(np.ones((1, 2, n_time, 8)), meta), r"S has shape \(1, 2, \d+, 8\).*S\[0\]"),
        (lambda: display.jtfs(np.ones((n_time - 1, 8)), meta),
         rf"S has {n_time - 1} paths .* but meta describes {n_time}"),
        (lambda: display.jtfs(np.ones((n_joint, 3, 8)), dict(meta_joint, order=meta_joint["order"][:-1])),
         rf"S has {n_joint} paths .* but meta describes {n_joint - 1}"),
        (lambda: display.jtfs(np.ones((n_joint, 8)), meta_joint), r"format='time'.*meta describes format='joint'"),
        (lambda: display.jtfs(np.ones((n_time, 8)), {"order": meta["order"]}), r"meta has no 'n'"),
        (lambda: display.jtfs(np.ones((n_time, 8)), meta["order"]), r"meta must be the dict of jtfs_meta"),
        (lambda: display.jtfs(np.ones((n_time, 8)), meta, n2=0), r"n2=0 is not a second-order wavelet"),
        (lambda: display.jtfs(np.ones((n_time, 8)), meta, n2=1.5), r"n2=1.5"),
        (lambda: display.jtfs(np.ones((n_time, 8)), meta, hop_length=-4), r"hop_length=-4"),
        (lambda: display.jtfs(np.ones((n_time, 8)), meta, sr=-1.0), r"sr=-1.0 must be"),
        (lambda: display.jtfs(np.zeros((n_time, 8)), meta), r"S is zero on every spinned"),
        (lambda: display.jtfs(np.full((n_time, 8), np.nan), meta), r"non-finite"),
    ]


@pytest.mark.parametrize("case", range(len(_errors())))
def test_errors(case):
    call, match = _errors()[case]
    with pytest.raises(ParameterError, match=match):
        call()
    assert not plt.get_fignums()  # validation happens before any figure is made
