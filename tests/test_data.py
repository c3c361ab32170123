"""Tests of modspec.data: the synthetic set, MTAT, Speech Commands, TagFolder, collate.

The on-disk datasets are tested on tiny fake trees built in ``tmp_path``.
MagnaTagATune's clips are MP3: they are written as real MP3 when this
libsndfile can encode it (``'MP3' in soundfile.available_formats()``, libsndfile
>= 1.1); otherwise WAV data is written under the ``.mp3`` names, which
:func:`modspec.io.load` still reads because it detects the format from the
contents, not the name.
"""

import warnings

import numpy as np
import pytest
import soundfile as sf

torch = pytest.importorskip("torch", reason="modspec.data needs the torch extra")

from modspec.data import (
    MTAT,
    SpeechCommands,
    Synthetic,
    TagFolder,
    UnreadableAudioWarning,
    collate,
)
from modspec.errors import ParameterError

SR = 16000


def tone(seconds, sr=SR, freq=440.0):
    t = np.arange(round(seconds * sr)) / sr
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


# ------------------------------------------------------------------ measurements


def dominant_rate_hz(track, frame_rate=100.0, lo=0.5, hi=30.0):
    """Frequency of the largest peak of a (mean-removed, Hann-windowed) track's spectrum."""
    track = (track - track.mean()) * np.hanning(len(track))
    spectrum = np.abs(np.fft.rfft(track, 8 * len(track)))
    freqs = np.fft.rfftfreq(8 * len(track), 1 / frame_rate)
    band = (freqs >= lo) & (freqs <= hi)
    return freqs[band][np.argmax(spectrum[band])]


def envelope_peak_hz(y, sr=SR):
    """Main rate of the frame-RMS envelope (10 ms frames)."""
    hop = sr // 100
    frames = y[: len(y) // hop * hop].reshape(-1, hop)
    return dominant_rate_hz(np.sqrt((frames**2).mean(axis=1)))


def centroid_track(y, sr=SR, n_fft=1024, hop=160):
    """Spectral centroid (Hz) of every 10 ms frame."""
    frames = np.lib.stride_tricks.sliding_window_view(y, n_fft)[::hop] * np.hanning(n_fft)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    return power @ np.fft.rfftfreq(n_fft, 1 / sr) / power.sum(axis=1)


@pytest.fixture(scope="module")
def synth():
    """150 clips of 4 s and their parameters (about 1 s to generate)."""
    data = Synthetic(150, split="test", duration=4.0, seed=3)
    return [(data[i][0].numpy(), data.describe(i)) for i in range(len(data))]


# ---------------------------------------------------------------------- Synthetic


def test_synthetic_items():
    data = Synthetic(5, duration=1.5, sample_rate=8000)
    assert len(data) == 5 and data.task == "tagging" and data.crop is None
    assert data.labels == list(Synthetic.TAGS) and len(data.TAGS) == 11
    assert data.sample_rate == 8000 and len(set(data.ids)) == 5
    for i in range(len(data)):
        waveform, target = data[i]
        assert waveform.dtype == torch.float32 and waveform.shape == (12000,)
        assert target.dtype == torch.float32 and target.shape == (11,)
        assert abs(float(waveform.abs().max()) - 0.5) < 1e-6
        assert np.isfinite(waveform.numpy()).all()
        tags = [t for t, v in zip(data.labels, target.tolist()) if v]
        assert tags == data.describe(i)["tags"]
    assert data[-1][0].equal(data[4][0])
    with pytest.raises(IndexError):
        data[5]


def test_synthetic_is_deterministic_and_splits_differ():
    a = Synthetic(4, duration=1.0, seed=7)
    b = Synthetic(4, duration=1.0, seed=7)
    for i in range(4):
        assert a[i][0].equal(a[i][0]) and a[i][0].equal(b[i][0]) and a[i][1].equal(b[i][1])
    other_seed = Synthetic(4, duration=1.0, seed=8)
    valid = Synthetic(4, duration=1.0, seed=7, split="valid")
    test = Synthetic(4, duration=1.0, seed=7, split="test")
    for other in (other_seed, valid, test):
        for i in range(4):
            for j in range(4):
                assert not torch.allclose(a[i][0], other[j][0])


def test_synthetic_tag_rules_and_frequencies():
    data = Synthetic(3000, duration=1.0)
    expected = Synthetic.tag_frequencies()
    assert list(expected) == list(Synthetic.TAGS)
    counts = dict.fromkeys(Synthetic.TAGS, 0)
    for i in range(len(data)):
        tags = set(data.describe(i)["tags"])
        assert len(tags & {"harmonic", "noisy"}) == 1
        assert len(tags & {"low_register", "high_register"}) == 1
        assert len(tags & {"tremolo_slow", "tremolo_fast"}) <= 1
        assert len(tags & {"pulse_slow", "pulse_fast"}) <= 1
        assert len(tags & {"glissando_up", "glissando_down", "vibrato"}) <= 1
        for tag in tags:
            counts[tag] += 1
    for tag, rate in expected.items():
        # binomial standard deviation <= 0.0092 for 3000 clips: 0.04 is > 4 sigma
        assert abs(counts[tag] / len(data) - rate) < 0.04, tag


def test_synthetic_tremolo_and_pulse_rates(synth):
    checked = {"tremolo_slow": 0, "tremolo_fast": 0, "pulse_slow": 0, "pulse_fast": 0}
    for y, p in synth:
        if (p["tremolo_hz"] is None) == (p["pulse_bpm"] is None):
            continue  # exactly one amplitude modulation, so the envelope has one main rate
        rate = p["tremolo_hz"] if p["pulse_bpm"] is None else p["pulse_bpm"] / 60
        tag = next(t for t in checked if t in p["tags"])
        low, high = {
            "tremolo_slow": (2, 5), "tremolo_fast": (8, 16), "pulse_slow": (1, 1.5), "pulse_fast": (2.5, 10 / 3)
        }[tag]
        peak = envelope_peak_hz(y)
        assert low - 0.1 <= peak <= high + 0.1, (tag, p["timbre"], rate, peak)
        assert abs(peak - rate) < 0.1
        checked[tag] += 1
    assert all(n >= 3 for n in checked.values()), checked


def test_synthetic_pitch_motion(synth):
    checked = {"glissando_up": 0, "glissando_down": 0, "vibrato": 0}
    for y, p in synth:
        centroid = centroid_track(y)
        quarter = len(centroid) // 4
        ratio = np.median(centroid[-quarter:]) / np.median(centroid[:quarter])
        if "glissando_up" in p["tags"]:
            assert ratio > 1.3, ratio
            checked["glissando_up"] += 1
        elif "glissando_down" in p["tags"]:
            assert ratio < 1 / 1.3, ratio
            checked["glissando_down"] += 1
        else:
            assert 0.8 < ratio < 1.25, (p["tags"], ratio)
        if "vibrato" in p["tags"] and p["tremolo_hz"] is None and p["pulse_bpm"] is None:
            rate = dominant_rate_hz(centroid, lo=1.0)  # the centroid of a harmonic tone follows f0
            assert 4.8 <= rate <= 7.2 and abs(rate - p["vibrato_hz"]) < 0.2, (p["timbre"], rate)
            checked["vibrato"] += 1
    assert all(n >= 2 for n in checked.values()), checked


def test_synthetic_register(synth):
    for y, p in synth:
        spectrum = np.abs(np.fft.rfft(y))
        dominant = np.fft.rfftfreq(len(y), 1 / SR)[np.argmax(spectrum)]
        if "low_register" in p["tags"]:
            assert dominant < 250, (p["tags"], dominant)
        else:
            assert dominant > 500, (p["tags"], dominant)


def test_synthetic_crop_epochs():
    data = Synthetic(3, duration=2.0, crop=4000, seed=1)
    first = [data[i][0] for i in range(3)]
    assert all(w.shape == (4000,) for w in first)
    assert all(w.equal(data[i][0]) for i, w in enumerate(first))
    full = Synthetic(3, duration=2.0, seed=1)[0][0].numpy()
    windows = np.lib.stride_tricks.sliding_window_view(full, 4000)
    assert (windows == first[0].numpy()).all(axis=1).sum() == 1  # a crop of the whole clip
    data.set_epoch(1)
    second = [data[i][0] for i in range(3)]
    assert not any(a.equal(b) for a, b in zip(first, second))
    again = Synthetic(3, duration=2.0, crop=4000, seed=1)
    again.set_epoch(1)
    assert all(a.equal(again[i][0]) for i, a in enumerate(second))


def test_dataloader_workers_match_indexing():
    data = Synthetic(6, duration=0.5, crop=2000, seed=2)
    data.set_epoch(3)
    loader = torch.utils.data.DataLoader(data, batch_size=3, num_workers=2, collate_fn=collate)
    waveforms, targets = (torch.cat(parts) for parts in zip(*loader))
    assert waveforms.shape == (6, 2000) and targets.shape == (6, 11)
    for i in range(6):
        assert waveforms[i].equal(data[i][0]) and targets[i].equal(data[i][1])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"split": "training"}, "split='training'"),
        ({"crop": 0}, "crop=0"),
        ({"crop": -5}, "crop=-5"),
        ({"crop": 1.5}, "crop=1.5"),
        ({"n_clips": 0}, "n_clips=0"),
        ({"duration": 0.0}, "duration=0.0"),
        ({"sample_rate": 4000}, "sample_rate=4000"),
        ({"seed": -1}, "seed=-1"),
    ],
)
def test_synthetic_bad_arguments(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        Synthetic(**kwargs)


def test_set_epoch_rejects_negative():
    with pytest.raises(ParameterError, match="epoch=-1"):
        Synthetic(2).set_epoch(-1)


# ------------------------------------------------------------------------ collate


def test_collate():
    items = [(torch.ones(4), torch.tensor([1.0, 0.0])), None, (torch.full((2,), 2.0), torch.tensor([0.0, 1.0]))]
    waveforms, targets = collate(items)
    assert waveforms.tolist() == [[1, 1, 1, 1], [2, 2, 0, 0]]
    assert targets.tolist() == [[1, 0], [0, 1]]
    waveforms, targets = collate([(torch.ones(3), torch.tensor(2)), (torch.ones(3), torch.tensor(0))])
    assert waveforms.shape == (2, 3) and targets.dtype == torch.int64 and targets.tolist() == [2, 0]
    assert collate([None, None]) is None
    assert collate([]) is None


# ---------------------------------------------------------------------------- MTAT

MTAT_TAGS = ["guitar", "classical", "slow", "ambient", "strings", "rare"]
# counts: classical 6, guitar 4, slow 3, ambient 3 (after slow in column order), strings 1, rare 0
MTAT_CLIPS = [
    ("2", "0/a.mp3", {"guitar", "classical"}),
    ("6", "0/b.mp3", {"strings"}),
    ("7", "b/c.mp3", {"classical", "slow"}),
    ("9", "c/d.mp3", {"guitar", "ambient"}),
    ("11", "c/e.mp3", {"ambient"}),
    ("12", "d/f.mp3", {"classical", "guitar"}),
    ("15", "f/g.mp3", {"classical", "slow"}),
    ("21", "5/h.mp3", {"guitar", "classical", "slow", "ambient"}),
    ("30", "e/i.mp3", {"classical"}),  # garbage bytes
]
CORRUPT = "e/i.mp3"


def write_audio(path, y, sr):
    """Real MP3 when libsndfile can encode it, else WAV data under the given name."""
    fmt = "MP3" if path.suffix == ".mp3" and "MP3" in sf.available_formats() else "WAV"
    sf.write(path, y, sr, format=fmt)


@pytest.fixture(params=[False, True], ids=["bare", "quoted"])
def mtat_root(tmp_path, request):
    quote = (lambda s: f'"{s}"') if request.param else str
    lines = ["\t".join(quote(s) for s in ["clip_id", *MTAT_TAGS, "mp3_path"])]
    for k, (clip_id, path, tags) in enumerate(MTAT_CLIPS):
        values = [str(int(tag in tags)) for tag in MTAT_TAGS]
        lines.append("\t".join(quote(s) for s in [clip_id, *values, path]))
        target = tmp_path / path
        target.parent.mkdir(exist_ok=True)
        if path == CORRUPT:
            target.write_bytes(b"this is not an mp3 file\n" * 40)
        else:
            write_audio(target, tone(0.5, freq=200.0 + 50 * k), SR)
    (tmp_path / "annotations_final.csv").write_text("\n".join(lines) + "\n")
    return tmp_path


def test_mtat_top_tags_and_fold_split(mtat_root):
    train = MTAT(mtat_root, "train", n_tags=3)
    assert train.labels == ["classical", "guitar", "slow"]  # tie slow/ambient: column order
    assert train.task == "tagging" and train.sample_rate == SR
    assert train.ids == ["0/a.mp3", "b/c.mp3", "5/h.mp3"]  # 0/b.mp3 has none of the 3 tags
    assert train.clip_ids == ["2", "7", "21"]
    waveform, target = train[0]
    assert waveform.dtype == torch.float32 and waveform.ndim == 1 and waveform.shape[0] > 0.4 * SR
    assert target.dtype == torch.float32 and target.tolist() == [1, 1, 0]
    assert train[2][1].tolist() == [1, 1, 1]
    assert MTAT(mtat_root, "valid", n_tags=3).ids == ["c/d.mp3"]
    assert MTAT(mtat_root, "valid", n_tags=4).ids == ["c/d.mp3", "c/e.mp3"]
    assert MTAT(mtat_root, "test", n_tags=3).ids == ["d/f.mp3", "f/g.mp3", CORRUPT]


def test_mtat_corrupt_file_warns_once_and_is_skipped(mtat_root):
    test = MTAT(mtat_root, "test", n_tags=3, crop=SR // 4)
    with pytest.warns(UnreadableAudioWarning) as record:
        assert test[2] is None
    assert len(record) == 1 and CORRUPT.split("/")[1] in str(record[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert test[2] is None  # reported once only
        waveforms, targets = collate([test[i] for i in range(len(test))])
    assert waveforms.shape == (2, SR // 4) and targets.shape == (2, 3)


def test_mtat_split_files(mtat_root, tmp_path_factory):
    lists = tmp_path_factory.mktemp("lists")
    (lists / "train.txt").write_text("c/d.mp3\n0/b.mp3\n\nd/f.mp3\n")
    (lists / "bad.txt").write_text("0/a.mp3\n9/nowhere.mp3\n")
    data = MTAT(mtat_root, "train", n_tags=3, split_files={"train": lists / "train.txt"})
    assert data.ids == ["c/d.mp3", "d/f.mp3"]  # 0/b.mp3 has none of the tags
    with pytest.raises(ParameterError, match="split='valid'"):
        MTAT(mtat_root, "valid", n_tags=3, split_files={"train": lists / "train.txt"})
    with pytest.raises(ParameterError, match="nowhere.mp3"):
        MTAT(mtat_root, "train", n_tags=3, split_files={"train": lists / "bad.txt"})
    with pytest.raises(ParameterError, match="missing.txt"):
        MTAT(mtat_root, "train", n_tags=3, split_files={"train": lists / "missing.txt"})


def test_mtat_default_top_50(tmp_path):
    # 60 tags over 12 clips, tag j on clip i when (i + j) % 5 < j % 4 + 1: many ties
    n_clips, n_tags = 12, 60
    on = np.array([[(i + j) % 5 < j % 4 + 1 for j in range(n_tags)] for i in range(n_clips)])
    on[:, 59] = False  # a tag nobody has
    names = [f"t{j:02d}" for j in range(n_tags)]
    lines = ["\t".join(["clip_id", *names, "mp3_path"])]
    lines += ["\t".join([str(i), *map(str, on[i].astype(int)), f"0/{i}.mp3"]) for i in range(n_clips)]
    (tmp_path / "annotations_final.csv").write_text("\n".join(lines) + "\n")
    data = MTAT(tmp_path)
    counts = on.sum(axis=0)
    assert len(data.labels) == 50
    kept = [names.index(t) for t in data.labels]
    assert [counts[j] for j in kept] == sorted(counts[kept], reverse=True)  # most frequent first
    dropped = sorted(set(range(n_tags)) - set(kept))
    assert max(counts[dropped]) <= min(counts[kept])
    for j in dropped:  # among equal counts, the later columns are dropped
        assert all(k < j for k in kept if counts[k] == counts[j])
    assert len(data) == n_clips


@pytest.mark.parametrize(
    "kwargs, match",
    [({"split": "training"}, "split='training'"), ({"n_tags": 0}, "n_tags=0"), ({"n_tags": 7}, "n_tags=7"),
     ({"crop": 0}, "crop=0")],
)
def test_mtat_bad_arguments(mtat_root, kwargs, match):
    kwargs = {"n_tags": 3, **kwargs}
    with pytest.raises(ParameterError, match=match):
        MTAT(mtat_root, **kwargs)


def test_mtat_missing_root_or_csv(tmp_path):
    with pytest.raises(ParameterError, match="no_such_dir"):
        MTAT(tmp_path / "no_such_dir")
    with pytest.raises(ParameterError, match="annotations_final.csv"):
        MTAT(tmp_path)


# ----------------------------------------------------------------- Speech Commands

WORDS = {"yes": [1.0, 0.6, 1.0], "no": [1.0, 1.0], "up": [1.0, 0.8], "down": [1.0]}


@pytest.fixture
def speech_root(tmp_path):
    for w, (word, lengths) in enumerate(WORDS.items()):
        (tmp_path / word).mkdir()
        for k, seconds in enumerate(lengths):
            sf.write(tmp_path / word / f"s{k}_nohash_0.wav", tone(seconds, freq=300 + 100 * w + 10 * k), SR)
    (tmp_path / "_background_noise_").mkdir()
    noise = np.random.default_rng(0).standard_normal(3 * SR).astype(np.float32) * 0.1
    sf.write(tmp_path / "_background_noise_" / "white_noise.wav", noise, SR)
    (tmp_path / "validation_list.txt").write_text("yes/s1_nohash_0.wav\nno/s1_nohash_0.wav\n")
    (tmp_path / "testing_list.txt").write_text("up/s1_nohash_0.wav\n")
    return tmp_path


def test_speech_commands_subsets(speech_root):
    train = SpeechCommands(speech_root, "train")
    assert train.labels == ["down", "no", "up", "yes"] and train.task == "classification"
    assert train.ids == [
        "down/s0_nohash_0.wav", "no/s0_nohash_0.wav", "up/s0_nohash_0.wav", "yes/s0_nohash_0.wav",
        "yes/s2_nohash_0.wav",
    ]
    assert SpeechCommands(speech_root, "valid").ids == ["no/s1_nohash_0.wav", "yes/s1_nohash_0.wav"]
    test = SpeechCommands(speech_root, "test")
    assert test.ids == ["up/s1_nohash_0.wav"]
    waveform, target = test[0]  # 0.8 s, zero-padded to the 1 s crop
    assert waveform.shape == (SR,) and waveform.dtype == torch.float32
    assert waveform[int(0.8 * SR) :].abs().max() == 0 and waveform[: int(0.8 * SR)].abs().max() > 0.2
    assert target.dtype == torch.int64 and target.ndim == 0 and int(target) == 2
    assert [int(train[i][1]) for i in range(len(train))] == [0, 1, 2, 3, 3]
    assert train.crop == SR


def test_speech_commands_words_subset(speech_root):
    data = SpeechCommands(speech_root, "valid", words=["yes", "no"])
    assert data.labels == ["no", "yes"]
    assert [int(data[i][1]) for i in range(len(data))] == [0, 1]
    assert SpeechCommands(speech_root, "train", words=["yes"]).ids == ["yes/s0_nohash_0.wav", "yes/s2_nohash_0.wav"]
    with pytest.raises(ParameterError, match="left"):
        SpeechCommands(speech_root, words=["yes", "left"])
    with pytest.raises(ParameterError, match="_background_noise_"):
        SpeechCommands(speech_root, words=["_background_noise_"])


def test_speech_commands_background_noise(speech_root):
    clean = SpeechCommands(speech_root, "train", seed=4)
    noisy = SpeechCommands(speech_root, "train", seed=4, background_noise=True)
    again = SpeechCommands(speech_root, "train", seed=4, background_noise=True)
    mixed = [not noisy[i][0].equal(clean[i][0]) for i in range(len(noisy))]
    assert any(mixed)
    assert all(noisy[i][0].equal(again[i][0]) for i in range(len(noisy)))
    with pytest.raises(ParameterError, match="crop"):
        SpeechCommands(speech_root, background_noise=True, crop=None)


def test_speech_commands_bad_arguments(speech_root, tmp_path_factory):
    with pytest.raises(ParameterError, match="subset='dev'"):
        SpeechCommands(speech_root, "dev")
    with pytest.raises(ParameterError, match="crop=0"):
        SpeechCommands(speech_root, crop=0)
    (speech_root / "testing_list.txt").unlink()
    with pytest.raises(ParameterError, match="testing_list.txt"):
        SpeechCommands(speech_root)
    with pytest.raises(ParameterError, match="nowhere"):
        SpeechCommands(tmp_path_factory.mktemp("x") / "nowhere")


# ----------------------------------------------------------------------- TagFolder


@pytest.fixture
def tag_root(tmp_path):
    (tmp_path / "audio").mkdir()
    for k in range(3):
        sf.write(tmp_path / "audio" / f"{k}.wav", tone(1.0, sr=22050, freq=300 + 100 * k), 22050)
    (tmp_path / "tags.csv").write_text(
        'path,split,drums,"voice"\naudio/0.wav,train,1,0\naudio/1.wav,test,0,1\n"audio/2.wav",train,1,1\n'
    )
    return tmp_path


def test_tag_folder(tag_root):
    data = TagFolder(tag_root, "tags.csv")
    assert data.labels == ["drums", "voice"] and data.task == "tagging"
    assert data.ids == ["audio/0.wav", "audio/1.wav", "audio/2.wav"]
    waveform, target = data[1]
    assert waveform.shape == (SR,) and waveform.dtype == torch.float32  # 22050 Hz resampled to 16000
    spectrum = np.abs(np.fft.rfft(waveform.numpy()))
    assert abs(np.argmax(spectrum) - 400) <= 1  # 1 Hz bins: the 400 Hz tone is kept
    assert target.tolist() == [0.0, 1.0]
    train = TagFolder(tag_root, tag_root / "tags.csv", split="train", sample_rate=8000, crop=1000)
    assert train.ids == ["audio/0.wav", "audio/2.wav"]
    assert train[1][0].shape == (1000,) and train[1][1].tolist() == [1.0, 1.0]


def test_tag_folder_tab_separated_float_values(tag_root):
    (tag_root / "tags.tsv").write_text("drums\tpath\tvoice\n1.0\taudio/2.wav\t0.0\n0\taudio/0.wav\t1\n")
    data = TagFolder(tag_root, "tags.tsv")
    assert data.labels == ["drums", "voice"] and data.ids == ["audio/2.wav", "audio/0.wav"]
    assert data[0][1].tolist() == [1.0, 0.0] and data[1][1].tolist() == [0.0, 1.0]


def test_tag_folder_errors(tag_root):
    with pytest.raises(ParameterError, match="missing.csv"):
        TagFolder(tag_root, "missing.csv")
    with pytest.raises(ParameterError, match="valid"):
        TagFolder(tag_root, "tags.csv", split="valid")
    (tag_root / "bad.csv").write_text("file,drums\naudio/0.wav,1\n")
    with pytest.raises(ParameterError, match="'path'"):
        TagFolder(tag_root, "bad.csv")
    (tag_root / "bad.csv").write_text("path,drums\naudio/0.wav,yes\n")
    with pytest.raises(ParameterError, match="'yes'"):
        TagFolder(tag_root, "bad.csv")
    with pytest.raises(ParameterError, match="no_root"):
        TagFolder(tag_root / "no_root", "tags.csv")
