"""The local pipeline's read-ahead (bounded by seconds of audio), writes behind the model, and
out-of-memory batch halving, on the tiny 16 kHz fixture model with real files."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch

from tests.synth import speech_like, write
from xy_tokenizer.jobs import JobOptions, collect_inputs, run_job
from xy_tokenizer.jobs import runner
from xy_tokenizer.jobs.prefetch import BehindWriter, ReadAhead, is_out_of_memory


def by_kind(events, kind):
    return [e for e in events if e.kind == kind]


# ----------------------------------------------------------------------------- ReadAhead

def test_read_ahead_holds_at_most_two_windows_of_seconds_whatever_the_file_count():
    # 40 entries of 0.5 s and 4 of 6 s; windows of 4 s: the reader may hold one more window.
    lengths = [0.5] * 20 + [6.0] * 4 + [0.5] * 20
    prepared: list[int] = []
    reader = ReadAhead(list(range(len(lengths))), lambda i: prepared.append(i) or i,
                       lambda i: lengths[i], window_seconds=4.0, window_files=100)
    windows = []
    for window in reader.windows():
        # Let the reader run until it blocks on its bound (or has read everything).
        deadline = time.monotonic() + 10
        while reader._held < reader.window_seconds and len(prepared) < len(lengths) and time.monotonic() < deadline:
            time.sleep(0.005)
        read_ahead = [i for i in prepared if i > window[-1]]
        assert sum(lengths[i] for i in read_ahead) < 4.0 + max(lengths)
        windows.append(window)
    assert [i for w in windows for i in w] == list(range(len(lengths)))          # input order, each once
    assert all(sum(lengths[i] for i in w[:-1]) < 4.0 for w in windows)          # a window closes at 4 s
    assert reader.peak_seconds <= 2 * 4.0 + 2 * max(lengths)
    # The count of files held varies with their length: 8 short ones, or 1 long one.
    assert {len(w) for w in windows} >= {1, 8}


def test_read_ahead_inline_gives_the_same_windows_and_passes_errors_on():
    lengths = [1.0, 2.0, 3.0, 0.5, 0.5, 4.0]
    threaded = list(ReadAhead(range(6), lambda i: i, lambda i: lengths[i], window_seconds=3.0).windows())
    inline = list(ReadAhead(range(6), lambda i: i, lambda i: lengths[i], window_seconds=3.0, threaded=False).windows())
    assert threaded == inline == [[0, 1], [2], [3, 4, 5]]

    def broken(i):
        if i == 2:
            raise MemoryError("reader died")
        return i
    with pytest.raises(MemoryError, match="reader died"):
        list(ReadAhead(range(6), broken, lambda i: 1.0, window_seconds=1.5).windows())


def test_read_ahead_stops_on_cancel_and_on_close():
    stop = threading.Event()
    prepared = []
    reader = ReadAhead(range(1000), lambda i: prepared.append(i) or i, lambda i: 1.0, window_seconds=2.0,
                       cancel=stop.is_set)
    windows = reader.windows()
    assert next(windows) == [0, 1]
    stop.set()
    rest = list(windows)
    assert len(prepared) < 10 and reader.stopped_early
    assert sum(len(w) for w in rest) < 10
    closed = ReadAhead(range(1000), lambda i: i, lambda i: 1.0, window_seconds=2.0)
    first = closed.windows()
    next(first)
    first.close()                        # the generator's finally stops the thread
    assert not closed._thread.is_alive() and not closed.stopped_early


def test_behind_writer_keeps_order_and_raises_job_errors():
    writer = BehindWriter()
    writer.submit([lambda: 1, lambda: 2])
    writer.submit([lambda: 3])
    assert writer.collect() == [1, 2, 3]

    def fails():
        raise OSError("disk gone")
    writer.submit([fails])
    with pytest.raises(OSError, match="disk gone"):
        writer.collect()
    writer.close()
    inline = BehindWriter(threaded=False)
    inline.submit([lambda: "now"])
    assert inline._thread is None and inline.collect() == ["now"]


# ----------------------------------------------------------------------------- jobs

@pytest.fixture
def many_clips(tmp_path):
    root = tmp_path / "in"
    for i in range(9):
        write(root / f"c{i}.wav", speech_like(0.3 + 0.25 * (i % 4), sample_rate=22050, seed=i), sample_rate=22050)
    return root


def test_prefetch_and_plain_loop_write_identical_outputs(tiny16k_codec, many_clips, tmp_path):
    items, _ = collect_inputs([many_clips])
    results = {}
    for prefetch in (True, False):
        out = tmp_path / f"out-{prefetch}"
        events = list(run_job(tiny16k_codec, items, JobOptions("reconstruct", out_dir=out, batch_size=2),
                              prefetch=prefetch))
        assert events[-1].kind == "finished" and events[-1].summary.done == 9
        done = by_kind(events, "file_done")
        assert sorted(e.index for e in done) == list(range(9))
        for e in done:         # a file's events: started, then done
            assert events.index(next(x for x in events if x.kind == "file_started" and x.index == e.index)) \
                < events.index(e)
        results[prefetch] = {p.relative_to(out): p for p in out.rglob("*") if p.is_file()}
    assert sorted(results[True]) == sorted(results[False]) and len(results[True]) == 27
    for rel, path in results[True].items():
        if rel.suffix == ".npy":
            assert np.array_equal(np.load(path), np.load(results[False][rel]))
        elif rel.suffix == ".wav":
            assert path.read_bytes() == results[False][rel].read_bytes()


def test_job_read_ahead_is_bounded_by_seconds(tiny16k_codec, tmp_path, monkeypatch):
    root = tmp_path / "in"
    for i in range(12):
        write(root / f"c{i:02d}.wav", speech_like(1.0, seed=i))
    items, _ = collect_inputs([root])
    monkeypatch.setattr(runner, "WINDOW_SECONDS", 2.0)
    reads, encoded, ahead = [], [0], []
    real_load = runner.load_audio

    def counting_load(*args, **kwargs):
        reads.append(args[0])
        return real_load(*args, **kwargs)
    monkeypatch.setattr(runner, "load_audio", counting_load)

    class Counting:
        def __getattr__(self, name):
            return getattr(tiny16k_codec, name)

        def encode(self, wavs, **kwargs):
            ahead.append(len(reads) - encoded[0] - len(wavs))
            encoded[0] += len(wavs)
            return tiny16k_codec.encode(wavs, **kwargs)

    events = list(run_job(Counting(), items, JobOptions("encode", batch_size=1)))
    assert events[-1].summary.done == 12
    # Files read but not yet in the model: at most the rest of this 2 s window and one more
    # window (+1 file being read), never the 8 batches (8 files) the old count-based look-ahead held.
    assert max(ahead) <= 4


class OutOfMemoryAbove:
    """The real codec, except that a call with more than ``limit`` clips raises CUDA's
    out-of-memory error (as a GPU would)."""

    def __init__(self, codec, limit: int):
        self.codec, self.limit, self.calls = codec, limit, []

    def __getattr__(self, name):
        return getattr(self.codec, name)

    def encode(self, wavs, **kwargs):
        self.calls.append((len(wavs), kwargs["batch_size"]))
        if len(wavs) > self.limit:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self.codec.encode(wavs, **kwargs)


def test_out_of_memory_halves_the_batch_and_retries_it(tiny16k_codec, many_clips, tmp_path):
    items, _ = collect_inputs([many_clips])
    plain = {e.item.rel: e.result.codes for e in run_job(tiny16k_codec, items, JobOptions("encode", batch_size=8))
             if e.kind == "file_done"}
    codec = OutOfMemoryAbove(tiny16k_codec, limit=3)
    events = list(run_job(codec, items, JobOptions("encode", out_dir=tmp_path / "out", batch_size=8)))
    assert events[-1].summary.done == 9 and events[-1].summary.failed == 0
    # 8 files: out of memory -> 4: out of memory -> 2, 2, then the rest of the job at 2.
    assert codec.calls == [(8, 8), (4, 4), (2, 2), (2, 2), (2, 2), (2, 2), (1, 2)]
    for e in by_kind(events, "file_done"):
        assert np.array_equal(np.load(tmp_path / "out" / e.item.rel.with_suffix(".npy")), plain[e.item.rel])


def test_out_of_memory_on_one_clip_at_batch_size_one_fails_that_file_only(tiny16k_codec, many_clips):
    items, _ = collect_inputs([many_clips])
    codec = OutOfMemoryAbove(tiny16k_codec, limit=0)
    events = list(run_job(codec, items[:2], JobOptions("encode", batch_size=2)))
    assert events[-1].summary.failed == 2
    assert all("OutOfMemoryError" in e.message and str(e.item.path) in e.message
               for e in by_kind(events, "file_failed"))
    assert codec.calls[:2] == [(2, 2), (1, 1)]


def test_out_of_memory_is_recognised_without_catching_other_errors():
    assert is_out_of_memory(torch.cuda.OutOfMemoryError("CUDA out of memory"))
    assert is_out_of_memory(RuntimeError("MPS backend out of memory (MPS allocated: 1 GB)"))
    assert not is_out_of_memory(RuntimeError("kernel failed"))
    assert not is_out_of_memory(MemoryError("out of memory"))


def test_the_ray_actors_encoding_halves_on_out_of_memory_and_isolates_bad_clips(tiny16k_codec):
    from xy_tokenizer.errors import AudioError
    from xy_tokenizer.scale.ray_pipeline import encode_robustly

    clips = [speech_like(0.3 + 0.1 * i, seed=i) for i in range(5)] + [np.zeros(100, np.float32)]   # last: too short
    codec = OutOfMemoryAbove(tiny16k_codec, limit=2)
    results = encode_robustly(codec, clips, 8, {})
    assert codec.calls[:2] == [(6, 8), (3, 3)] and set(codec.calls[2:]) == {(1, 1)}
    for clip, codes in zip(clips[:5], results[:5]):
        assert np.array_equal(codes, tiny16k_codec.encode([clip])[0])
    assert isinstance(results[5], AudioError) and "shorter than one token" in str(results[5])
