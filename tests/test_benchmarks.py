"""Smoke tests of benchmarks/compare*.py: structure and parity, never speed."""

import json
import os
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


# ---------------------------------------------------------------- scattering and jTFS against kymatio

TINY_SCATTERING_CASES = {
    "scattering": {"params": {"J": 5, "Q": 4}, "shape": [1, 2048], "dtype": "float32"},
    "jtfs": {"params": {"J": 5, "J_fr": 2, "Q": [4, 1]}, "shape": [1, 2048], "dtype": "float32"},
}


def _kymatio_030():
    try:
        import kymatio
    except ImportError:
        return False
    return kymatio.__version__ == "0.3.0"


def _torch():
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(scope="module")
def scattering_run(tmp_path_factory):
    """``compare_scattering.main(--quick --rounds 1)`` on tiny inputs; the jtfs section only with $KYMATIO_DEV."""
    from benchmarks import compare_scattering

    out = tmp_path_factory.mktemp("compare_scattering") / "results.json"
    patch = pytest.MonkeyPatch()
    patch.setattr(compare_scattering, "CASES", TINY_SCATTERING_CASES)
    try:
        assert compare_scattering.main(["--quick", "--rounds", "1", "--out", str(out)]) == 0
    finally:
        patch.undo()
    return json.loads(out.read_text())


def _check_measured_section(entry, name, expected_peers):
    from benchmarks import compare_scattering

    case = TINY_SCATTERING_CASES[name]
    assert entry["skipped"] is None
    assert entry["shape"] == case["shape"] and entry["params"] == case["params"]
    assert set(entry["libraries"]) == {"modspec"} | expected_peers
    for stats in entry["libraries"].values():
        assert stats["rounds"] == 1 and stats["median_s"] > 0
    for peer in expected_peers:
        assert entry["ratio"][peer] == pytest.approx(
            entry["libraries"][peer]["median_s"] / entry["libraries"]["modspec"]["median_s"])
    bar = entry["bar"]
    assert bar["bar"] == compare_scattering.BARS[name]
    if expected_peers:
        assert bar["ratio"] == min(entry["ratio"].values())
        assert bar["held"] == (bar["ratio"] >= bar["bar"])
        # The timed libraries compute the same numbers: every output against kymatio's NumPy one.
        assert set(entry["parity"]) == {f"{lib}_vs_kymatio_numpy" for lib in entry["libraries"]} - {
            "kymatio_numpy_vs_kymatio_numpy"}
        for key, err in entry["parity"].items():
            assert 0 <= err < 1e-4, (key, err)
    else:
        assert bar["held"] is None


def test_compare_scattering_smoke(scattering_run, capsys):
    result = scattering_run
    assert set(result["sections"]) == {"scattering", "jtfs"}
    assert result["settings"]["rounds"] == 1 and result["settings"]["quick"] is True
    torch_peer = {"kymatio_torch"} if _torch() else set()
    expected = {"kymatio_numpy"} | torch_peer if _kymatio_030() else set()
    _check_measured_section(result["sections"]["scattering"], "scattering", expected)
    assert result["sections"]["scattering"]["output_shape"][0] == 1
    jtfs = result["sections"]["jtfs"]
    if os.environ.get("KYMATIO_DEV"):
        assert jtfs["kymatio_version"].startswith("0.4"), jtfs.get("skipped")
        _check_measured_section(jtfs, "jtfs", {"kymatio_numpy"} | torch_peer)
    else:
        assert "KYMATIO_DEV is unset" in jtfs["skipped"]
        assert jtfs["bar"]["held"] is None


def test_compare_scattering_without_kymatio_dev_skips_jtfs():
    from benchmarks import compare_scattering

    result = compare_scattering.measure(rounds=1, cases=TINY_SCATTERING_CASES, kymatio_dev=None, sections=("jtfs",))
    assert "KYMATIO_DEV is unset" in result["sections"]["jtfs"]["skipped"]
    assert result["all_held"] is None
    assert "jtfs        skipped: KYMATIO_DEV is unset" in compare_scattering.format_table(result)


def test_compare_scattering_refuses_a_folder_without_kymatio_dev(tmp_path):
    # An empty folder: the subprocess imports whatever kymatio is installed (0.3.0) or none, and says so.
    from benchmarks import compare_scattering

    result = compare_scattering.measure(rounds=1, cases=TINY_SCATTERING_CASES, kymatio_dev=tmp_path,
                                        sections=("jtfs",))
    reason = result["sections"]["jtfs"]["skipped"]
    assert reason is not None and f"KYMATIO_DEV={tmp_path}" in reason
    assert "does not hold kymatio's development branch" in reason or "kymatio is not importable" in reason


def test_compare_scattering_bar_uses_the_fastest_peer():
    from benchmarks import compare_scattering

    bar = compare_scattering._bar("jtfs", {"ratio": {"kymatio_numpy": 30.0, "kymatio_torch": 12.0}})
    assert bar == {"bar": 10.0, "fastest_peer": "kymatio_torch", "ratio": 12.0, "held": True}
    assert compare_scattering._bar("scattering", {"ratio": {"kymatio_numpy": 2.0}})["held"] is False
    assert compare_scattering._bar("scattering", {})["held"] is None
