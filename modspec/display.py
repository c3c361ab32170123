"""Plots of features (matplotlib, from the ``plot`` extra)."""

import numpy as np

from modspec import filters
from modspec.errors import ParameterError

__all__ = ["specshow"]


def _pyplot():
    try:
        import matplotlib

        if matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline.backend_inline"):
            matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("modspec.display needs matplotlib: pip install 'modspec[plot]'") from None
    return plt


def specshow(S_db, *, sr, hop_length, y_axis="mel", fmin=0.0, fmax=None, htk=False, ax=None, title=None,
             colorbar=True):
    """Show one spectrogram in dB with time in seconds and frequency in Hz.

    Parameters
    ----------
    S_db : np.ndarray, shape (n_freq, n_frames)
        A spectrogram in dB (e.g. from :func:`modspec.features.power_to_db`).
    sr : float > 0
        Sample rate in Hz.
    hop_length : int > 0
        Hop between frames in samples (sets the time axis).
    y_axis : {'mel', 'linear'}
        'mel' labels rows with the mel band centres (``fmin``, ``fmax``,
        ``htk`` as in the mel filterbank); 'linear' with FFT bin frequencies.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure if None.
    title : str, optional
    colorbar : bool
        Add a colour bar in dB.

    Returns
    -------
    matplotlib.axes.Axes
    """
    S_db = np.asarray(S_db)
    if S_db.ndim != 2:
        raise ParameterError(f"S_db has shape {S_db.shape}; specshow draws one (n_freq, n_frames) spectrogram")
    if y_axis not in ("mel", "linear"):
        raise ParameterError(f"y_axis={y_axis!r} is not supported; use 'mel' or 'linear'")
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4), layout="constrained")
    n_freq, n_frames = S_db.shape
    if y_axis == "mel":
        fmax = sr / 2 if fmax is None else fmax
        centres = filters.mel_frequencies(n_freq + 2, fmin=fmin, fmax=fmax, htk=htk)[1:-1]
    else:
        centres = np.linspace(0, sr / 2, n_freq)
    # Rows are drawn at equal heights (mel rows are evenly spaced in mel); ticks carry Hz.
    image = ax.imshow(S_db, origin="lower", aspect="auto", cmap="magma", interpolation="nearest",
                      extent=(0, n_frames * hop_length / sr, -0.5, n_freq - 0.5))
    ticks = np.linspace(0, n_freq - 1, 6).round().astype(int)
    ax.set_yticks(ticks, [f"{centres[i]:.0f}" for i in ticks])
    ax.set_xlabel("time (s)")
    ax.set_ylabel("frequency (Hz)")
    if title:
        ax.set_title(title)
    if colorbar:
        ax.figure.colorbar(image, ax=ax, format="%+.0f dB")
    return ax
