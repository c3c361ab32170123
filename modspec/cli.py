"""The ``modspec`` command."""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

__all__ = ["demo_clip", "main"]


def demo_clip(sr=16000, duration=5.0, seed=0):
    """A deterministic test clip with the modulations modspec's front ends target.

    A harmonic tone at 220 Hz with 6 Hz tremolo for the first half, an
    exponential glissando 300 Hz → 2.4 kHz with 5.5 Hz vibrato for the second,
    and noise bursts every 0.5 s (a rhythmic pulse), at -6 dBFS peak.

    Parameters
    ----------
    sr : int
        Sample rate in Hz.
    duration : float
        Length in seconds.
    seed : int
        Seed of the noise.

    Returns
    -------
    y : np.ndarray, shape (round(sr * duration),), float32
    """
    n = int(round(sr * duration))
    t = np.arange(n) / sr
    half = t < duration / 2
    tremolo = (1 + 0.6 * np.sin(2 * np.pi * 6.0 * t)) * sum(np.sin(2 * np.pi * k * 220.0 * t) / k for k in range(1, 7))
    rate = np.log(2400.0 / 300.0) / (duration / 2)
    t2 = t - duration / 2
    phase = 2 * np.pi * 300.0 * (np.exp(rate * t2) - 1) / rate + 0.03 * 300.0 / 5.5 * np.sin(2 * np.pi * 5.5 * t2)
    glissando = sum(np.sin(k * phase) / k for k in range(1, 4))
    pulses = np.random.default_rng(seed).standard_normal(n) * (np.mod(t, 0.5) < 0.04)
    y = np.where(half, tremolo, glissando) + 0.5 * pulses
    return (0.5 * y / np.abs(y).max()).astype(np.float32)


def _features(args):
    from modspec import features, io

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sr = args.sr
    if args.input:
        y, sr = io.load(args.input, sr=sr)
        source = args.input
    else:
        source = out / "demo_clip.wav"
        io.save(source, demo_clip(sr=sr), sr)
        y, sr = io.load(source)
    print(f"clip: {source} ({y.shape[-1] / sr:.2f} s at {sr} Hz, {y.dtype})")

    params = dict(n_fft=512, hop_length=256)
    t0 = time.perf_counter()
    D = features.stft(y, **params)
    M = features.melspectrogram(y, sr=sr, n_mels=96, **params)
    M_db = features.power_to_db(M, ref=np.max)
    logmel = features.log_compress(M, C=10000.0)
    standardized = features.standardize(M_db, mode="sample")
    elapsed = time.perf_counter() - t0
    rows = [
        ("stft", D, "complex STFT, n_fft=512, hop=256"),
        ("melspectrogram", M, "power, 96 Slaney mel bands"),
        ("power_to_db", M_db, "dB re max, top_db=80"),
        ("log_compress", logmel, "log(1 + 10000 x) (Dieleman 2014)"),
        ("standardize", standardized, "per-sample (Choi et al. 2018)"),
    ]
    for name, value, what in rows:
        shown = np.abs(value) if np.iscomplexobj(value) else value  # |X| for the complex STFT
        print(f"{name:>15}  shape={str(value.shape):<12} {str(value.dtype):<10} "
              f"min={shown.min():10.4g} max={shown.max():10.4g}  {what}")
    print(f"features computed in {elapsed * 1e3:.1f} ms (first call includes kernel compilation)")

    from modspec import display

    ax = display.specshow(M_db, sr=sr, hop_length=params["hop_length"], title="mel spectrogram (dB)")
    png = out / "melspectrogram.png"
    ax.figure.savefig(png, dpi=100)
    print(f"wrote {png}")
    return 0


def _parse_option(text):
    """``KEY=VALUE`` with VALUE read as a Python literal (number, bool, None, tuple) or else kept as a string."""
    import ast

    key, eq, value = text.partition("=")
    if not eq or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"--option {text!r} must be KEY=VALUE, e.g. frontend=raw or stride=512")
    try:
        value = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        pass
    return key, value


def _config(args):
    from modspec.train import TrainConfig

    return TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                       workers=args.workers, steps_per_epoch=args.steps_per_epoch, device=args.device,
                       progress=not args.quiet)


def _train(args):
    from modspec.train.run import train_model

    import torch.distributed as dist

    model, result = train_model(args.model, args.data, args.out, options=dict(args.option), config=_config(args),
                                resume=args.resume, sample_rate=args.sr, duration=args.duration)
    if dist.is_initialized():  # under torchrun: rank 0 reports
        rank = dist.get_rank()
        dist.destroy_process_group()
        if rank != 0:
            return 0
    print(f"best epoch {result['best_epoch']} of {result['epochs']}, valid loss {result['best_valid_loss']:.4f}"
          + (" (stopped early)" if result["stopped_early"] else "") + f"; weights in {Path(args.out) / 'best.pt'}")
    return 0


def _evaluate(args):
    from modspec.train.run import evaluate_checkpoint

    evaluate_checkpoint(args.checkpoint, args.data, split=args.split, json_path=args.json, device=args.device or "cpu",
                        progress=not args.quiet)
    return 0


def _predict(args):
    from modspec.train.run import predict_files

    failed = 0
    for result in predict_files(args.checkpoint, args.files, top=args.top, device=args.device or "cpu"):
        if "error" in result:
            failed += 1
            print(f"{result['path']}: skipped ({result['error']})", file=sys.stderr)
            continue
        tags = ", ".join(f"{label} {p:.2f}" for label, p in result["top"])
        print(f"{result['path']}: {tags}")
    return 1 if failed else 0


def _demo(args):
    from modspec.train.demo import run_demo

    run_demo(args.out, n_train=args.n_train, seed=args.seed, progress=not args.quiet)
    return 0


def _models(args):
    from modspec import models

    if args.name:
        print(models.summary(args.name, **dict(args.option)))
    else:
        for name in models.available():
            print(name)
    return 0


def main(argv=None):
    """Entry point of the ``modspec`` command."""
    from modspec.errors import ParameterError

    parser = argparse.ArgumentParser(prog="modspec", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="train the mel baseline and SincModNet on synthetic data; "
                               "print and plot their ROC-AUC / PR-AUC per tag")
    demo.add_argument("--out", default="demo_out", help="output folder (default demo_out); re-running resumes")
    demo.add_argument("--n-train", type=int, default=320, help="synthetic training clips (default 320)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--quiet", action="store_true", help="no progress bars")
    demo.set_defaults(run=_demo)

    feats = commands.add_parser("features", help="compute features of a clip and plot its mel spectrogram")
    feats.add_argument("--input", help="an audio file (default: a generated clip)")
    feats.add_argument("--sr", type=int, default=16000, help="sample rate in Hz (default 16000)")
    feats.add_argument("--out", default="demo_out", help="output folder (default demo_out)")
    feats.set_defaults(run=_features)

    from modspec.data.spec import DATA_SPECS

    train = commands.add_parser("train", help="train a model of modspec.models")
    train.add_argument("--model", required=True, help="a name of `modspec models`")
    train.add_argument("--option", type=_parse_option, action="append", default=[], metavar="KEY=VALUE",
                       help="a model option (repeatable), e.g. --option frontend=raw")
    train.add_argument("--data", default="synthetic", help=f"{DATA_SPECS} (default synthetic)")
    train.add_argument("--out", default="runs/model", help="run folder (default runs/model)")
    train.add_argument("--resume", action="store_true", help="continue the interrupted run in --out")
    train.add_argument("--epochs", type=int, default=200)
    train.add_argument("--batch-size", type=int, default=16)
    train.add_argument("--lr", type=float, default=1e-3)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    train.add_argument("--steps-per-epoch", type=int, default=None)
    train.add_argument("--device", default=None, help="cpu, cuda, cuda:1 … (default: cuda if available)")
    train.add_argument("--sr", type=int, default=16000, help="the model's sample rate in Hz (default 16000)")
    train.add_argument("--duration", type=float, default=6.0, help="synthetic clip length in s (default 6)")
    train.add_argument("--quiet", action="store_true", help="no progress bars")
    train.set_defaults(run=_train)

    ev = commands.add_parser("evaluate", help="macro and per-tag metrics of a trained model on whole clips")
    ev.add_argument("checkpoint", help="best.pt, last.pt or a run folder")
    ev.add_argument("--data", default=None, help=f"{DATA_SPECS} (default: the training data)")
    ev.add_argument("--split", default="test", choices=["train", "valid", "test"])
    ev.add_argument("--json", default=None, help="also write the metrics to this JSON file")
    ev.add_argument("--device", default=None)
    ev.add_argument("--quiet", action="store_true")
    ev.set_defaults(run=_evaluate)

    pr = commands.add_parser("predict", help="top tags of audio files with their probabilities")
    pr.add_argument("checkpoint", help="best.pt, last.pt or a run folder")
    pr.add_argument("files", nargs="+")
    pr.add_argument("--top", type=int, default=5)
    pr.add_argument("--device", default=None)
    pr.set_defaults(run=_predict)

    mo = commands.add_parser("models", help="list the models, or print one's parameter summary")
    mo.add_argument("name", nargs="?")
    mo.add_argument("--option", type=_parse_option, action="append", default=[], metavar="KEY=VALUE")
    mo.set_defaults(run=_models)

    from modspec.extract import add_parser as add_extract_parser

    add_extract_parser(commands)

    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except ParameterError as err:
        print(f"modspec {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
