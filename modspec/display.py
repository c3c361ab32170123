"""Plots of features (matplotlib, from the ``plot`` extra)."""

import numbers

import numpy as np

from modspec import filters
from modspec.errors import ParameterError, check_sample_rate
from modspec.filters import SincBank

__all__ = ["filter_responses", "jtfs", "modulation_filter_responses", "modulation_response", "modulation_spectrum",
           "scalogram", "specshow", "tag_metrics"]


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


# --------------------------------------------------------------------------- filter responses and modulation plots


def _to_numpy(x):
    """A NumPy view of a NumPy, torch (detached, on the CPU) or CuPy array; anything else through np.asarray."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # torch.Tensor / nn.Parameter (learned banks)
        return x.detach().cpu().numpy()
    if type(x).__module__.split(".")[0] == "cupy":
        return x.get()
    return np.asarray(x)


def _check_real_array(name, x, *, ndims, layout):
    """``x`` as a finite real float64 array with ndim in ``ndims``; ``layout`` names the allowed shape(s)."""
    try:
        array = _to_numpy(x)
    except (TypeError, ValueError) as err:
        raise ParameterError(f"{name} must be an array of shape {layout}: {err}") from None
    if array.ndim not in ndims:
        raise ParameterError(f"{name} has shape {array.shape} (ndim={array.ndim}); expected {layout}")
    if array.size == 0:
        raise ParameterError(f"{name} has shape {array.shape}: it is empty; expected {layout} with no zero-length axis")
    if np.iscomplexobj(array):
        raise ParameterError(f"{name} has complex dtype {array.dtype}; pass a real array, e.g. np.abs({name})")
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise ParameterError(f"{name} has dtype {array.dtype}; expected real numbers")
    array = array.astype(np.float64)
    if not np.isfinite(array).all():
        bad = int(array.size - np.count_nonzero(np.isfinite(array)))
        raise ParameterError(f"{name} contains {bad} non-finite value(s) (NaN or inf)")
    return array


def _is_real(value):
    return not isinstance(value, bool) and isinstance(value, numbers.Real) and bool(np.isfinite(value))


def _check_db_floor(db_floor):
    if not _is_real(db_floor) or db_floor >= 0:
        raise ParameterError(f"db_floor={db_floor!r} must be a finite negative number of dB (e.g. -80.0)")
    return float(db_floor)


def _check_power(power):
    if not _is_real(power) or power not in (1, 2):
        raise ParameterError(f"power={power!r} must be 1 (amplitude: 20 log10) or 2 (power: 10 log10)")
    return float(power)


def _to_db(x, *, power, db_floor, name):
    """(20 / power) log10(|x| / max |x|), floored at ``db_floor``: the peak of all of ``x`` is 0 dB."""
    magnitude = np.abs(x)
    peak = magnitude.max()
    if not peak > 0:
        raise ParameterError(f"{name} is zero everywhere: there is no peak to take dB against; use db=False")
    with np.errstate(divide="ignore"):
        db = (20.0 / power) * np.log10(magnitude / peak)
    return np.maximum(db, db_floor)


def _check_labels(name, labels, n, what):
    if labels is None:
        return None
    if isinstance(labels, str):
        labels = [labels]
    labels = list(labels)
    if len(labels) != n:
        raise ParameterError(f"{name} has {len(labels)} entries; it needs one per {what}, i.e. {n}")
    return [str(label) for label in labels]


def _check_cutoff_marks(name, value, n_filters, nyquist, rate_name):
    if value is None:
        return None
    array = _check_real_array(name, value, ndims=(1,), layout=f"(n_filters,) = ({n_filters},) in Hz")
    if array.shape[0] != n_filters:
        raise ParameterError(
            f"{name} has {array.shape[0]} values but filters has {n_filters} filters; give one cut-off per filter"
        )
    if (array < 0).any() or (array > nyquist).any():
        raise ParameterError(
            f"{name} has values in [{array.min()}, {array.max()}] Hz; cut-offs must lie in [0, {nyquist}] Hz "
            f"({rate_name} / 2)"
        )
    return array


def _fir_responses_db(filters, n_fft, db_floor):
    """|rfft(filters, n_fft)| in dB re the bank's peak, floored; shape (n_filters, 1 + n_fft // 2)."""
    return _to_db(np.fft.rfft(filters, n=n_fft, axis=-1), power=1.0, db_floor=db_floor, name="filters")


def _responses(filters, *, rate, rate_name, xlabel, n_fft, db_floor, kind, low_hz, high_hz, title, ax):
    if isinstance(filters, SincBank):
        low_hz = filters.low_hz if low_hz is None else low_hz
        high_hz = filters.high_hz if high_hz is None else high_hz
        filters = filters.filters
    bank = _check_real_array("filters", filters, ndims=(2,), layout="(n_filters, kernel_size); "
                             "use filters[None, :] for a single filter")
    rate = float(check_sample_rate(rate_name, rate))
    db_floor = _check_db_floor(db_floor)
    if kind not in ("lines", "image"):
        raise ParameterError(f"kind={kind!r} is not supported; use 'lines' or 'image'")
    n_filters, kernel_size = bank.shape
    if n_fft is None:
        n_fft = 1 << int(np.ceil(np.log2(4 * kernel_size)))
    elif isinstance(n_fft, bool) or not isinstance(n_fft, (int, np.integer)) or n_fft < kernel_size:
        raise ParameterError(f"n_fft={n_fft!r} must be an integer >= kernel_size={kernel_size} (zero-padding only)")
    n_fft = int(n_fft)
    nyquist = rate / 2
    low_hz = _check_cutoff_marks("low_hz", low_hz, n_filters, nyquist, rate_name)
    high_hz = _check_cutoff_marks("high_hz", high_hz, n_filters, nyquist, rate_name)

    response_db = _fir_responses_db(bank, n_fft, db_floor)
    freqs = np.fft.rfftfreq(n_fft, d=1.0 / rate)
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4), layout="constrained")
    colours = plt.get_cmap("viridis")(np.linspace(0.0, 0.9, n_filters))
    if kind == "lines":
        for i in range(n_filters):
            ax.plot(freqs, response_db[i], color=colours[i], linewidth=1.0)
        # Cut-offs as a collection (not Line2D), so ax.lines holds exactly one curve per filter.
        for marks in (low_hz, high_hz):
            if marks is not None:
                ax.vlines(marks, db_floor, 0.0, colors=colours, linestyles="dashed", linewidth=0.6, alpha=0.6)
        ax.set_ylim(db_floor - 3.0, 3.0)
        ax.set_ylabel("magnitude (dB re bank peak)")
    else:
        image = ax.imshow(response_db, origin="lower", aspect="auto", cmap="magma", interpolation="nearest",
                          vmin=db_floor, vmax=0.0, extent=(0.0, nyquist, -0.5, n_filters - 0.5))
        index = np.arange(n_filters)
        for marks, marker in ((low_hz, "<"), (high_hz, ">")):
            if marks is not None:
                ax.scatter(marks, index, marker=marker, s=8, color="cyan")
        ax.set_ylabel("filter index")
        ax.figure.colorbar(image, ax=ax, format="%+.0f dB")
    ax.set_xlim(0.0, nyquist)
    ax.set_xlabel(xlabel)
    if title:
        ax.set_title(title)
    return ax.figure


def filter_responses(filters, *, sr, n_fft=None, db_floor=-80.0, kind="lines", low_hz=None, high_hz=None, title=None,
                     ax=None):
    """Magnitude responses of a bank of FIR filters, in dB over frequency in Hz.

    For a sinc band-pass front end (SincNet; the first layer of ModNet and
    SincModNet, Vahidi et al. 2021) or any learned 1-D convolution bank. The
    response of filter i is ``|H_i(f)| = |rfft(filters[i], n_fft)|`` at
    ``f = k sr / n_fft``; it is drawn as ``20 log10(|H_i| / max_{i,f} |H|)``,
    so the bank's strongest filter peaks at 0 dB, floored at ``db_floor``.

    Parameters
    ----------
    filters : np.ndarray, shape (n_filters, kernel_size), or SincBank
        Impulse responses (NumPy, torch or CuPy arrays are accepted). A
        :class:`modspec.filters.SincBank` brings its own ``low_hz`` and
        ``high_hz``, used unless given here.
    sr : float > 0
        Sample rate in Hz of the signal the filters are applied to.
    n_fft : int >= kernel_size, optional
        FFT size (zero-padding); None means the next power of two
        ``>= 4 * kernel_size``.
    db_floor : float < 0
        Lowest level drawn, in dB re the bank's peak.
    kind : {'lines', 'image'}
        'lines' overlays one curve per filter (x: Hz, y: dB); 'image' shows a
        filter index x frequency image with a colour bar in dB.
    low_hz, high_hz : np.ndarray, shape (n_filters,), optional
        Cut-offs in Hz to mark (dashed vertical lines, or triangles on the image).
    title : str, optional
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure if None.

    Returns
    -------
    matplotlib.figure.Figure
        The figure holding ``ax``; with 'lines', ``ax.lines[i]`` is filter i
        (xdata in Hz, ydata in dB).

    Raises
    ------
    ParameterError
        If ``filters`` is not 2-D, empty, non-finite or all zero; ``sr`` is
        not positive; ``kind`` is unknown; ``n_fft < kernel_size``; the
        cut-offs do not have one value per filter in ``[0, sr / 2]``.

    Examples
    --------
    >>> import io
    >>> import matplotlib.pyplot as plt
    >>> from modspec import display, filters
    >>> bank = filters.sinc_bandpass(8, 128, sr=16000)
    >>> fig = display.filter_responses(bank, sr=16000)
    >>> len(fig.axes[0].lines)
    8
    >>> fig.savefig(io.BytesIO(), format="png")
    >>> plt.close(fig)
    """
    return _responses(filters, rate=sr, rate_name="sr", xlabel="frequency (Hz)", n_fft=n_fft, db_floor=db_floor,
                      kind=kind, low_hz=low_hz, high_hz=high_hz, title=title, ax=ax)


def modulation_filter_responses(filters, *, frame_rate, n_fft=None, db_floor=-80.0, kind="lines", low_hz=None,
                                high_hz=None, title=None, ax=None):
    """Magnitude responses of temporal-modulation FIR filters, in dB up to ``frame_rate / 2``.

    As Vahidi et al. (2021) Fig. 3 (the learned sinc modulation filters of
    SincModNet) and Fig. 8 (the learned FIR envelope extractors of ModNet).
    The same computation as :func:`filter_responses`, with the envelopes'
    sample rate ``frame_rate`` and a modulation-frequency axis.

    Parameters
    ----------
    filters : np.ndarray, shape (n_filters, kernel_size), or SincBank
        Impulse responses, e.g. :func:`modspec.filters.modulation_sinc` (whose
        ``low_hz`` / ``high_hz`` are marked unless given here) or
        :func:`modspec.filters.modulation_fir_init`, or learned weights.
    frame_rate : float > 0
        Sample rate of the band envelopes in Hz (``sr / hop_length`` for a
        spectrogram, ``sr / stride`` for a strided filterbank).
    n_fft : int >= kernel_size, optional
        FFT size; None means the next power of two ``>= 4 * kernel_size``.
    db_floor : float < 0
        Lowest level drawn, in dB re the bank's peak.
    kind : {'lines', 'image'}
        Overlaid curves, or a filter index x modulation frequency image.
    low_hz, high_hz : np.ndarray, shape (n_filters,), optional
        Cut-offs in Hz (modulation frequency) to mark.
    title : str, optional
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure if None.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ParameterError
        As :func:`filter_responses`, naming ``frame_rate``.

    Examples
    --------
    >>> import io
    >>> import matplotlib.pyplot as plt
    >>> from modspec import display, filters
    >>> bank = filters.modulation_sinc(4, 101, frame_rate=62.5)
    >>> fig = display.modulation_filter_responses(bank, frame_rate=62.5, kind="image")
    >>> fig.savefig(io.BytesIO(), format="png")
    >>> plt.close(fig)
    """
    return _responses(filters, rate=frame_rate, rate_name="frame_rate", xlabel="modulation frequency (Hz)",
                      n_fft=n_fft, db_floor=db_floor, kind=kind, low_hz=low_hz, high_hz=high_hz, title=title, ax=ax)


def modulation_spectrum(spectrum, mod_freqs, *, labels=None, fmin=None, log_x=True, db=False, power=1,
                        db_floor=-80.0, ax=None, title=None):
    """Plot one or several modulation spectra over modulation frequency in Hz.

    As the modulation spectra of Ding et al. (2017), shown in Fig. 1 of Ma &
    Stern (2022): an amplitude per modulation frequency (e.g. the RMS across
    bands of the DFT of each band's compressed envelope).

    Parameters
    ----------
    spectrum : np.ndarray, shape (n_mod_freqs,) or (n_curves, n_mod_freqs)
        One spectrum, or several stacked (one curve each).
    mod_freqs : np.ndarray, shape (n_mod_freqs,)
        Modulation frequencies in Hz, non-negative and strictly increasing.
    labels : sequence of str, length n_curves, optional
        Legend entries (a str for a single spectrum); no legend if None.
    fmin : float, optional
        Lowest modulation frequency drawn, in Hz (> 0 with ``log_x``). None
        means the lowest positive frequency with ``log_x`` (0 Hz has no place
        on a log axis) and ``mod_freqs[0]`` otherwise.
    log_x : bool
        Logarithmic modulation-frequency axis.
    db : bool
        Draw ``(20 / power) log10(|spectrum| / max|spectrum|)`` (0 dB at the
        peak of all curves, floored at ``db_floor``) instead of the values.
    power : {1, 2}
        With ``db``: 1 if ``spectrum`` is an amplitude, 2 if a power.
    db_floor : float < 0
        Lowest level drawn in dB, with ``db``.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure if None.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        ``ax.lines[i]`` is curve i, over the frequencies ``>= fmin``.

    Raises
    ------
    ParameterError
        If ``spectrum`` is not 1-D or 2-D, its last axis does not match
        ``mod_freqs``, ``mod_freqs`` is negative or not increasing, the labels
        do not match the curves, or ``fmin`` leaves nothing to draw.

    Examples
    --------
    >>> import io
    >>> import numpy as np
    >>> import matplotlib.pyplot as plt
    >>> from modspec import display
    >>> mod_freqs = np.linspace(0, 32, 129)
    >>> speech = np.exp(-0.5 * ((mod_freqs - 4) / 2) ** 2)
    >>> music = np.exp(-0.5 * ((mod_freqs - 2) / 1) ** 2)
    >>> fig = display.modulation_spectrum(np.stack([speech, music]), mod_freqs, labels=["speech", "music"])
    >>> fig.savefig(io.BytesIO(), format="png")
    >>> plt.close(fig)
    """
    spectra = _check_real_array("spectrum", spectrum, ndims=(1, 2), layout="(n_mod_freqs,) or (n_curves, n_mod_freqs)")
    freqs = _check_real_array("mod_freqs", mod_freqs, ndims=(1,), layout="(n_mod_freqs,) in Hz")
    spectra = np.atleast_2d(spectra)
    if spectra.shape[-1] != freqs.shape[0]:
        raise ParameterError(
            f"spectrum has {spectra.shape[-1]} modulation frequencies (shape {np.shape(spectrum)}) but mod_freqs has "
            f"{freqs.shape[0]}; the last axis of spectrum must match mod_freqs"
        )
    if (freqs < 0).any():
        raise ParameterError(f"mod_freqs has a negative value ({freqs.min()} Hz); modulation frequencies are >= 0 Hz")
    if (np.diff(freqs) <= 0).any():
        i = int(np.flatnonzero(np.diff(freqs) <= 0)[0])
        raise ParameterError(
            f"mod_freqs must be strictly increasing, but mod_freqs[{i}]={freqs[i]} Hz >= mod_freqs[{i + 1}]="
            f"{freqs[i + 1]} Hz; sort spectrum and mod_freqs together"
        )
    labels = _check_labels("labels", labels, spectra.shape[0], "curve of spectrum")
    if fmin is None:
        positive = freqs[freqs > 0]
        if log_x and positive.size == 0:
            raise ParameterError("mod_freqs has no positive frequency to draw on a log axis; use log_x=False")
        fmin = positive[0] if log_x else freqs[0]
    elif not _is_real(fmin) or fmin < 0 or (log_x and fmin <= 0):
        allowed = "a positive number of Hz (log_x=True)" if log_x else "a non-negative number of Hz"
        raise ParameterError(f"fmin={fmin!r} must be {allowed}")
    keep = freqs >= fmin
    if not keep.any():
        raise ParameterError(f"fmin={fmin} Hz is above every modulation frequency (max {freqs.max()} Hz)")
    if db:
        power = _check_power(power)
        db_floor = _check_db_floor(db_floor)
        spectra = _to_db(spectra, power=power, db_floor=db_floor, name="spectrum")

    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4), layout="constrained")
    for i, curve in enumerate(spectra):
        ax.plot(freqs[keep], curve[keep], label=None if labels is None else labels[i])
    if log_x:
        ax.set_xscale("log")
    ax.set_xlim(freqs[keep][0], freqs[keep][-1])
    ax.set_xlabel("modulation frequency (Hz)")
    ax.set_ylabel("modulation amplitude (dB re peak)" if db else "modulation amplitude")
    if labels is not None:
        ax.legend()
    if title:
        ax.set_title(title)
    return ax.figure


def modulation_response(S, *, frame_rate, mod_labels=None, band_labels=None, ncols=None, db=True, power=1,
                        db_floor=-80.0, title=None, fig=None):
    """The band x modulation x time response of one clip: one panel per modulation filter.

    As Vahidi et al. (2021) Fig. 7: each panel shows, for one modulation
    filter (channel), the filtered band envelopes with bands on the y axis
    and time in seconds on the x axis. All panels share one colour scale and
    one colour bar. Panels follow the channel order (the modulation
    filterbank orders its filters by ascending modulation frequency), left to
    right, then top to bottom.

    Parameters
    ----------
    S : np.ndarray, shape (n_bands, n_channels, n_frames)
        The modulation filterbank's output for one clip, channel m being
        modulation filter m (select a clip of a batch first: ``S[0]``).
    frame_rate : float > 0
        Frame rate of ``S`` in Hz (sets the time axis).
    mod_labels : sequence of str, length n_channels, optional
        Panel titles (e.g. each filter's pass band); "channel m" if None.
    band_labels : sequence, length n_bands, optional
        Labels of the bands (e.g. centre frequencies in Hz) for the y ticks;
        band indices if None.
    ncols : int > 0, optional
        Panels per row; None means ``ceil(sqrt(n_channels))``.
    db : bool
        Draw ``(20 / power) log10(|S| / max|S|)`` floored at ``db_floor``
        (0 dB at the clip's peak) rather than ``S`` itself.
    power : {1, 2}
        With ``db``: 1 if ``S`` is an amplitude (or signed filter output), 2 if
        a power (after a squared modulus).
    db_floor : float < 0
        Lowest level drawn in dB, with ``db``.
    title : str, optional
        Title of the whole figure.
    fig : matplotlib.figure.Figure, optional
        An empty figure to draw into; a new one if None.

    Returns
    -------
    matplotlib.figure.Figure
        ``n_channels`` image panels followed by one colour-bar axes.

    Raises
    ------
    ParameterError
        If ``S`` is not 3-D, empty or non-finite; ``frame_rate`` is not
        positive; the labels do not match the bands or channels; ``ncols``
        is not a positive integer.

    Examples
    --------
    >>> import io
    >>> import numpy as np
    >>> import matplotlib.pyplot as plt
    >>> from modspec import display
    >>> S = np.random.default_rng(0).random((40, 4, 200))  # 40 bands, 4 modulation filters
    >>> fig = display.modulation_response(S, frame_rate=100.0, mod_labels=["0-4 Hz", "4-8 Hz", "8-16 Hz", "16-32 Hz"])
    >>> sum(len(ax.images) for ax in fig.axes)
    4
    >>> fig.savefig(io.BytesIO(), format="png")
    >>> plt.close(fig)
    """
    S = _check_real_array("S", S, ndims=(3,), layout="(n_bands, n_channels, n_frames) for one clip "
                          "(index a batch first, e.g. S[0])")
    frame_rate = float(check_sample_rate("frame_rate", frame_rate))
    n_bands, n_channels, n_frames = S.shape
    mod_labels = _check_labels("mod_labels", mod_labels, n_channels, "modulation channel of S (axis 1)")
    band_labels = _check_labels("band_labels", band_labels, n_bands, "band of S (axis 0)")
    if ncols is None:
        ncols = int(np.ceil(np.sqrt(n_channels)))
    elif isinstance(ncols, bool) or not isinstance(ncols, (int, np.integer)) or ncols <= 0:
        raise ParameterError(f"ncols={ncols!r} must be a positive integer (panels per row)")
    ncols = min(int(ncols), n_channels)
    nrows = -(-n_channels // ncols)
    if db:
        power = _check_power(power)
        db_floor = _check_db_floor(db_floor)
        values, vmin, vmax, cmap = _to_db(S, power=power, db_floor=db_floor, name="S"), db_floor, 0.0, "magma"
        colorbar_format = "%+.0f dB"
    elif S.min() < 0:  # signed filter output: a symmetric, diverging scale
        vmax = float(np.abs(S).max())
        values, vmin, cmap, colorbar_format = S, -vmax, "RdBu_r", None
    else:
        values, vmin, vmax, cmap, colorbar_format = S, float(S.min()), float(S.max()), "magma", None

    plt = _pyplot()
    if fig is None:
        fig = plt.figure(figsize=(2.6 * ncols + 1.0, 2.2 * nrows + 0.4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False)).ravel()
    for extra in axes[n_channels:]:
        fig.delaxes(extra)
    duration = n_frames / frame_rate
    ticks = np.unique(np.linspace(0, n_bands - 1, min(n_bands, 5)).round().astype(int))
    image = None
    for m in range(n_channels):
        ax = axes[m]
        image = ax.imshow(values[:, m, :], origin="lower", aspect="auto", cmap=cmap, interpolation="nearest",
                          vmin=vmin, vmax=vmax, extent=(0.0, duration, -0.5, n_bands - 0.5))
        ax.set_title(mod_labels[m] if mod_labels is not None else f"channel {m}", fontsize="small")
        if band_labels is not None:
            ax.set_yticks(ticks, [band_labels[i] for i in ticks])
        if m % ncols == 0:
            ax.set_ylabel("band")
        if m + ncols >= n_channels:
            ax.set_xlabel("time (s)")
    fig.colorbar(image, ax=list(axes[:n_channels]), format=colorbar_format)
    if title:
        fig.suptitle(title)
    return fig


# --------------------------------------------------------------------------- scalogram and joint time-frequency scattering


def _format_freq(value):
    """A short label for a frequency: '125', '2000', '0.0312'."""
    return f"{value:.0f}" if value >= 100 else f"{value:.3g}"


def _log_frequency_ticks(freqs_up, unit_hz):
    """Tick positions (fractional row indices) and labels for rows of increasing frequency ``freqs_up``.

    Octave ticks (1 kHz times powers of 2 in Hz, powers of 2 in cycles per
    sample) placed at their log-interpolated row; the rows themselves when
    fewer than two such ticks fall inside the range.
    """
    n = freqs_up.shape[0]
    lo, hi = float(freqs_up[0]), float(freqs_up[-1])
    base = 1000.0 if unit_hz else 1.0
    k = np.arange(np.floor(np.log2(lo / base)), np.ceil(np.log2(hi / base)) + 1)
    values = base * 2.0**k
    values = values[(values >= lo) & (values <= hi)]
    if values.size >= 2 and n > 1:
        positions = np.interp(np.log(values), np.log(freqs_up), np.arange(n, dtype=np.float64))
        return positions, [f"{v:g}" for v in values]
    rows = np.unique(np.linspace(0, n - 1, min(n, 6)).round().astype(int))
    return rows.astype(np.float64), [_format_freq(freqs_up[i]) for i in rows]


def _check_positive_int(name, value, what):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ParameterError(f"{name}={value!r} must be a positive integer ({what})")
    return int(value)


def scalogram(S, freqs, *, hop_length=1, sr=None, ax=None, db=False, db_floor=-80.0, title=None, colorbar=True,
              cmap="magma"):
    """Show a wavelet scalogram: log-frequency on the y axis (low frequencies at the bottom), time on the x axis.

    For the output of :func:`modspec.features.scattering.scalogram`, whose
    rows come by *decreasing* frequency: the rows are reordered by increasing
    frequency before drawing, so ``ax.images[0].get_array()`` is
    ``S[::-1]`` for that order. Rows are drawn at equal heights; the
    wavelets' centre frequencies are (close to) geometrically spaced, so the
    y axis is a log-frequency axis, with octave ticks (1 kHz times powers of
    2 in Hz, powers of 2 in cycles per sample) placed by log-interpolation
    between the rows' centre frequencies.

    Parameters
    ----------
    S : np.ndarray, shape (n_filters, n_frames)
        A scalogram of one signal (index a batch first: ``S[0]``); non-negative
        moduli, or any real values with ``db=False``.
    freqs : np.ndarray, shape (n_filters,)
        Positive centre frequency of each row, strictly monotonic (decreasing,
        as the scalogram returns them, or increasing): in Hz if ``sr`` is
        given, else in cycles per sample.
    hop_length : int > 0
        Samples between frames (as given to the scalogram).
    sr : float > 0, optional
        Sample rate in Hz: time in seconds and frequencies labelled in Hz.
        None: time in frames, frequencies in cycles per sample.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure if None.
    db : bool
        Draw ``20 log10(|S| / max|S|)`` (moduli are amplitudes; 0 dB at the
        peak), floored at ``db_floor``, instead of ``S``.
    db_floor : float < 0
        Lowest level drawn in dB, with ``db``.
    title : str, optional
    colorbar : bool
        Add a colour bar.
    cmap : str
        A matplotlib colour map.

    Returns
    -------
    matplotlib.axes.Axes
        Its one image has pixel centres at the frames' instants: frame ``t``
        at ``t * hop_length / sr`` seconds (or at ``t`` frames).

    Raises
    ------
    ParameterError
        If ``S`` is not 2-D, empty or non-finite; ``freqs`` is not 1-D,
        does not have one value per row of ``S``, is not positive or not
        strictly monotonic; ``hop_length`` is not a positive integer; ``sr``
        is not positive; ``S`` is zero everywhere with ``db``.

    Examples
    --------
    >>> import io
    >>> import numpy as np
    >>> import matplotlib.pyplot as plt
    >>> from modspec import display
    >>> from modspec.features.scattering import scalogram
    >>> t = np.arange(8192) / 16000
    >>> S, freqs = scalogram(np.sin(2 * np.pi * 1000 * t), J=8, Q=8, hop_length=64, sr=16000)
    >>> ax = display.scalogram(S, freqs, hop_length=64, sr=16000, db=True)
    >>> ax.images[0].get_array().shape
    (54, 128)
    >>> ax.figure.savefig(io.BytesIO(), format="png")
    >>> plt.close(ax.figure)
    """
    S = _check_real_array("S", S, ndims=(2,), layout="(n_filters, n_frames) for one signal (index a batch "
                          "first, e.g. S[0])")
    freqs = _check_real_array("freqs", freqs, ndims=(1,), layout="(n_filters,)")
    n_filters, n_frames = S.shape
    if freqs.shape[0] != n_filters:
        raise ParameterError(
            f"freqs has {freqs.shape[0]} values but S has {n_filters} rows (shape {S.shape}); give one centre "
            "frequency per row of S"
        )
    if (freqs <= 0).any():
        raise ParameterError(f"freqs has a value <= 0 ({freqs.min()}); centre frequencies must be positive")
    steps = np.diff(freqs)
    if not ((steps < 0).all() or (steps > 0).all()):
        raise ParameterError("freqs must be strictly monotonic (decreasing, as scalogram returns them, or increasing)")
    hop_length = _check_positive_int("hop_length", hop_length, "samples between frames")
    sr = check_sample_rate("sr", sr, allow_none=True)
    if db:
        db_floor = _check_db_floor(db_floor)
    if freqs.shape[0] > 1 and freqs[0] > freqs[-1]:
        S, freqs = S[::-1], freqs[::-1]
    if db:
        values, vmin, vmax, fmt = _to_db(S, power=1.0, db_floor=db_floor, name="S"), db_floor, 0.0, "%+.0f dB"
    else:
        values, vmin, vmax, fmt = S, None, None, None

    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4), layout="constrained")
    step = hop_length / float(sr) if sr is not None else 1.0
    image = ax.imshow(values, origin="lower", aspect="auto", cmap=cmap, interpolation="nearest", vmin=vmin,
                      vmax=vmax, extent=(-0.5 * step, (n_frames - 0.5) * step, -0.5, n_filters - 0.5))
    positions, labels = _log_frequency_ticks(freqs, sr is not None)
    ax.set_yticks(positions, labels)
    ax.set_ylabel("frequency (Hz)" if sr is not None else "frequency (cycles/sample)")
    ax.set_xlabel("time (s)" if sr is not None else f"frame (hop {hop_length} samples)")
    if title:
        ax.set_title(title)
    if colorbar:
        ax.figure.colorbar(image, ax=ax, format=fmt)
    return ax


def _check_jtfs_meta(S, meta):
    """``(S, meta, joint)``: S as float64 with one path per meta entry; ``joint`` for format='joint'."""
    S = _check_real_array("S", S, ndims=(2, 3), layout="(n_paths, n_frames) (format='time') or (n_paths, n_rows, "
                          "n_frames) (format='joint') for one signal (index a batch first, e.g. S[0])")
    if not isinstance(meta, dict):
        raise ParameterError(f"meta must be the dict of jtfs_meta(...), not {type(meta).__name__}")
    missing = [key for key in ("order", "n", "n_fr", "xi", "xi_fr", "spin") if key not in meta]
    if missing:
        raise ParameterError(f"meta has no {', '.join(map(repr, missing))}: pass the dict of jtfs_meta(...)")
    joint = S.ndim == 3
    if joint != ("n1_start" in meta):
        made, given = ("format='joint'", "format='time'") if joint else ("format='time'", "format='joint'")
        raise ParameterError(
            f"S has shape {S.shape} ({made} output) but meta describes {given}; compute both with the same format"
        )
    n_paths = len(meta["order"])
    if S.shape[0] != n_paths:
        raise ParameterError(
            f"S has {S.shape[0]} paths (axis 0 of shape {S.shape}) but meta describes {n_paths}; compute S and meta "
            "with the same J, J_fr, Q, Q_fr, T, F and format"
        )
    meta = {key: np.asarray(value) for key, value in meta.items() if key != "key"}
    for key in ("order", "n_fr", "spin") + (("n1_start", "n1_stop", "n1_step") if joint else ()):
        if meta[key].shape != (n_paths,):
            raise ParameterError(f"meta[{key!r}] has shape {meta[key].shape}; expected ({n_paths},)")
    for key in ("n", "xi"):
        if meta[key].shape != (n_paths, 2):
            raise ParameterError(f"meta[{key!r}] has shape {meta[key].shape}; expected ({n_paths}, 2)")
    return S, meta, joint


def _jtfs_paths(meta):
    """The spinned second-order paths on a grid.

    Returns ``(n2_values, xi2, xi_fr, columns)``: second-order wavelets by
    increasing centre frequency, their ``xi2``; the frequential wavelets'
    ``|xi_fr|`` by increasing value; ``columns[spin]`` the ``n_fr`` of each
    ``|xi_fr|`` for spin +1 and -1.
    """
    order, spin, n_fr = meta["order"], meta["spin"], meta["n_fr"]
    spinned = (order == 2) & (spin != 0)
    if not spinned.any():
        raise ParameterError("meta has no second-order path of spin +1 or -1: nothing for jtfs to show")
    n2_all, xi2_all = meta["n"][:, 1], meta["xi"][:, 1]
    n2_values = np.unique(n2_all[spinned]).astype(int)
    xi2 = np.array([xi2_all[spinned & (n2_all == v)][0] for v in n2_values])
    by_rate = np.argsort(xi2)
    n2_values, xi2 = n2_values[by_rate], xi2[by_rate]
    columns, moduli = {}, {}
    for s in (1, -1):
        filters_s = np.unique(n_fr[spinned & (spin == s)]).astype(int)
        xi_s = np.array([abs(meta["xi_fr"][spinned & (n_fr == f)][0]) for f in filters_s])
        by_scale = np.argsort(xi_s)
        columns[s], moduli[s] = filters_s[by_scale], xi_s[by_scale]
    if moduli[1].shape != moduli[-1].shape or not np.allclose(moduli[1], moduli[-1]):
        raise ParameterError("meta's spin +1 and spin -1 frequential wavelets do not pair up by |xi_fr|")
    return n2_values, xi2, moduli[1], columns


def _jtfs_block(S, meta, joint, n2, n_fr):
    """The (n1, time) image of path (n2, n_fr), rows by increasing n1, and the n1 of its rows."""
    if joint:
        (c,) = np.flatnonzero((meta["order"] == 2) & (meta["n"][:, 1] == n2) & (meta["n_fr"] == n_fr))
        n1 = np.arange(meta["n1_start"][c], meta["n1_stop"][c], meta["n1_step"][c])
        return S[c, : n1.size], n1, None
    rows = np.flatnonzero((meta["order"] == 2) & (meta["n"][:, 1] == n2) & (meta["n_fr"] == n_fr))
    rows = rows[np.argsort(meta["n"][rows, 0])]
    return S[rows], meta["n"][rows, 0].astype(int), meta["xi"][rows, 0]


def jtfs(S, meta, *, n2=None, sr=None, hop_length=None, db=True, db_floor=-80.0, title=None, fig=None):
    r"""What a joint time-frequency scattering captures: its energy by spin, or its images for one ``n2``.

    The second-order jTFS paths ``(n2, n_fr)`` filter the scalogram with a
    temporal wavelet (modulation rate ``xi2``) and a frequential wavelet
    (``xi_fr``, in cycles per first-order wavelet) whose sign is the *spin*:
    spin +1 responds to patterns that rise in frequency over time (an upward
    glissando, a rising chirp), spin -1 to falling ones; a stationary sound
    excites both alike.

    ``n2=None`` (overview): three heat maps over (temporal modulation
    ``xi2``, frequential modulation ``|xi_fr|``): the energy of the spin +1
    paths, that of the spin -1 paths (one colour scale for both) and the
    balance ``10 log10(E_up / E_down)`` in dB (red: up, blue: down, clipped
    at ``|db_floor|``; 0 where both spins are more than ``|db_floor|`` dB
    below the peak energy, where the ratio is noise). The energy of a path is its sum of squares over
    ``n1`` and time (the padded rows of ``format='joint'`` left out, so both
    formats give the same maps).

    ``n2=k``: the ``(n1, time)`` images of the paths ``(n1, k, n_fr)``, one
    row of panels per frequential wavelet (by increasing ``|xi_fr|``), spin
    +1 on the left and spin -1 on the right, low frequencies (large ``n1``)
    at the bottom, one colour scale.

    Parameters
    ----------
    S : np.ndarray, shape (n_paths, n_frames) or (n_paths, n_rows, n_frames)
        :func:`modspec.features.scattering.jtfs` of one signal,
        ``format='time'`` (2-D) or ``'joint'`` (3-D); index a batch first.
    meta : dict
        :func:`modspec.features.scattering.jtfs_meta` with the same
        parameters and format as ``S``.
    n2 : int, optional
        A second-order wavelet index (``meta['n'][:, 1]``) to show as images;
        None for the overview.
    sr : float > 0, optional
        Sample rate in Hz: ``xi2`` and ``xi1`` labelled in Hz rather than
        cycles per sample; with ``hop_length``, time in seconds.
    hop_length : int > 0, optional
        Samples between the frames of ``S`` (``2**floor(log2 T)``, ``2**J``
        by default); used for the time axis of the images with ``sr``.
    db : bool
        Energies (overview) as ``10 log10(E / max E)``, images as
        ``20 log10(|S| / max|S|)`` (0 dB at the peak of all panels), floored
        at ``db_floor``; False draws the values themselves.
    db_floor : float < 0
        Lowest level drawn, with ``db``; also clips the balance map and
        blanks it where both spins are below it (with or without ``db``).
    title : str, optional
        Title of the whole figure.
    fig : matplotlib.figure.Figure, optional
        An empty figure to draw into; a new one if None.

    Returns
    -------
    matplotlib.figure.Figure
        Overview: the axes are ``[spin +1, spin -1, balance]`` followed by two
        colour bars; each heat map's ``images[0].get_array()`` has shape
        ``(n_temporal, n_frequential)``, rows by increasing ``xi2`` (low
        rates at the bottom), columns by increasing ``|xi_fr|``. Images:
        ``2 * n_frequential`` panels (row by row: spin +1, spin -1) then one
        colour bar.

    Raises
    ------
    ParameterError
        If ``S`` is not 2-D or 3-D, empty or non-finite; ``meta`` is not a
        jTFS meta dict, does not describe as many paths as ``S`` has, or is
        of the other format; there is no spinned second-order path; ``n2``
        is not one of them; ``sr``, ``hop_length`` or ``db_floor`` is out
        of range; ``S`` is zero everywhere with ``db``.

    Examples
    --------
    >>> import io
    >>> import numpy as np
    >>> import matplotlib.pyplot as plt
    >>> from modspec import display
    >>> from modspec.features.scattering import jtfs, jtfs_meta
    >>> t = np.arange(8192) / 8000
    >>> up = np.sin(2 * np.pi * 100 * (2 ** (4 * t) - 1) / (4 * np.log(2)))  # glissando up
    >>> kw = dict(J=6, J_fr=2, Q=(8, 2))
    >>> fig = display.jtfs(jtfs(up, **kw), jtfs_meta(**kw), sr=8000)
    >>> balance = fig.axes[2].images[0].get_array()
    >>> balance.shape, bool(balance.mean() > 0)  # more energy in spin +1: rising
    ((9, 3), True)
    >>> fig.savefig(io.BytesIO(), format="png")
    >>> plt.close(fig)
    """
    S, meta, joint = _check_jtfs_meta(S, meta)
    sr = check_sample_rate("sr", sr, allow_none=True)
    if hop_length is not None:
        hop_length = _check_positive_int("hop_length", hop_length, "samples between the frames of S")
    db_floor = _check_db_floor(db_floor)
    n2_values, xi2, xi_fr, columns = _jtfs_paths(meta)
    if n2 is not None and (isinstance(n2, bool) or not isinstance(n2, (int, np.integer)) or n2 not in n2_values):
        raise ParameterError(
            f"n2={n2!r} is not a second-order wavelet of S; use None or one of {n2_values.tolist()}"
        )
    plt = _pyplot()
    if n2 is None:
        return _jtfs_overview(plt, S, meta, joint, n2_values, xi2, xi_fr, columns, sr=sr, db=db, db_floor=db_floor,
                              title=title, fig=fig)
    return _jtfs_images(plt, S, meta, joint, int(n2), xi2[list(n2_values).index(n2)], xi_fr, columns, sr=sr,
                        hop_length=hop_length, db=db, db_floor=db_floor, title=title, fig=fig)


def _jtfs_overview(plt, S, meta, joint, n2_values, xi2, xi_fr, columns, *, sr, db, db_floor, title, fig):
    energy = {s: np.zeros((n2_values.size, xi_fr.size)) for s in (1, -1)}
    for s in (1, -1):
        for a, n2 in enumerate(n2_values):
            for b, n_fr in enumerate(columns[s]):
                block, _, _ = _jtfs_block(S, meta, joint, n2, n_fr)
                energy[s][a, b] = np.sum(block**2)
    peak = max(energy[1].max(), energy[-1].max())
    if db:
        if not peak > 0:
            raise ParameterError("S is zero on every spinned second-order path: there is no peak; use db=False")
        maps = {s: np.maximum(10.0 * np.log10(np.maximum(energy[s], 1e-300) / peak), db_floor) for s in (1, -1)}
        vmin, vmax, fmt = db_floor, 0.0, "%+.0f dB"
    else:
        maps, vmin, vmax, fmt = energy, 0.0, peak if peak > 0 else 1.0, None
    with np.errstate(divide="ignore", invalid="ignore"):
        balance = 10.0 * np.log10(energy[1] / energy[-1])
    # Both spins below the floor (or equal, or zero): no preference shown.
    quiet = np.maximum(energy[1], energy[-1]) <= peak * 10.0 ** (db_floor / 10.0)
    balance = np.where(quiet | (energy[1] == energy[-1]), 0.0, balance)
    limit = -db_floor
    balance = np.clip(np.nan_to_num(balance, nan=0.0, posinf=limit, neginf=-limit), -limit, limit)
    bound = max(float(np.abs(balance).max()), 1.0)

    if fig is None:
        fig = plt.figure(figsize=(11, 4.2), layout="constrained")
    axes = fig.subplots(1, 3, sharey=True)
    n_rows, n_cols = n2_values.size, xi_fr.size
    extent = (-0.5, n_cols - 0.5, -0.5, n_rows - 0.5)
    panels = ((axes[0], maps[1], "spin +1 (up)"), (axes[1], maps[-1], "spin -1 (down)"))
    image = None
    for ax, values, label in panels:
        image = ax.imshow(values, origin="lower", aspect="auto", cmap="magma", interpolation="nearest", vmin=vmin,
                          vmax=vmax, extent=extent)
        ax.set_title(label)
    fig.colorbar(image, ax=list(axes[:2]), format=fmt, label="energy (dB re peak)" if db else "energy")
    shown = axes[2].imshow(balance, origin="lower", aspect="auto", cmap="RdBu_r", interpolation="nearest",
                           vmin=-bound, vmax=bound, extent=extent)
    axes[2].set_title("up / down")
    fig.colorbar(shown, ax=axes[2], format="%+.0f dB", label="10 log10(E up / E down)")
    rates = xi2 * sr if sr is not None else xi2
    rows = np.unique(np.linspace(0, n_rows - 1, min(n_rows, 8)).round().astype(int))
    axes[0].set_yticks(rows, [_format_freq(rates[i]) for i in rows])
    axes[0].set_ylabel("temporal modulation xi2 (Hz)" if sr is not None else "temporal modulation xi2 (cycles/sample)")
    for ax in axes:
        ax.set_xticks(np.arange(n_cols), [f"{v:.3g}" for v in xi_fr])
        ax.set_xlabel("|xi_fr| (cycles/wavelet)")
    if title:
        fig.suptitle(title)
    return fig


def _jtfs_images(plt, S, meta, joint, n2, xi2, xi_fr, columns, *, sr, hop_length, db, db_floor, title, fig):
    blocks = {}
    for s in (1, -1):
        for b, n_fr in enumerate(columns[s]):
            blocks[s, b] = _jtfs_block(S, meta, joint, n2, n_fr)
    peak = max(np.abs(block).max() for block, _, _ in blocks.values())
    if db:
        if not peak > 0:
            raise ParameterError(f"S is zero on every path of n2={n2}: there is no peak; use db=False")
        with np.errstate(divide="ignore"):
            values = {k: np.maximum(20.0 * np.log10(np.abs(b) / peak), db_floor) for k, (b, _, _) in blocks.items()}
        vmin, vmax, fmt = db_floor, 0.0, "%+.0f dB"
    else:
        values = {k: b for k, (b, _, _) in blocks.items()}
        vmin, vmax, fmt = min(v.min() for v in values.values()), peak, None
    n_frames = S.shape[-1]
    seconds = sr is not None and hop_length is not None
    step = hop_length / float(sr) if seconds else 1.0
    n_panel_rows = xi_fr.size
    if fig is None:
        fig = plt.figure(figsize=(9, 1.9 * n_panel_rows + 0.8), layout="constrained")
    axes = fig.subplots(n_panel_rows, 2, sharex=True, squeeze=False)
    image = None
    for b in range(n_panel_rows):
        for c, s in enumerate((1, -1)):
            ax = axes[b, c]
            _, n1, xi1 = blocks[s, b]
            data = values[s, b][::-1]  # rows by decreasing n1: low frequencies (large n1) at the bottom
            image = ax.imshow(data, origin="lower", aspect="auto", cmap="magma", interpolation="nearest", vmin=vmin,
                              vmax=vmax, extent=(-0.5 * step, (n_frames - 0.5) * step, -0.5, n1.size - 0.5))
            ticks = np.unique(np.linspace(0, n1.size - 1, min(n1.size, 4)).round().astype(int))
            if xi1 is not None:
                freqs_up = xi1[::-1] * (sr if sr is not None else 1.0)
                ax.set_yticks(ticks, [_format_freq(freqs_up[i]) for i in ticks])
            else:
                ax.set_yticks(ticks, [str(v) for v in n1[::-1][ticks]])
            ax.set_title(f"spin {'+1' if s > 0 else '-1'}, |xi_fr| = {xi_fr[b]:.3g}", fontsize="small")
            if c == 0:
                if xi1 is None:
                    ax.set_ylabel("n1")
                else:
                    ax.set_ylabel("xi1 (Hz)" if sr is not None else "xi1 (cycles/sample)")
            if b == n_panel_rows - 1:
                ax.set_xlabel("time (s)" if seconds else "frame")
    fig.colorbar(image, ax=list(axes.ravel()), format=fmt)
    rate = f"{xi2 * sr:.3g} Hz" if sr is not None else f"{xi2:.3g} cycles/sample"
    fig.suptitle(title if title else f"second-order wavelet n2 = {n2} (xi2 = {rate})")
    return fig


def tag_metrics(results, *, metric="roc_auc", ax=None, title=None):
    """Grouped bars of a per-tag metric for one or more models, with each model's macro average.

    Parameters
    ----------
    results : dict
        ``{model name: metrics}``, each as :func:`modspec.train.tagging_metrics`
        returns (``per_tag`` rows with the metric; tags without a value are left empty).
    metric : {'roc_auc', 'pr_auc'}
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure if None.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> from modspec import display
    >>> m = {"roc_auc": 0.8, "pr_auc": 0.6, "per_tag": [{"tag": "a", "roc_auc": 0.9, "pr_auc": 0.7},
    ...                                                  {"tag": "b", "roc_auc": 0.7, "pr_auc": 0.5}]}
    >>> fig = display.tag_metrics({"mel": m, "sinc": m})
    >>> plt.close(fig)
    """
    if metric not in ("roc_auc", "pr_auc"):
        raise ParameterError(f"metric={metric!r} must be 'roc_auc' or 'pr_auc'")
    if not isinstance(results, dict) or not results:
        raise ParameterError("results must be a non-empty dict {model name: metrics}")
    tags = [row["tag"] for row in next(iter(results.values()))["per_tag"]]
    for name, metrics in results.items():
        if [row["tag"] for row in metrics["per_tag"]] != tags:
            raise ParameterError(f"results[{name!r}] scores other tags than the first model; compare like with like")
    plt = _pyplot()
    if ax is None:
        fig, ax = plt.subplots(figsize=(max(6.0, 0.6 * len(tags) * len(results)), 4.0), layout="constrained")
    fig = ax.figure
    width = 0.8 / len(results)
    x = np.arange(len(tags))
    for k, (name, metrics) in enumerate(results.items()):
        values = [np.nan if row[metric] is None else row[metric] for row in metrics["per_tag"]]
        macro = metrics.get(metric)
        label = name if macro is None else f"{name} (macro {macro:.3f})"
        ax.bar(x + (k - (len(results) - 1) / 2) * width, values, width, label=label)
    if metric == "roc_auc":
        ax.axhline(0.5, color="0.5", linewidth=0.8, linestyle="--")  # chance
    ax.set_xticks(x, tags, rotation=45, ha="right")
    ax.set_ylim(0.0, 1.18)  # room above the bars for the legend
    ax.set_yticks(np.linspace(0.0, 1.0, 6))
    ax.set_ylabel({"roc_auc": "ROC-AUC", "pr_auc": "PR-AUC"}[metric])
    ax.legend(loc="upper right", fontsize="small", ncols=len(results))
    if title:
        ax.set_title(title)
    return fig
