"""``xytok compare`` end to end on the two tiny XY fixture models (16 and 24 kHz out)."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from tests.cli_runner import run_cli
from tests.conftest import FIXTURES
from tests.synth import speech_like, write
from xy_tokenizer.analysis.metrics import METRIC_NAMES
from xy_tokenizer.hub import install_model
from xy_tokenizer.io.audio import load_audio
from xy_tokenizer.io.fsutil import PART_MARKER
from xy_tokenizer.io.tokens import load_tokens

T16, T24 = FIXTURES / "tiny16k", FIXTURES / "tiny24k"
CODECS = ["--checkpoints", f"{T16 / 'model.ckpt'},{T24 / 'model.ckpt'}",
          "--configs", f"{T16 / 'config.yaml'},{T24 / 'config.yaml'}", "--device", "cpu"]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("compare-in")
    write(root / "a.wav", speech_like(1.2, 16000, seed=1))
    write(root / "sub" / "b.flac", speech_like(1.0, 22050, seed=2), 22050)
    (root / "bad.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEnot really")
    return root


@pytest.fixture(scope="module")
def compared(inputs, tmp_path_factory) -> tuple[Path, int, str, str]:
    out = tmp_path_factory.mktemp("compare-out") / "out"
    code, stdout, stderr = run_cli("compare", inputs, "-o", out, *CODECS, "--json")
    return out, code, stdout, stderr


def test_compare_writes_every_reconstruction_and_reports_the_bad_file(compared, inputs):
    out, code, _, stderr = compared
    assert code == 1                                                   # bad.wav failed, the rest went on
    assert stderr.count("bad.wav") >= 2                                # reported once per codec
    for label, rate in (("tiny16k", 16000), ("tiny24k", 24000)):
        for rel, seconds in (("a", 1.2), ("sub/b", 1.0)):
            audio, info = load_audio(out / label / f"{rel}.wav", rate)
            assert info.sample_rate == rate
            assert abs(info.duration - seconds) < 0.2
            codes, meta = load_tokens(out / label / f"{rel}.npy")
            assert codes.ndim == 2 and meta["source"].endswith(f"{Path(rel).name}.{'wav' if rel == 'a' else 'flac'}")
        assert not (out / label / "bad.wav").exists()
    assert not list(out.rglob(f"*{PART_MARKER}*"))


def test_compare_metrics_csv(compared):
    out, *_ = compared
    with open(out / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    files = [r for r in rows if r["file"] not in ("mean", "median")]
    scored = [r for r in files if not r["error"]]
    assert sorted((r["file"], r["codec"]) for r in scored) == [
        ("a.wav", "tiny16k"), ("a.wav", "tiny24k"), ("sub/b.flac", "tiny16k"), ("sub/b.flac", "tiny24k")]
    failed = [r for r in files if r["error"]]
    assert sorted(r["codec"] for r in failed) == ["tiny16k", "tiny24k"] and all("bad.wav" in r["error"] for r in failed)
    for r in scored:
        assert float(r["bitrate_bps"]) > 0 and r["family"] == "xy_tokenizer"
        assert np.isfinite(float(r["log_mel_distance"])) and np.isfinite(float(r["si_sdr"]))
    stats = {(r["file"], r["codec"]): r for r in rows if r["file"] in ("mean", "median")}
    assert set(stats) == {(s, c) for s in ("mean", "median") for c in ("tiny16k", "tiny24k")}
    for codec in ("tiny16k", "tiny24k"):
        values = [float(r["mrstft_distance"]) for r in scored if r["codec"] == codec]
        assert float(stats[("mean", codec)]["mrstft_distance"]) == pytest.approx(np.mean(values))
        assert stats[("mean", codec)]["n_files"] == "2"


def test_compare_summary_json_and_stdout(compared):
    out, code, stdout, _ = compared
    summary = json.loads((out / "summary.json").read_text())
    printed = json.loads(stdout)
    assert summary["exit_code"] == printed["exit_code"] == code
    assert [c["label"] for c in summary["codecs"]] == ["tiny16k", "tiny24k"]
    assert [c["output_sample_rate"] for c in summary["codecs"]] == [16000, 24000]
    assert all(c["files"] == 2 and c["failed"] == 1 for c in summary["codecs"])
    assert set(summary["series"]) == set(METRIC_NAMES)
    points = summary["series"]["stoi"][0]["points"]
    assert [p["codec"] for p in points] == ["tiny16k", "tiny24k"]


def test_second_run_keeps_reconstructions_and_scores_them_again(compared, inputs):
    out, *_ = compared
    wav = out / "tiny16k" / "a.wav"
    before = wav.stat().st_mtime_ns
    first = (out / "metrics.csv").read_text()
    code, _, stderr = run_cli("compare", inputs, "-o", out, *CODECS)
    assert code == 1 and "skipped" in stderr
    assert wav.stat().st_mtime_ns == before
    second = (out / "metrics.csv").read_text()
    assert second.count("\n") == first.count("\n")


def test_labels_and_output_inside_the_input_folder(tmp_path):
    root = tmp_path / "data"
    write(root / "a.wav", speech_like(1.0, 16000, seed=3))
    code, _, stderr = run_cli("compare", root, "-o", root / "cmp", "--checkpoints", T16 / "model.ckpt",
                              "--configs", T16 / "config.yaml", "--labels", "small", "--device", "cpu",
                              "--num-quantizers", "2")
    assert code == 0, stderr
    assert (root / "cmp" / "small" / "a.wav").is_file()
    summary = json.loads((root / "cmp" / "summary.json").read_text())
    assert summary["codecs"][0]["num_quantizers"] == 2
    assert summary["codecs"][0]["bitrate_bps"] == pytest.approx(2 * 7 * 12.5)   # 2 levels x log2(128) x 12.5 Hz
    # A second run does not take the first run's reconstructions (inside the input folder) as inputs.
    code, _, stderr = run_cli("compare", root, "-o", root / "cmp", "--checkpoints", T16 / "model.ckpt",
                              "--configs", T16 / "config.yaml", "--labels", "small", "--device", "cpu")
    assert code == 0, stderr
    rows = list(csv.DictReader(open(root / "cmp" / "metrics.csv", newline="")))
    assert [r["file"] for r in rows] == ["a.wav", "mean", "median"]


@pytest.mark.parametrize("args,message", [
    ([], "name the codecs"),
    (["--variants", "16k"], "xytok download --variant 16k"),
    (["--variants", "nope"], "unknown variant"),
    (["--checkpoints", "missing.ckpt"], "no such checkpoint"),
    (["--checkpoints", f"{T16 / 'model.ckpt'},{T24 / 'model.ckpt'}", "--configs", str(T16 / "config.yaml")],
     "one per checkpoint"),
    (["--checkpoints", str(T16 / "model.ckpt"), "--labels", "a/b"], "folder name"),
    (["--checkpoints", f"{T16 / 'model.ckpt'},{T24 / 'model.ckpt'}", "--labels", "x,x"], "different"),
])
def test_usage_errors_exit_2(args, message, tmp_path):
    write(tmp_path / "a.wav", speech_like(0.5, 16000))
    code, _, stderr = run_cli("compare", tmp_path / "a.wav", "-o", tmp_path / "out", *args)
    assert code == 2 and message in stderr
    assert not (tmp_path / "out").exists()


def test_a_model_that_cannot_load_exits_2_after_the_others(tmp_path):
    write(tmp_path / "in" / "a.wav", speech_like(1.0, 16000, seed=5))
    broken = tmp_path / "broken.ckpt"
    broken.write_bytes(b"junk")
    code, _, stderr = run_cli("compare", tmp_path / "in", "-o", tmp_path / "out", "--checkpoints",
                              f"{broken},{T16 / 'model.ckpt'}", "--configs", f",{T16 / 'config.yaml'}",
                              "--device", "cpu")
    assert code == 2 and "cannot load the model" in stderr
    assert (tmp_path / "out" / "tiny16k" / "a.wav").is_file()
    rows = list(csv.DictReader(open(tmp_path / "out" / "metrics.csv", newline="")))
    assert [(r["file"], r["codec"], bool(r["error"])) for r in rows[:2]] == [("a.wav", "tiny16k", False),
                                                                           ("a.wav", "broken", True)]


def test_installed_variant_is_resolved(tmp_path):
    # An install whose record names the variant is what --variants uses (here the file is the tiny
    # model, not a real 16k one, so loading it as that variant fails: exit 2 naming the installed
    # path, not "not installed").
    installed = install_model(T16 / "model.ckpt", variant=None, make_default=False)
    record_path = installed.parent / "xytok-install.json"
    record = json.loads(record_path.read_text())
    record["variant"] = "xy_tokenizer_16k"
    record_path.write_text(json.dumps(record))
    write(tmp_path / "a.wav", speech_like(1.0, 16000))
    code, _, stderr = run_cli("compare", tmp_path / "a.wav", "-o", tmp_path / "out", "--variants", "16k",
                              "--device", "cpu")
    assert code == 2 and str(installed) in stderr and "not installed" not in stderr


def test_a_variant_that_is_not_installed_says_how_to_get_it(tmp_path):
    write(tmp_path / "a.wav", speech_like(1.0, 16000))
    code, _, stderr = run_cli("compare", tmp_path / "a.wav", "-o", tmp_path / "out", "--variants", "xcodec")
    assert code == 2 and "not installed" in stderr and "download --variant" in stderr
