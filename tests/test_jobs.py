"""Batch jobs (xy_tokenizer.jobs) with the tiny 16 kHz fixture model on real files."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.synth import speech_like, write
from xy_tokenizer.io.audio import load_audio
from xy_tokenizer.errors import XYTokenizerError
from xy_tokenizer.io.fsutil import PART_MARKER
from xy_tokenizer.jobs import (
    FileResult,
    JobItem,
    JobOptions,
    collect_inputs,
    export_results,
    run_job,
)
from xy_tokenizer.io.tokens import load_tokens, save_tokens

TERMINAL = {"file_done", "file_failed", "file_skipped"}


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob(f"*{PART_MARKER}*"))


def by_kind(events, kind):
    return [e for e in events if e.kind == kind]


@pytest.fixture
def speech_dir(tmp_path):
    """in/: three clips of different lengths, one of them in a subfolder with a clashing name."""
    root = tmp_path / "in"
    write(root / "long.wav", speech_like(2.4, seed=1))
    write(root / "short.wav", speech_like(0.6, seed=2))
    write(root / "sub" / "long.wav", speech_like(1.3, seed=3))
    return root


# ----------------------------------------------------------------------------- collect_inputs

def test_collect_recurses_sorted_mirrors_and_skips_hidden_and_other_files(tmp_path):
    root = tmp_path / "data"
    for rel in ["b.wav", "a.flac", "z/c.ogg", "z/y/d.mp3", "Upper.WAV", "notes.txt", "codes.npy",
                ".hidden.wav", ".cache/e.wav", "z/.clip.0123.part.wav"]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"x")
    items, problems = collect_inputs([root])
    assert problems == []
    assert [i.rel.as_posix() for i in items] == ["Upper.WAV", "a.flac", "b.wav", "z/c.ogg", "z/y/d.mp3"]
    assert all(i.path == root / i.rel for i in items)
    tokens, _ = collect_inputs([root], kind="tokens")
    assert [i.rel.as_posix() for i in tokens] == ["codes.npy"]


def test_collect_explicit_files_missing_inputs_duplicates_and_clashes(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    write(one / "x.wav", speech_like(0.2))
    write(one / "x.flac", speech_like(0.2))           # same output names as x.wav
    write(two / "x.wav", speech_like(0.2))            # same relative path as one/x.wav
    (tmp_path / "readme.txt").write_text("named directly: taken")
    (tmp_path / "empty").mkdir()
    items, problems = collect_inputs([one, one / "x.wav", two, tmp_path / "readme.txt",
                                      tmp_path / "nope.wav", tmp_path / "empty"])
    assert [(i.path, i.rel) for i in items] == [(one / "x.flac", Path("x.flac")),
                                                (tmp_path / "readme.txt", Path("readme.txt"))]
    assert len(problems) == 4
    assert any(str(one / "x.wav") in p and "same names" in p for p in problems)
    assert any(str(two / "x.wav") in p and "same names" in p for p in problems)
    assert any(str(tmp_path / "nope.wav") in p and "no such file" in p for p in problems)
    assert any(str(tmp_path / "empty") in p and "no audio files" in p for p in problems)


def test_shards_partition_the_inputs(tmp_path):
    for i in range(11):
        (tmp_path / f"{i:02d}.wav").write_bytes(b"x")
    everything, _ = collect_inputs([tmp_path])
    shards = [collect_inputs([tmp_path], shard=(i, 3))[0] for i in range(3)]
    assert sorted(len(s) for s in shards) == [3, 4, 4]
    union = [item for shard in shards for item in shard]
    assert sorted(union, key=lambda i: i.rel) == everything and len(set(union)) == len(everything)
    assert shards[1] == collect_inputs([tmp_path], shard=(1, 3))[0]      # deterministic
    with pytest.raises(XYTokenizerError, match="shard 3 of 3"):
        collect_inputs([tmp_path], shard=(3, 3))


# ----------------------------------------------------------------------------- run_job

def test_in_memory_encode_events_and_tokens_match_the_codec(tiny16k_codec, speech_dir):
    items, _ = collect_inputs([speech_dir])
    seen_progress = []
    events = list(run_job(tiny16k_codec, items, JobOptions("encode", batch_size=2),
                          on_progress=lambda done, total: seen_progress.append((done, total))))
    assert events[0].kind == "started" and events[0].total == 3
    assert events[-1].kind == "finished"
    done = by_kind(events, "file_done")
    assert sorted(e.index for e in done) == [0, 1, 2]
    assert sorted(e.index for e in by_kind(events, "file_started")) == [0, 1, 2]
    for event in done:
        audio, _ = load_audio(event.item.path, 16000)
        expected = tiny16k_codec.encode([audio])[0]
        result = event.result
        assert np.array_equal(result.codes, expected)
        assert np.array_equal(result.original, audio)
        assert result.duration == pytest.approx(audio.shape[0] / 16000)
        assert result.token_meta["num_frames"] == expected.shape[1]
        assert result.outputs == [] and result.audio is None
    summary = events[-1].summary
    assert (summary.done, summary.failed, summary.skipped) == (3, 0, 0)
    assert summary.audio_seconds == pytest.approx(2.4 + 0.6 + 1.3)
    values = [d for d, _ in seen_progress]
    assert values == sorted(values) and values[-1] == 3 and all(t == 3 for _, t in seen_progress)
    assert len(values) > 3                     # per-window updates, not only per file


def test_reconstruct_writes_mirrored_outputs_and_skips_existing(tiny16k_codec, speech_dir, tmp_path):
    items, _ = collect_inputs([speech_dir])
    out = tmp_path / "out"
    options = JobOptions("reconstruct", out_dir=out, keep_arrays=False)
    events = list(run_job(tiny16k_codec, items, options))
    assert events[-1].summary.done == 3
    names = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert names == ["long.json", "long.npy", "long.wav", "short.json", "short.npy", "short.wav",
                     "sub/long.json", "sub/long.npy", "sub/long.wav"]
    for event in by_kind(events, "file_done"):
        assert event.result.codes is None and event.result.audio is None     # keep_arrays=False
        assert len(event.result.outputs) == 3
    codes, meta = load_tokens(out / "sub" / "long.npy")
    assert meta["source"] == str((speech_dir / "sub" / "long.wav").resolve())
    audio, rate = sf.read(out / "sub" / "long.wav")
    assert rate == tiny16k_codec.output_sample_rate
    assert audio.shape[0] == codes.shape[1] * tiny16k_codec.output_samples_per_token

    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    again = list(run_job(tiny16k_codec, items, options))
    skipped = by_kind(again, "file_skipped")
    assert len(skipped) == 3 and not by_kind(again, "file_started")
    assert all("exists, skipped" in e.message and "--overwrite" in e.message for e in skipped)
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == before

    replaced = list(run_job(tiny16k_codec, items, JobOptions("reconstruct", out_dir=out, overwrite=True)))
    assert replaced[-1].summary.done == 3
    assert all(p.stat().st_mtime_ns != t for p, t in before.items())


def test_bad_files_fail_alone(tiny16k_codec, speech_dir, tmp_path):
    (speech_dir / "broken.wav").write_text("not audio")
    write(speech_dir / "tiny.wav", speech_like(0.05))
    items, _ = collect_inputs([speech_dir])
    events = list(run_job(tiny16k_codec, items, JobOptions("encode", out_dir=tmp_path / "out")))
    failed = {Path(e.item.path).name: e.message for e in by_kind(events, "file_failed")}
    assert set(failed) == {"broken.wav", "tiny.wav"}
    assert failed["tiny.wav"].startswith(str(speech_dir / "tiny.wav")) and "0.08 s" in failed["tiny.wav"]
    summary = events[-1].summary
    assert (summary.done, summary.failed) == (3, 2)
    assert [p for p, _ in summary.failures] == [str(e.item.path) for e in by_kind(events, "file_failed")]
    assert not list((tmp_path / "out").glob("broken.*")) and not list((tmp_path / "out").glob("tiny.*"))


def test_output_that_would_replace_its_input_is_refused(tiny16k_codec, speech_dir):
    items, _ = collect_inputs([speech_dir / "short.wav"])
    before = (speech_dir / "short.wav").read_bytes()
    events = list(run_job(tiny16k_codec, items, JobOptions("reconstruct", out_dir=speech_dir, overwrite=True)))
    [failed] = by_kind(events, "file_failed")
    assert "would replace the input" in failed.message
    assert (speech_dir / "short.wav").read_bytes() == before
    assert not (speech_dir / "short.npy").exists()


def test_unwritable_output_fails_that_file_only_and_leaves_nothing_partial(tiny16k_codec, speech_dir, tmp_path):
    out = tmp_path / "out"
    (out / "short.wav").mkdir(parents=True)          # audio of short.wav cannot be written
    items, _ = collect_inputs([speech_dir])
    events = list(run_job(tiny16k_codec, items, JobOptions("reconstruct", out_dir=out, overwrite=True,
                                                           batch_size=3)))
    [failed] = by_kind(events, "file_failed")
    assert failed.item.rel == Path("short.wav") and "is a folder" in failed.message
    assert events[-1].summary.done == 2
    assert not (out / "short.npy").exists() and not (out / "short.json").exists()   # all or none
    assert (out / "long.wav").is_file() and (out / "sub" / "long.wav").is_file()
    assert leftovers(out) == []


def test_decode_token_files_with_fewer_levels(tiny16k_codec, tmp_path):
    codes = tiny16k_codec.encode([speech_like(1.0)])[0]
    save_tokens(tmp_path / "tok" / "a.npy", codes, {})
    np.save(tmp_path / "tok" / "two_levels.npy", codes[:2])
    items, _ = collect_inputs([tmp_path / "tok"], kind="tokens")
    full = list(run_job(tiny16k_codec, items[:1], JobOptions("decode")))
    two = list(run_job(tiny16k_codec, items, JobOptions("decode", num_quantizers=2)))
    full_audio = by_kind(full, "file_done")[0].result.audio
    two_audio = {e.item.rel.name: e.result.audio for e in by_kind(two, "file_done")}
    assert full_audio.shape == two_audio["a.npy"].shape == (codes.shape[1] * tiny16k_codec.output_samples_per_token,)
    assert not np.allclose(full_audio, two_audio["a.npy"])
    assert np.allclose(two_audio["a.npy"], two_audio["two_levels.npy"], atol=1e-5)
    [failed] = by_kind(list(run_job(tiny16k_codec, items, JobOptions("decode", num_quantizers=3))), "file_failed")
    assert failed.item.rel.name == "two_levels.npy" and "has 2 levels" in failed.message


class FailingBatches:
    """The real codec, except that a call with several clips fails (as a GPU out of memory
    would) and, when ``poison`` is set, any call containing a clip of that length fails."""

    def __init__(self, codec, poison: int | None = None):
        self.codec, self.poison, self.calls = codec, poison, []

    def __getattr__(self, name):
        return getattr(self.codec, name)

    def encode(self, wavs, **kwargs):
        self.calls.append(len(wavs))
        if len(wavs) > 1:
            raise RuntimeError("CUDA out of memory")
        if self.poison is not None and wavs[0].shape[0] == self.poison:
            raise RuntimeError("kernel failed")
        return self.codec.encode(wavs, **kwargs)


def test_failing_batch_is_retried_file_by_file(tiny16k_codec, speech_dir):
    items, _ = collect_inputs([speech_dir])
    codec = FailingBatches(tiny16k_codec, poison=int(0.6 * 16000))
    events = list(run_job(codec, items, JobOptions("encode", batch_size=3)))
    assert codec.calls == [3, 1, 1, 1]
    [failed] = by_kind(events, "file_failed")
    assert failed.item.rel == Path("short.wav")
    assert failed.message == f"{failed.item.path}: RuntimeError: kernel failed"
    assert len(by_kind(events, "file_done")) == 2
    assert len(by_kind(events, "file_started")) == 3


def test_cancel_between_batches_stops_with_summary(tiny16k_codec, speech_dir, tmp_path):
    items, _ = collect_inputs([speech_dir])
    out = tmp_path / "out"
    stop = []
    events = []
    for event in run_job(tiny16k_codec, items, JobOptions("encode", out_dir=out, batch_size=1),
                         cancel=lambda: bool(stop)):
        events.append(event)
        if event.kind == "file_done":
            stop.append(True)
    assert events[-1].kind == "cancelled" and events[-1].summary.cancelled
    assert len(by_kind(events, "file_done")) == 1 and events[-1].summary.done == 1
    assert sorted(p.suffix for p in out.iterdir()) == [".json", ".npy"]
    assert leftovers(out) == []


def test_cancel_inside_the_model_leaves_no_files(tiny16k_codec, speech_dir, tmp_path):
    items, _ = collect_inputs([speech_dir])
    out = tmp_path / "out"
    model_started = []                 # set by the first window's progress: encode is done

    events = list(run_job(tiny16k_codec, items, JobOptions("reconstruct", out_dir=out, batch_size=3),
                          cancel=lambda: bool(model_started),
                          on_progress=lambda done, total: done > 0 and model_started.append(done)))
    assert model_started and model_started[0] < 3          # stopped between encode and decode
    assert events[-1].kind == "cancelled" and "cancelled" in events[-1].message
    assert len(by_kind(events, "file_started")) == 3 and not by_kind(events, "file_done")
    assert events[-1].summary.done == 0
    assert not out.exists() or not [p for p in out.rglob("*") if p.is_file()]


def test_invalid_options_raise_at_once(tiny16k_codec):
    with pytest.raises(XYTokenizerError, match="unknown job mode"):
        run_job(tiny16k_codec, [], JobOptions("transcode"))
    with pytest.raises(XYTokenizerError, match="batch size"):
        run_job(tiny16k_codec, [], JobOptions("encode", batch_size=0))
    with pytest.raises(XYTokenizerError, match="num_quantizers"):
        run_job(tiny16k_codec, [], JobOptions("decode", num_quantizers=9))
    with pytest.raises(XYTokenizerError, match="multiple of 0.08 s"):
        run_job(tiny16k_codec, [], JobOptions("reconstruct", overlap=5))
    with pytest.raises(XYTokenizerError, match="below 30 s"):
        run_job(tiny16k_codec, [], JobOptions("encode", overlap=30))
    with pytest.raises(XYTokenizerError, match="sample format"):
        run_job(tiny16k_codec, [], JobOptions("decode", audio_subtype="ULAW"))


def test_export_writes_results_kept_in_memory(tiny16k_codec, speech_dir, tmp_path):
    items, _ = collect_inputs([speech_dir])
    events = list(run_job(tiny16k_codec, items, JobOptions("reconstruct")))
    results = [e.result for e in by_kind(events, "file_done")]
    out = tmp_path / "export"
    exported = list(export_results(tiny16k_codec, results, out, audio_subtype="FLOAT"))
    assert exported[-1].kind == "finished" and exported[-1].summary.done == 3
    result = next(r for r in results if r.item.rel == Path("sub/long.wav"))
    codes, meta = load_tokens(out / "sub" / "long.npy")
    assert np.array_equal(codes, result.codes) and meta == result.token_meta
    audio, _ = sf.read(out / "sub" / "long.wav", dtype="float32")
    assert np.array_equal(audio, result.audio)

    again = list(export_results(tiny16k_codec, results, out))
    assert [e.kind for e in again].count("file_skipped") == 3

    only_audio = tmp_path / "audio_only"
    list(export_results(tiny16k_codec, results, only_audio, tokens=False))
    assert sorted(p.suffix for p in only_audio.rglob("*") if p.is_file()) == [".wav"] * 3
    empty = FileResult(JobItem(Path("x.wav"), Path("x.wav")))
    [failed] = by_kind(list(export_results(tiny16k_codec, [empty], tmp_path / "e")), "file_failed")
    assert "nothing to export" in failed.message
