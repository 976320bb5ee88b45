"""Codec comparisons in the engine (xy_tokenizer.analysis.compare): sessions, summaries, files, runs."""
from __future__ import annotations

import csv
import json
import math
import weakref
from pathlib import Path

import numpy as np
import pytest

from tests.synth import speech_like, write
from xy_tokenizer.analysis import compare
from xy_tokenizer.analysis.compare import (
    CodecDescription, CodecSource, ComparisonError, ComparisonSession, clip_metrics, run_comparison,
)
from xy_tokenizer.analysis.metrics import METRIC_NAMES, METRICS_SAMPLE_RATE, compute_metrics
from xy_tokenizer.errors import Cancelled
from xy_tokenizer.io.audio import load_audio, resample
from xy_tokenizer.io.fsutil import OutputExistsError
from xy_tokenizer.jobs import JobItem, collect_inputs


def _desc(label: str, family: str, bitrate: float) -> CodecDescription:
    return CodecDescription(label=label, variant=f"{label}-v", family=family, bitrate=bitrate, frame_rate=50.0,
                            num_quantizers=2, codebook_size=1024, output_sample_rate=16000)


def _metrics(value: float) -> dict[str, float]:
    return {name: value for name in METRIC_NAMES}


# ----------------------------------------------------------------------------- labels and descriptions

def test_labels():
    assert compare.checkpoint_label(Path("tests/fixtures/tiny16k/model.ckpt")) == "tiny16k"
    assert compare.checkpoint_label(Path("weights/xcodec_hubert.pth")) == "xcodec_hubert"
    assert compare.unique_labels(["a", "b", "a", "a"]) == ["a", "b", "a-2", "a-3"]
    assert compare.safe_label("my codec/v2") == "my_codec_v2"
    with pytest.raises(ComparisonError, match="folder name"):
        compare.check_label("a/b")
    with pytest.raises(ComparisonError, match="folder name"):
        compare.check_label("..")


def test_description_from_a_loaded_codec(tiny24k_codec):
    desc = CodecDescription.from_codec(tiny24k_codec, "t24")
    assert desc.label == "t24" and desc.family == "xy_tokenizer" and desc.output_sample_rate == 24000
    assert desc.bitrate == pytest.approx(tiny24k_codec.bitrate)
    fewer = CodecDescription.from_codec(tiny24k_codec, num_quantizers=2)
    assert fewer.label == tiny24k_codec.variant and fewer.num_quantizers == 2
    assert fewer.bitrate == pytest.approx(tiny24k_codec.bitrate * 2 / tiny24k_codec.num_quantizers)


# ----------------------------------------------------------------------------- metrics of one clip

def test_clip_metrics_resamples_to_16k_before_scoring():
    original = speech_like(1.5, 22050, seed=4)
    recon = 0.9 * speech_like(1.5, 24000, seed=4)
    notes: dict[str, str] = {}
    values = clip_metrics(original, 22050, recon, 24000, notes=notes)
    expected = compute_metrics(resample(original, 22050, 16000), resample(recon, 24000, 16000), METRICS_SAMPLE_RATE)
    assert list(values) == list(METRIC_NAMES)
    for name in METRIC_NAMES:
        assert values[name] == pytest.approx(expected[name], nan_ok=True)
    assert values["si_sdr"] > 20                      # the same signal, scaled: nearly perfect


# ----------------------------------------------------------------------------- session

def _filled_session() -> ComparisonSession:
    session = ComparisonSession([_desc("xc-2q", "xcodec", 1000.0), _desc("xy16k", "xy", 1000.0),
                                 _desc("xc-8q", "xcodec", 4000.0)])
    for file, (a, b, c) in {"a.wav": (1.0, 2.0, 3.0), "b.wav": (2.0, 4.0, 5.0), "c.wav": (6.0, 6.0, 10.0)}.items():
        session.add_row(file, "xc-2q", _metrics(a))
        session.add_row(file, "xy16k", {**_metrics(b), "pesq_wb": math.nan})
        session.add_row(file, "xc-8q", _metrics(c))
    session.add_failure("d.wav", "xy16k", "d.wav: xy16k: broken")
    return session


def test_summary_means_medians_and_failures():
    summary = _filled_session().summary()
    assert list(summary) == ["xc-2q", "xy16k", "xc-8q"]
    assert summary["xc-2q"].stats["si_sdr"] == {"mean": 3.0, "median": 2.0}
    assert summary["xy16k"].stats["stoi"] == {"mean": 4.0, "median": 4.0}
    assert math.isnan(summary["xy16k"].stats["pesq_wb"]["mean"])
    assert (summary["xy16k"].files, summary["xy16k"].failed) == (3, 1)
    assert summary["xc-8q"].to_dict()["bitrate_bps"] == 4000.0


def test_metric_vs_bitrate_series():
    session = _filled_session()
    series = session.series("si_sdr")
    assert [s.name for s in series] == ["xcodec", "xy"]
    xcodec = series[0]
    assert [(p.codec, p.bitrate, p.value) for p in xcodec.points] == [("xc-2q", 1000.0, 3.0), ("xc-8q", 4000.0, 6.0)]
    assert xcodec.better == "higher"
    assert session.series("log_mel_distance", "median")[0].better == "lower"
    per_codec = session.series("stoi", group_by="codec")
    assert [s.name for s in per_codec] == ["xc-2q", "xy16k", "xc-8q"] and len(per_codec[0].points) == 1
    with pytest.raises(ComparisonError, match="unknown metric"):
        session.series("loudness")
    with pytest.raises(ComparisonError, match="statistic"):
        session.series("stoi", "max")


def test_unknown_codec_and_add_clip_failures():
    session = ComparisonSession([_desc("good", "f", 1.0), _desc("bad", "f", 2.0)])
    with pytest.raises(ComparisonError, match="no codec labelled"):
        session.add_row("a.wav", "other", _metrics(1.0))
    original = speech_like(1.0, 16000, seed=1)
    rows = session.add_clip("a.wav", original, 16000, {"good": (original, 16000),
                                                       "bad": (np.array([0.1, np.nan]), 16000)})
    assert [r.codec for r in rows] == ["good"]
    assert session.failures[0][:2] == ("a.wav", "bad") and "NaN" in session.failures[0][2]
    with pytest.raises(Cancelled):
        session.add_clip("b.wav", original, 16000, {"good": (original, 16000)}, cancel=lambda: True)


def test_csv_rows_then_mean_and_median_per_codec(tmp_path):
    session = _filled_session()
    path = session.write_csv(tmp_path / "metrics.csv")
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 9 + 1 + 3 * 2
    assert rows[0]["file"] == "a.wav" and rows[0]["codec"] == "xc-2q" and rows[0]["bitrate_bps"] == "1000.0"
    assert rows[1]["pesq_wb"] == ""                         # NaN -> empty cell
    assert rows[9]["file"] == "d.wav" and rows[9]["error"] == "d.wav: xy16k: broken" and rows[9]["stoi"] == ""
    stats = {(r["file"], r["codec"]): r for r in rows[10:]}
    assert float(stats[("mean", "xc-8q")]["si_sdr"]) == 6.0
    assert float(stats[("median", "xc-8q")]["si_sdr"]) == 5.0
    assert stats[("mean", "xy16k")]["n_files"] == "3"
    with pytest.raises(OutputExistsError):
        session.write_csv(path)


def test_json_document(tmp_path):
    path = _filled_session().write_json(tmp_path / "summary.json", extra={"command": "test"})
    document = json.loads(path.read_text())
    assert document["command"] == "test"
    assert [c["label"] for c in document["codecs"]] == ["xc-2q", "xy16k", "xc-8q"]
    assert document["codecs"][1]["metrics"]["pesq_wb"]["mean"] is None
    assert len(document["rows"]) == 9 and document["failures"][0]["codec"] == "xy16k"
    assert document["series"]["si_sdr"][0]["points"][1]["value"] == 6.0
    assert document["metrics"]["mrstft_distance"]["better"] == "lower"


# ----------------------------------------------------------------------------- runs

@pytest.fixture
def clips(tmp_path) -> list[JobItem]:
    write(tmp_path / "in" / "a.wav", speech_like(1.2, 16000, seed=1))
    write(tmp_path / "in" / "sub" / "b.wav", speech_like(1.0, 24000, seed=2), 24000)
    items, problems = collect_inputs([tmp_path / "in"])
    assert not problems
    return items


def test_run_comparison_in_memory_with_loaded_codecs(clips, tiny16k_codec, tiny24k_codec):
    session = ComparisonSession()
    progress: list[tuple[float, float]] = []
    events = list(run_comparison([CodecSource("t16", codec=tiny16k_codec), CodecSource("t24", codec=tiny24k_codec)],
                                 clips, None, session=session, on_progress=lambda d, t: progress.append((d, t))))
    kinds = [(e.kind, e.codec) for e in events if e.kind != "job"]
    assert kinds == [("codec_started", "t16"), ("codec_finished", "t16"), ("codec_started", "t24"),
                     ("codec_finished", "t24")]
    assert [r.codec for r in session.rows] == ["t16", "t16", "t24", "t24"]       # one codec after another
    assert sorted(r.file for r in session.rows) == ["a.wav", "a.wav", "sub/b.wav", "sub/b.wav"]
    assert not session.failures
    assert progress[-1] == (4.0, 4.0) and all(b >= a for a, b in zip([d for d, _ in progress],
                                                                     [d for d, _ in progress[1:]]))
    # The rows are the metrics of the reconstructions the codecs make.
    original, _ = load_audio(clips[0].path, 16000)
    recon = tiny24k_codec.decode(tiny24k_codec.encode([original], sample_rate=16000))[0]
    row = next(r for r in session.rows if r.codec == "t24" and r.file == "a.wav")
    expected = clip_metrics(original, 16000, recon, 24000)
    assert row.metrics["log_mel_distance"] == pytest.approx(expected["log_mel_distance"], rel=1e-4)
    assert session.codecs["t24"].output_sample_rate == 24000


def test_run_comparison_writes_loads_lazily_and_frees_each_model(clips, tmp_path, tiny16k_dir, tiny24k_dir,
                                                                 monkeypatch):
    import xy_tokenizer

    loaded: list[weakref.ref] = []
    real_load = xy_tokenizer.load

    def tracking_load(*args, **kwargs):
        assert all(ref() is None for ref in loaded), "the previous model is still alive"
        codec = real_load(*args, **kwargs)
        loaded.append(weakref.ref(codec))
        return codec

    monkeypatch.setattr(xy_tokenizer, "load", tracking_load)
    sources = [CodecSource("t16", checkpoint=tiny16k_dir / "model.ckpt", config=tiny16k_dir / "config.yaml"),
               CodecSource("t24", checkpoint=tiny24k_dir / "model.ckpt", config=tiny24k_dir / "config.yaml")]
    out = tmp_path / "out"
    alive_at_start = []
    session = ComparisonSession()
    freed_at_finish = []
    for event in run_comparison(sources, clips, out, session=session, device="cpu"):
        if event.kind == "codec_started":
            alive_at_start.append(len(loaded))                  # nothing loaded before its turn
        elif event.kind == "codec_finished":
            freed_at_finish.append(loaded[-1]() is None)       # freed before the next one starts
    assert alive_at_start == [0, 1] and len(loaded) == 2
    assert freed_at_finish == [True, True]
    for label in ("t16", "t24"):
        for rel in ("a", "sub/b"):
            for suffix in (".wav", ".npy", ".json"):
                assert (out / label / f"{rel}{suffix}").is_file()
    assert len(session.rows) == 4
    # A second run keeps the reconstructions (skipped) and scores them from the files.
    again = ComparisonSession()
    events = list(run_comparison(sources, clips, out, session=again, device="cpu"))
    assert sum(1 for e in events if e.kind == "job" and e.job.kind == "file_skipped") == 4
    assert len(again.rows) == 4
    first = {(r.file, r.codec): r.metrics["mrstft_distance"] for r in session.rows}
    assert {(r.file, r.codec): r.metrics["mrstft_distance"] for r in again.rows} == pytest.approx(first, rel=1e-2)


def test_run_comparison_goes_on_after_a_model_that_cannot_load(clips, tmp_path, tiny16k_codec):
    broken = tmp_path / "broken.ckpt"
    broken.write_bytes(b"not a checkpoint")
    session = ComparisonSession()
    events = list(run_comparison([CodecSource("broken", checkpoint=broken), CodecSource("t16", codec=tiny16k_codec)],
                                 clips, None, session=session))
    failed = [e for e in events if e.kind == "codec_failed"]
    assert len(failed) == 1 and "broken.ckpt" in failed[0].message
    assert [f[1] for f in session.failures] == ["broken", "broken"]
    assert [r.codec for r in session.rows] == ["t16", "t16"]
    assert session.summary()["broken"].failed == 2


def test_run_comparison_cancel_and_label_checks(clips, tiny16k_codec):
    with pytest.raises(ComparisonError, match="unique"):
        list(run_comparison([CodecSource("x", codec=tiny16k_codec), CodecSource("x", codec=tiny16k_codec)],
                            clips, None))
    with pytest.raises(ComparisonError, match="one of them"):
        CodecSource("x")
    with pytest.raises(Cancelled):
        list(run_comparison([CodecSource("x", codec=tiny16k_codec)], clips, None, cancel=lambda: True))


def test_engine_modules_import_neither_qt_nor_torch():
    import subprocess
    import sys

    code = ("import sys\n"
            "import xy_tokenizer.analysis.compare, xy_tokenizer.analysis.listening, xy_tokenizer.analysis.loudness\n"
            "import xy_tokenizer.cli.compare\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'PySide6', 'pyqtgraph')))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=Path(__file__).resolve().parents[1])
    assert result.stdout.strip() == "[]"
