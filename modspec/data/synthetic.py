"""A synthetic tagging dataset whose tags are defined by modulation content.

The clips are generated on the fly from ``(seed, split, index)``, so the
dataset needs no files, is identical on every machine and is a quick check that
a front end can see amplitude modulation (tremolo, pulses), frequency
modulation (vibrato, glissando), timbre and register.
"""

import numbers

import numpy as np
import scipy.fft
import torch

from modspec.data.datasets import AudioDataset, _check_int
from modspec.errors import ParameterError, check_choice

__all__ = ["Synthetic"]

_SPLIT_CODES = {"train": 0, "valid": 1, "test": 2}
_TABLE_SIZE = 8192


class Synthetic(AudioDataset):
    """Multi-label clips generated from (seed, split, index), tagged by their modulations.

    Each clip is a harmonic tone or a band of noise following a pitch
    trajectory ``f(t)``, shaped by an amplitude envelope, plus a little white
    noise. The tags (``TAGS``, the target order) state how it was made:

    ==================  =====  ===================================================
    tag                 rate   content
    ==================  =====  ===================================================
    ``tremolo_slow``    0.35   sinusoidal AM at 2-5 Hz
    ``tremolo_fast``    0.35   sinusoidal AM at 8-16 Hz
    ``vibrato``         0.35   sinusoidal FM at 5-7 Hz, ±0.3-0.7 semitone
    ``glissando_up``    0.25   pitch rising 1-1.5 octaves over the clip
    ``glissando_down``  0.25   pitch falling 1-1.5 octaves over the clip
    ``pulse_slow``      0.35   note onsets at 60-90 BPM
    ``pulse_fast``      0.35   note onsets at 150-200 BPM
    ``harmonic``        0.50   harmonic tone with partials
    ``noisy``           0.50   band-passed noise
    ``low_register``    0.50   f(t) within 55-240 Hz all clip long
    ``high_register``   0.50   f(t) within 520-1700 Hz all clip long
    ==================  =====  ===================================================

    The rate is the probability of the tag (:meth:`tag_frequencies`). Each
    clip has exactly one timbre (harmonic or noisy) and one register, drawn
    with equal odds, and independently:

    * tremolo: slow 0.35, fast 0.35, none 0.30;
    * pitch motion: glissando up 0.25, down 0.25, vibrato 0.35, none 0.15
      (so vibrato never comes with a glissando, nor up with down);
    * pulse: slow 0.35, fast 0.35, none 0.30.

    A clip has 2 to 5 tags; a tremolo and a pulse may come together. For a
    noisy clip ``f(t)`` is the centre of the noise band (which spans about
    ±30 % around it).

    Parameters
    ----------
    n_clips : int > 0
        Number of clips in the dataset.
    split : {'train', 'valid', 'test'}
        Splits draw from different random streams, so they share no clip.
    duration : float > 0
        Clip length in seconds (``round(duration * sample_rate)`` samples).
        The tags are audible from about 2 s (two slow pulses).
    sample_rate : int >= 8000
        Sampling rate in Hz (the highest band of noise reaches 2.2 kHz).
    crop : int > 0 or None
        Random crop length in samples, or None for whole clips.
    seed : int >= 0
        Seed of the clips and the crops.

    Attributes
    ----------
    TAGS : tuple of str
        The tag names above, in target order (also ``labels``).
    labels : list of str
    ids : list of str
        ``'synthetic/<split>/<seed>/<index>'``.
    task : 'tagging'

    Notes
    -----
    Generator, clip ``i``: ``rng = numpy.random.default_rng((seed, split_code,
    i))`` with split codes train 0, valid 1, test 2; every parameter is drawn
    on every clip, in a fixed order, whether it is used or not; the audio noise
    is drawn after them. :meth:`describe` returns the drawn parameters.

    * Pitch ``f(t)``: log-uniform within the register's band, shrunk by one
      semitone at each end when there is no glissando. A glissando moves
      ``log2 f`` linearly by 1-1.5 octaves (uniform) from the first sample to
      the last, placed uniformly within the band. Vibrato multiplies ``f`` by
      ``2 ** (d / 12 * sin(2 pi r t + phase))``, rate ``r`` uniform 5-7 Hz,
      depth ``d`` uniform 0.3-0.7 semitone.
    * Harmonic timbre: partials ``k = 1 .. K`` with amplitude ``k ** -a``
      (``a`` uniform 1-2) and random phases, ``K = min(12, floor(0.45 *
      sample_rate / max f))`` (no partial above 0.9 Nyquist), synthesised
      from one phase trajectory through an 8192-point wavetable.
    * Noisy timbre: complex white noise low-passed to ±30 % of ``min f`` (a
      raised-cosine band), shifted to ``f(t)`` by the carrier ``exp(i 2 pi
      integral f)``: a band of noise around ``f(t)`` that follows the vibrato
      and glissando. Such a band has envelope fluctuations of its own, up to
      about its bandwidth.
    * Tremolo: the envelope is multiplied by ``1 - m/2 + m/2 * sin(2 pi r t +
      phase)``, depth ``m`` uniform 0.6-0.9, rate ``r`` uniform 2-5 Hz (slow)
      or 8-16 Hz (fast).
    * Pulse: notes at ``b`` BPM (uniform 60-90 slow, 150-200 fast), random
      phase; each note has a 10 ms linear attack and an exponential decay with
      time constant a quarter of the period (-35 dB at the next onset).
    * Background: white Gaussian noise at an SNR uniform 30-40 dB relative to
      the clip's RMS; the peak is then normalised to 0.5.

    A 6 s clip at 16 kHz takes a few milliseconds (NumPy, vectorised).

    Examples
    --------
    >>> from modspec.data import Synthetic
    >>> data = Synthetic(8, split="valid", duration=2.0)
    >>> waveform, target = data[0]
    >>> waveform.shape, target.shape
    (torch.Size([32000]), torch.Size([11]))
    >>> sorted(data.describe(0)["tags"]) == sorted(t for t, v in zip(data.labels, target) if v)
    True
    """

    TAGS = (
        "tremolo_slow",
        "tremolo_fast",
        "vibrato",
        "glissando_up",
        "glissando_down",
        "pulse_slow",
        "pulse_fast",
        "harmonic",
        "noisy",
        "low_register",
        "high_register",
    )
    task = "tagging"

    # Generator parameters (see the class docstring).
    P_HARMONIC = 0.5
    P_LOW_REGISTER = 0.5
    P_TREMOLO = (("tremolo_slow", 0.35), ("tremolo_fast", 0.35))
    P_PITCH = (("glissando_up", 0.25), ("glissando_down", 0.25), ("vibrato", 0.35))
    P_PULSE = (("pulse_slow", 0.35), ("pulse_fast", 0.35))
    LOW_BAND_HZ = (55.0, 240.0)
    HIGH_BAND_HZ = (520.0, 1700.0)
    GLISSANDO_OCTAVES = (1.0, 1.5)
    VIBRATO_HZ = (5.0, 7.0)
    VIBRATO_SEMITONES = (0.3, 0.7)
    TREMOLO_SLOW_HZ = (2.0, 5.0)
    TREMOLO_FAST_HZ = (8.0, 16.0)
    TREMOLO_DEPTH = (0.6, 0.9)
    PULSE_SLOW_BPM = (60.0, 90.0)
    PULSE_FAST_BPM = (150.0, 200.0)
    PULSE_ATTACK_S = 0.010
    PULSE_DECAY_PERIODS = 0.25
    MAX_PARTIALS = 12
    TILT = (1.0, 2.0)
    NOISE_HALF_BANDWIDTH = 0.3
    SNR_DB = (30.0, 40.0)
    PEAK = 0.5

    def __init__(self, n_clips=200, *, split="train", duration=6.0, sample_rate=16000, crop=None, seed=0):
        super().__init__(sample_rate=sample_rate, crop=crop, seed=seed)
        if self.sample_rate < 8000:
            raise ParameterError(f"sample_rate={sample_rate!r} is not allowed; Synthetic needs at least 8000 Hz")
        self.n_clips = _check_int("n_clips", n_clips, minimum=1, allowed="a positive integer")
        self.split = check_choice("split", split, tuple(_SPLIT_CODES))
        if (
            isinstance(duration, bool)
            or not isinstance(duration, numbers.Real)
            or not np.isfinite(duration)
            or duration <= 0
        ):
            raise ParameterError(f"duration={duration!r} is not allowed; use a positive number of seconds")
        self.duration = float(duration)
        self.n_samples = max(1, round(self.duration * self.sample_rate))
        self.labels = list(self.TAGS)
        self.ids = [f"synthetic/{self.split}/{self.seed}/{i}" for i in range(self.n_clips)]

    @classmethod
    def tag_frequencies(cls):
        """Probability of each tag (its expected positive rate), in ``TAGS`` order.

        Returns
        -------
        dict of str to float

        Examples
        --------
        >>> from modspec.data import Synthetic
        >>> Synthetic.tag_frequencies()["glissando_up"]
        0.25
        """
        rates = dict(cls.P_TREMOLO + cls.P_PITCH + cls.P_PULSE)
        rates.update(
            harmonic=cls.P_HARMONIC,
            noisy=1.0 - cls.P_HARMONIC,
            low_register=cls.P_LOW_REGISTER,
            high_register=1.0 - cls.P_LOW_REGISTER,
        )
        return {tag: rates[tag] for tag in cls.TAGS}

    # -- parameters

    def _rng(self, index):
        return np.random.default_rng((self.seed, _SPLIT_CODES[self.split], index))

    @staticmethod
    def _pick(u, probabilities):
        """The name whose cumulative-probability interval holds ``u``, or None."""
        edge = 0.0
        for name, p in probabilities:
            edge += p
            if u < edge:
                return name
        return None

    def _draw(self, rng):
        u = rng.random(5)
        c = rng.random(13)
        phases = rng.random(self.MAX_PARTIALS)
        harmonic = bool(u[0] < self.P_HARMONIC)
        low = bool(u[1] < self.P_LOW_REGISTER)
        tremolo = self._pick(u[2], self.P_TREMOLO)
        pitch = self._pick(u[3], self.P_PITCH)
        pulse = self._pick(u[4], self.P_PULSE)

        def between(bounds, x):
            return float(bounds[0] + x * (bounds[1] - bounds[0]))

        lo, hi = np.log2(self.LOW_BAND_HZ if low else self.HIGH_BAND_HZ)
        if pitch in ("glissando_up", "glissando_down"):
            span = between(self.GLISSANDO_OCTAVES, c[1])
            start = lo + c[0] * (hi - lo - span)
            ends = (start, start + span) if pitch == "glissando_up" else (start + span, start)
        else:
            centre = between((lo + 1 / 12, hi - 1 / 12), c[0])
            ends = (centre, centre)
        params = {
            "tags": [],
            "timbre": "harmonic" if harmonic else "noisy",
            "register": "low_register" if low else "high_register",
            "f_start_hz": float(2.0 ** ends[0]),
            "f_end_hz": float(2.0 ** ends[1]),
            "vibrato_hz": between(self.VIBRATO_HZ, c[2]) if pitch == "vibrato" else None,
            "vibrato_semitones": between(self.VIBRATO_SEMITONES, c[3]) if pitch == "vibrato" else None,
            "vibrato_phase": float(2 * np.pi * c[4]),
            "tremolo_hz": None,
            "tremolo_depth": between(self.TREMOLO_DEPTH, c[6]) if tremolo else None,
            "tremolo_phase": float(2 * np.pi * c[7]),
            "pulse_bpm": None,
            "pulse_phase": float(c[8]),
            "tilt": between(self.TILT, c[9]),
            "snr_db": between(self.SNR_DB, c[10]),
            "carrier_phase": float(c[11]),
            "partial_phases": phases,
        }
        if tremolo:
            params["tremolo_hz"] = between(self.TREMOLO_SLOW_HZ if tremolo == "tremolo_slow" else self.TREMOLO_FAST_HZ, c[5])
        if pulse:
            params["pulse_bpm"] = between(self.PULSE_SLOW_BPM if pulse == "pulse_slow" else self.PULSE_FAST_BPM, c[12])
        tags = {tremolo, pitch, pulse, params["timbre"], params["register"]} - {None}
        params["tags"] = [tag for tag in self.TAGS if tag in tags]
        return params

    def describe(self, index):
        """The generator's parameters for clip ``index`` (no audio is made).

        Returns
        -------
        dict
            ``tags`` (list, in ``TAGS`` order), ``timbre``, ``register``,
            ``f_start_hz`` and ``f_end_hz`` (pitch or band centre at the first
            and last sample, before vibrato), ``vibrato_hz``,
            ``vibrato_semitones``, ``tremolo_hz``, ``tremolo_depth``,
            ``pulse_bpm`` (None when that modulation is absent), ``tilt``,
            ``snr_db`` and the random phases.
        """
        return self._draw(self._rng(self._check_index(index)))

    # -- synthesis

    def _target(self, index):
        tags = set(self.describe(index)["tags"])
        return torch.tensor([tag in tags for tag in self.TAGS], dtype=torch.float32)

    def _waveform(self, index):
        # float32 wherever the precision allows (NumPy's float32 sin/cos/exp are SIMD);
        # the phase is accumulated in float64 (tens of thousands of cycles).
        rng = self._rng(index)
        p = self._draw(rng)
        n, sr = self.n_samples, self.sample_rate
        t = np.arange(n, dtype=np.float32) / np.float32(sr)

        log_f = np.linspace(np.log2(p["f_start_hz"]), np.log2(p["f_end_hz"]), n, dtype=np.float32)
        if p["vibrato_hz"] is not None:
            log_f += np.float32(p["vibrato_semitones"] / 12) * _sin(p["vibrato_hz"], p["vibrato_phase"], t)
        f = np.exp(log_f * np.float32(np.log(2.0)))
        cycles = np.cumsum(f, dtype=np.float64)
        cycles *= 1.0 / sr
        cycles += p["carrier_phase"]
        phase_index = (cycles * _TABLE_SIZE).astype(np.int64) & (_TABLE_SIZE - 1)

        if p["timbre"] == "harmonic":
            y = self._harmonic_table(p, float(f.max()))[phase_index]
        else:
            real, imag = self._baseband_noise(rng, n, self.NOISE_HALF_BANDWIDTH * float(f.min()), sr)
            y = real * _COS_TABLE[phase_index] - imag * _SIN_TABLE[phase_index]

        if p["tremolo_hz"] is not None:
            m = p["tremolo_depth"]
            y *= np.float32(1 - m / 2) + np.float32(m / 2) * _sin(p["tremolo_hz"], p["tremolo_phase"], t)
        if p["pulse_bpm"] is not None:
            period = 60.0 / p["pulse_bpm"]
            position = t * np.float32(1 / period) + np.float32(p["pulse_phase"])
            since_onset = (position - np.floor(position)) * np.float32(period)
            note = np.minimum(np.float32(1.0), since_onset * np.float32(1 / self.PULSE_ATTACK_S))
            note *= np.exp(since_onset * np.float32(-1 / (self.PULSE_DECAY_PERIODS * period)))
            y *= note

        rms = float(np.sqrt(np.dot(y, y) / n)) or 1.0
        y += np.float32(rms * 10.0 ** (-p["snr_db"] / 20)) * rng.standard_normal(n, dtype=np.float32)
        y *= np.float32(self.PEAK / max(float(np.abs(y).max()), 1e-12))
        return y

    def _harmonic_table(self, p, f_max):
        """One period of the harmonic tone: partials up to 0.9 Nyquist of the highest pitch."""
        n_partials = int(min(self.MAX_PARTIALS, max(1, np.floor(0.45 * self.sample_rate / f_max))))
        k = np.arange(1, n_partials + 1)
        cycles = np.arange(_TABLE_SIZE)[:, None] * (k / _TABLE_SIZE) + p["partial_phases"][:n_partials]
        cycles -= np.floor(cycles)
        partials = np.sin(np.float32(2 * np.pi) * cycles.astype(np.float32))
        return partials @ (k ** -p["tilt"]).astype(np.float32)

    @staticmethod
    def _baseband_noise(rng, n, half_bandwidth, sr):
        """Complex white noise low-passed to +-half_bandwidth Hz (raised cosine), unit RMS.

        Made at a reduced rate of 16 half-bandwidths (an inverse FFT of the
        in-band bins only), then linearly interpolated to ``n`` samples at
        ``sr``; the interpolation images lie below -45 dB.
        """
        m = min(n, scipy.fft.next_fast_len(int(np.ceil(16 * half_bandwidth * n / sr))))
        bins_hz = np.fft.fftfreq(m, d=n / (m * sr))
        inside = np.abs(bins_hz) < half_bandwidth
        n_in = int(inside.sum())
        spectrum = np.zeros(m, dtype=np.complex128)
        spectrum[inside] = np.cos(0.5 * np.pi * bins_hz[inside] / half_bandwidth) ** 2 * (
            rng.standard_normal(n_in) + 1j * rng.standard_normal(n_in)
        )
        z = np.fft.ifft(spectrum)
        z /= np.sqrt(np.mean(z.real**2 + z.imag**2)) or 1.0
        if m < n:
            z = np.append(z, z[0])  # periodic: the last samples interpolate towards z[0]
            z = np.interp(np.linspace(0.0, m, n, endpoint=False), np.arange(m + 1.0), z)
        return z.real.astype(np.float32), z.imag.astype(np.float32)


def _sin(rate_hz, phase, t):
    """sin(2 pi rate t + phase) in float32, for a float32 time axis ``t``."""
    return np.sin(np.float32(2 * np.pi * rate_hz) * t + np.float32(phase))


_COS_TABLE = np.cos(2 * np.pi * np.arange(_TABLE_SIZE) / _TABLE_SIZE).astype(np.float32)
_SIN_TABLE = np.sin(2 * np.pi * np.arange(_TABLE_SIZE) / _TABLE_SIZE).astype(np.float32)
