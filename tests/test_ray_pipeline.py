"""``xytok encode --engine ray`` on a local two-CPU Ray cluster with the tiny 16 kHz model:
shards hold exactly the local engine's tokens, bad files are error rows, a run stopped midway
resumes with every input exactly once; manifests and Parquet audio tables as inputs."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'xy-tokenizer-studio[ray]')")
pytest.importorskip("ray.data", reason="Ray Data is not installed (pip install 'ray[data]')")
pa = pytest.importorskip("pyarrow")
import pyarrow.parquet as pq  # noqa: E402

from tests.cli_runner import run_cli  # noqa: E402
from tests.conftest import FIXTURES  # noqa: E402
from tests.synth import speech_like, truncate, write  # noqa: E402
from xy_tokenizer.datasets import iter_shard_rows, iter_shards  # noqa: E402
from xy_tokenizer.io.fsutil import PART_MARKER  # noqa: E402
from xy_tokenizer.scale.ray_pipeline import CodecSpec, encode_corpus  # noqa: E402
from xy_tokenizer.scale.shards import shard_files  # noqa: E402

TINY = FIXTURES / "tiny16k"
MODEL = ["--checkpoint", str(TINY / "model.ckpt"), "--config", str(TINY / "config.yaml"), "--device", "cpu"]
SPEC = CodecSpec(str(TINY / "model.ckpt"), str(TINY / "config.yaml"), device="cpu")
BAD = {"bad/empty.wav": "empty", "bad/text.wav": "not an audio file", "bad/nan.wav": "NaN or infinite",
       "bad/short.wav": "0.08 s", "bad/truncated.wav": "truncated"}


@pytest.fixture(scope="module")
def ray_cluster():
    """A local Ray instance with two CPUs and no GPU, shared by the module's tests."""
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """in/: eight good clips (rates 8-44.1 kHz, mono and stereo, WAV and FLAC) and bad files."""
    root = tmp_path_factory.mktemp("ray") / "in"
    for i in range(8):
        rate = (16000, 22050, 44100, 8000)[i % 4]
        audio = speech_like(0.3 + 0.15 * i, rate, seed=i)
        if i == 5:
            audio = np.stack([audio, 0.3 * audio], axis=1)
        write(root / f"spk{i % 3}" / f"utt{i}{'.flac' if i % 2 else '.wav'}", audio, rate)
    (root / "bad").mkdir()
    (root / "bad" / "empty.wav").write_bytes(b"")
    (root / "bad" / "text.wav").write_text("not audio\n" * 40)
    nan = speech_like(0.5, seed=9)
    nan[100:110] = np.nan
    write(root / "bad" / "nan.wav", nan, subtype="FLOAT")
    write(root / "bad" / "short.wav", speech_like(0.03, seed=10))
    truncate(write(root / "bad" / "truncated.wav", speech_like(0.6, seed=11)))
    return root


@pytest.fixture(scope="module")
def local_tokens(corpus) -> dict[str, np.ndarray]:
    """What ``xytok encode`` (the local engine) writes for the corpus: relative path -> codes."""
    out = corpus.parent / "local"
    run_cli("encode", corpus, "-o", out, "--quiet", *MODEL)
    found = {}
    for npy in out.rglob("*.npy"):
        rel = npy.relative_to(out).with_suffix("")
        [source] = [p for p in corpus.glob(f"{rel}.*")]
        found[source.relative_to(corpus).as_posix()] = np.load(npy)
    assert len(found) == 8
    return found


def test_shards_hold_the_local_tokens_and_bad_files_as_error_rows(ray_cluster, corpus, local_tokens, tmp_path):
    out = tmp_path / "shards"
    code, stdout, stderr = run_cli("encode", "--engine", "ray", corpus, "-o", out, "--files-per-shard", "4",
                                   "--json", *MODEL)
    report = json.loads(stdout)
    assert code == 1 and report["encoded"] == 8 and report["failed"] == len(BAD) and report["already"] == 0
    rows = list(iter_shard_rows(out))
    assert Counter(r.path for r in rows) == Counter(list(local_tokens) + list(BAD))     # each input once
    for path, codes in iter_shards(out):
        assert np.array_equal(codes, local_tokens[path]), path
    errors = {r.path: r.error for r in rows if r.error is not None}
    assert sorted(errors) == sorted(BAD)
    for path, words in BAD.items():
        assert words in errors[path] and path.split("/")[-1] in errors[path]
        assert "failed: " in stderr and errors[path] in stderr
    table = pq.read_table(shard_files(out)[0])
    assert table.schema.field("codes").type == pa.list_(pa.int16())
    assert {r.source_sample_rate for r in rows if r.error is None} == {8000, 16000, 22050, 44100}
    assert sorted(report["shards"]) == sorted(str(p) for p in shard_files(out))


class Crash(Exception):
    """Stands for the driver dying after a shard was written."""


def test_a_run_stopped_after_one_shard_resumes_with_every_input_exactly_once(ray_cluster, corpus, tmp_path):
    out = tmp_path / "shards"
    written = []

    def crash_after_first(path):
        written.append(path)
        raise Crash(path)

    with pytest.raises(Crash):
        encode_corpus([corpus], out, SPEC, files_per_shard=3, on_shard=crash_after_first)
    assert shard_files(out) == written
    first = [r.path for r in iter_shard_rows(written[0])]
    # A run killed while writing leaves a hidden temporary shard: the next run removes it.
    stale = out / f".shard-00001-0123abcd.{'f' * 16}{PART_MARKER}.parquet"
    stale.write_bytes(b"PAR1 half a shard")
    summary = encode_corpus([corpus], out, SPEC, files_per_shard=3)
    assert not stale.exists() and summary.already == len(first)
    assert summary.encoded + summary.failed == 13 - len(first)
    assert Counter(r.path for r in iter_shard_rows(out)) == Counter(
        p.relative_to(corpus).as_posix() for p in corpus.rglob("*") if p.is_file())
    # The same shard names as a run that was never stopped; a third run has nothing to do.
    whole = encode_corpus([corpus], tmp_path / "whole", SPEC, files_per_shard=3)
    assert [p.name for p in shard_files(out)] == [p.name for p in shard_files(tmp_path / "whole")]
    assert len(whole.shards) == len(shard_files(out))
    again = encode_corpus([corpus], out, SPEC, files_per_shard=3)
    assert again.shards == [] and again.already == 13 and again.encoded == 0


def test_manifests_and_parquet_audio_tables(ray_cluster, corpus, local_tokens, tmp_path):
    goods = sorted(local_tokens)
    (tmp_path / "lists").mkdir()
    csv = tmp_path / "lists" / "a.csv"
    csv.write_text("path,rel\n" + "".join(f"{corpus / p},named/{i}.wav\n" for i, p in enumerate(goods[:2])))
    jsonl = tmp_path / "lists" / "b.jsonl"
    jsonl.write_text("".join(json.dumps({"path": str(corpus / p)}) + "\n" for p in goods[2:4]))
    table = tmp_path / "lists" / "audio.parquet"
    pq.write_table(pa.table({"rel": ["t/x.flac", "t/y.wav", "t/broken.wav"],
                             "bytes": [(corpus / goods[4]).read_bytes(), (corpus / goods[5]).read_bytes(),
                                       b"RIFF and nothing else"]}), table)
    hf_style = tmp_path / "lists" / "hf.parquet"          # audio: struct<bytes, path>, as Hugging Face writes
    pq.write_table(pa.table({"path": ["hf/z.wav"],
                             "audio": [{"bytes": (corpus / goods[6]).read_bytes(), "path": "z.wav"}]}), hf_style)
    summary = encode_corpus([csv, jsonl, table, hf_style], tmp_path / "shards", SPEC, files_per_shard=10)
    assert summary.encoded == 7 and summary.failed == 1
    got = dict(iter_shards(tmp_path / "shards"))
    # rel names the row; without one, an absolute path outside the manifest's folder is kept whole.
    expected = {"named/0.wav": goods[0], "named/1.wav": goods[1], "t/x.flac": goods[4], "t/y.wav": goods[5],
                "hf/z.wav": goods[6], str(corpus / goods[2]).lstrip("/"): goods[2],
                str(corpus / goods[3]).lstrip("/"): goods[3]}
    assert sorted(got) == sorted(expected)
    for name, source in expected.items():
        assert np.array_equal(got[name], local_tokens[source]), name
    [broken] = [r for r in iter_shard_rows(tmp_path / "shards") if r.error is not None]
    assert broken.path == "t/broken.wav" and broken.error.startswith("t/broken.wav: ")
    assert "xytok-" not in broken.error                  # names the row, not a temporary file


def test_xytok_killed_midway_resumes_with_every_input_exactly_once(ray_cluster, tmp_path):
    """kill -9 of a real ``xytok encode --engine ray`` (joined to the test's cluster) once its
    first shard is on disk; the rerun finishes the rest."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import ROOT

    corpus = tmp_path / "in"
    for i in range(36):
        write(corpus / f"c{i:02d}.wav", speech_like(0.2 + 0.02 * i, seed=100 + i))
    out = tmp_path / "shards"
    argv = [sys.executable, "-m", "xy_tokenizer", "encode", "--engine", "ray",
            "--address", ray.get_runtime_context().gcs_address, str(corpus), "-o", str(out),
            "--files-per-shard", "1", "--batch-size", "1", "--quiet", *MODEL]
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while not shard_files(out) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    before = shard_files(out)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-3000:]
    buckets = len({bucket for bucket in (int(p.name.split("-")[1]) for p in before)})
    assert 0 < len(before) == buckets                       # stopped midway, each shard complete
    rows_before = Counter(r.path for r in iter_shard_rows(out))
    assert len(rows_before) < 36
    summary = encode_corpus([corpus], out, SPEC, files_per_shard=1, batch_size=1)
    assert summary.already == sum(rows_before.values()) and summary.failed == 0
    assert Counter(r.path for r in iter_shard_rows(out)) == Counter(f"c{i:02d}.wav" for i in range(36))
    assert not list(out.glob(f"*{PART_MARKER}*"))
