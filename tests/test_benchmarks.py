"""Smoke test of benchmarks/compare.py: structure and parity, never speed."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # `pytest` (not `python -m pytest`) does not put the root on sys.path
    sys.path.insert(0, str(REPO))

from benchmarks import compare  # noqa: E402

PARITY_TOL = 1e-4


@pytest.fixture(scope="module")
def result():
    inputs = compare.make_inputs({"tiny_clip": (4000,), "tiny_batch": (2, 3000)})
    return compare.measure(inputs, rounds=1, warmup=1)


def _peers():
    peers, _ = compare._import_peers()
    return set(peers)


def test_result_is_json_serialisable(result):
    assert json.loads(json.dumps(result)) == result


def test_structure(result):
    peers = _peers()
    libraries = {"modspec"} | peers
    assert set(result) >= {"date", "machine", "settings", "notes", "inputs", "bars"}
    machine = result["machine"]
    assert machine["cpu_count"] >= 1
    assert set(machine["background_load"]) == {"cpu_s", "wall_s", "cores"}
    assert set(machine["versions"]) >= {"python", "modspec", "numpy", "scipy", "numba"} | peers
    assert result["settings"]["rounds"] == 1
    assert set(result["inputs"]) == {"tiny_clip", "tiny_batch"}
    assert result["inputs"]["tiny_batch"]["shape"] == [2, 3000]
    assert result["inputs"]["tiny_batch"]["audio_seconds"] == pytest.approx(6000 / compare.SR)
    for entry in result["inputs"].values():
        assert set(entry["operations"]) == {"stft", "melspectrogram"}
        for op in entry["operations"].values():
            assert set(op["libraries"]) == libraries
            for stats in op["libraries"].values():
                assert stats["rounds"] == 1
                assert stats["median_s"] > 0
                assert stats["throughput"] == pytest.approx(entry["audio_seconds"] / stats["median_s"])
            assert set(op["ratio"]) == peers
            for peer, ratio in op["ratio"].items():
                assert ratio == pytest.approx(op["libraries"][peer]["median_s"] / op["libraries"]["modspec"]["median_s"])
            assert set(op["parity"]) == {"modspec_vs_librosa", "torch_vs_librosa"}
    assert set(result["bars"]["inputs"]) == {"tiny_clip", "tiny_batch"}
    for per_peer in result["bars"]["inputs"].values():
        assert set(per_peer) == {"librosa", "torch"}
        for peer, bar in per_peer.items():
            assert bar["held"] in ((True, False) if peer in peers else (None,))


def test_parity_below_tolerance(result):
    peers = _peers()
    if "librosa" not in peers:
        pytest.skip("librosa not installed: no parity reference (modspec[bench])")
    checked = 0
    for entry in result["inputs"].values():
        for op in entry["operations"].values():
            expected = {"modspec_vs_librosa"} | ({"torch_vs_librosa"} if "torch" in peers else set())
            for key in expected:
                assert op["parity"][key] is not None
                assert 0 <= op["parity"][key] < PARITY_TOL, (key, op["parity"][key])
                checked += 1
    assert checked >= 4


def test_parity_error_is_relative_to_reference():
    b = np.array([1.0, -4.0, 2.0])
    assert compare.parity_error(b + [0.0, 0.0, 0.4], b) == pytest.approx(0.1)
    assert compare.parity_error(np.array([1j, 2.0]), np.array([0.0, 2.0])) == pytest.approx(0.5)


def test_main_writes_json(tmp_path, monkeypatch):
    monkeypatch.setattr(compare, "INPUTS", {"tiny": (2000,)})
    out = tmp_path / "results.json"
    assert compare.main(["--quick", "--rounds", "1", "--out", str(out)]) == 0
    written = json.loads(out.read_text())
    assert set(written["inputs"]) == {"tiny"}
    assert written["settings"]["quick"] is True


def test_missing_peers_are_skipped_with_a_note(monkeypatch):
    monkeypatch.setitem(sys.modules, "librosa", None)  # `import librosa` raises ImportError
    monkeypatch.setitem(sys.modules, "torch", None)
    result = compare.measure(compare.make_inputs({"tiny": (3000,)}), rounds=1, warmup=1)
    op = result["inputs"]["tiny"]["operations"]["melspectrogram"]
    assert set(op["libraries"]) == {"modspec"}
    assert op["ratio"] == {}
    assert op["parity"] == {"modspec_vs_librosa": None, "torch_vs_librosa": None}
    assert any(note.startswith("librosa skipped") for note in result["notes"])
    assert any(note.startswith("torch skipped") for note in result["notes"])
    assert result["bars"]["all_held"] is None
    assert "not measured" in compare.format_table(result)


# ---------------------------------------------------------------- learnable / modulation front ends


def test_compare_frontends_structure_and_parity():
    pytest.importorskip("torch")
    from benchmarks import compare_frontends

    result = compare_frontends.measure(rounds=1, warmup=1, batch=1, n_samples=4000)
    assert json.loads(json.dumps(result)) == result
    assert set(result["layers"]) == {"sinc", "modulation", "tmnn"}
    assert result["layers"]["sinc"]["shape"] == [1, 4000]
    assert result["layers"]["modulation"]["shape"] == [1, 80, (4000 - 256) // 10 + 1]
    for entry in result["layers"].values():
        for step in ("forward", "train"):
            data = entry[step]
            assert set(data["libraries"]) == {"modspec", "torch"}
            assert data["ratio"] == pytest.approx(
                data["libraries"]["torch"]["median_s"] / data["libraries"]["modspec"]["median_s"])
            assert data["held"] == (data["ratio"] >= compare_frontends.BARS[step])
        # modspec's NumPy path and torch's conv1d compute the same layer.
        assert 0 <= entry["parity"] < 1e-4
    assert "bars:" in compare_frontends.format_table(result)
