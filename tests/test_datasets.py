"""Token shards without Ray: the format, the reader, .npy <-> shard conversion, ``xytok decode``
of shard rows. Shards are made from the output of a real ``xytok encode`` on the tiny model."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

pa = pytest.importorskip("pyarrow", reason="pyarrow is not installed (pip install 'xy-tokenizer-studio[ray]')")
pq = pytest.importorskip("pyarrow.parquet")

from tests.cli_runner import run_cli  # noqa: E402
from tests.conftest import FIXTURES  # noqa: E402
from tests.synth import speech_like, write  # noqa: E402
from xy_tokenizer.datasets import (  # noqa: E402
    iter_shard_rows, iter_shards, load_shard_ref, npy_to_shards, read_shard_facts, shard_job_items, shards_to_npy,
)
from xy_tokenizer.errors import TokenFileError, XYTokenizerError  # noqa: E402
from xy_tokenizer.io.fsutil import PART_MARKER, sha256_file  # noqa: E402
from xy_tokenizer.io.tokens import load_tokens  # noqa: E402
from xy_tokenizer.scale.shards import (  # noqa: E402
    COLUMNS, STATE_FILE, ShardFacts, ShardRow, bucket_of, shard_files, write_shard,
)

TINY = FIXTURES / "tiny16k"
MODEL = ["--checkpoint", str(TINY / "model.ckpt"), "--config", str(TINY / "config.yaml"), "--device", "cpu"]


@pytest.fixture(scope="module")
def encoded(tmp_path_factory) -> Path:
    """``xytok encode`` (local engine) of seven clips in two folders: the .npy folder."""
    root = tmp_path_factory.mktemp("datasets")
    for i in range(7):
        rate = (16000, 22050, 44100)[i % 3]
        write(root / "in" / f"part{i % 2}" / f"clip{i}.wav", speech_like(0.4 + 0.2 * i, rate, seed=i), rate)
    code, _, err = run_cli("encode", root / "in", "-o", root / "npy", "--quiet", *MODEL)
    assert code == 0, err
    return root / "npy"


def npy_codes(folder: Path) -> dict[str, np.ndarray]:
    return {p.relative_to(folder).with_suffix(".wav").as_posix(): np.load(p) for p in folder.rglob("*.npy")}


def test_npy_folder_to_shards_and_back(encoded, tmp_path):
    expected = npy_codes(encoded)
    summary = npy_to_shards(encoded, tmp_path / "shards", files_per_shard=3)
    # 7 files at 3 per shard: 3 buckets by hash of the path; one shard per bucket holding files.
    buckets = {bucket_of(p, 3) for p in expected}
    assert summary.skipped == [] and len(summary.written) == len(buckets) == len(shard_files(tmp_path / "shards"))
    got = dict(iter_shards(tmp_path / "shards"))
    assert sorted(got) == sorted(expected)
    for path, codes in got.items():
        assert codes.dtype == np.int16 and codes.shape == expected[path].shape
        assert np.array_equal(codes, expected[path])
    # Every row sits in the shard of its bucket; names are stable.
    state = json.loads((tmp_path / "shards" / STATE_FILE).read_text())
    for shard in shard_files(tmp_path / "shards"):
        bucket = int(shard.name.split("-")[1])
        assert {bucket_of(r.path, state["buckets"]) for r in iter_shard_rows(shard)} == {bucket}
    again = npy_to_shards(encoded, tmp_path / "other", files_per_shard=3)
    assert [p.name for p in again.written] == [p.name for p in summary.written]
    # Nothing left to do in the first folder: no new shard, no duplicate.
    assert npy_to_shards(encoded, tmp_path / "shards", files_per_shard=3).written == []
    back = shards_to_npy(tmp_path / "shards", tmp_path / "npy2")
    assert len(back.written) == 7 and back.skipped == []
    for npy in encoded.rglob("*.npy"):
        twin = tmp_path / "npy2" / npy.relative_to(encoded)
        assert np.load(twin).dtype == np.load(npy).dtype and np.array_equal(np.load(twin), np.load(npy))
        mine, theirs = (json.loads(p.with_suffix(".json").read_text()) for p in (twin, npy))
        for key in ("created", "source"):
            mine.pop(key), theirs.pop(key)
        assert mine == theirs
        load_tokens(twin)                       # sidecar and array agree


def test_shard_schema_and_metadata(encoded, tmp_path):
    npy_to_shards(encoded, tmp_path, files_per_shard=100)
    [shard] = shard_files(tmp_path)
    table = pq.read_table(shard)
    assert tuple(table.column_names) == COLUMNS
    schema = table.schema
    assert schema.field("codes").type == pa.list_(pa.int16())
    assert schema.field("levels").type == pa.int32() and schema.field("num_frames").type == pa.int64()
    row = table.slice(0, 1).to_pylist()[0]
    sidecar = json.loads((encoded / Path(row["path"]).with_suffix(".json")).read_text())
    assert row["family"] == "xy_tokenizer" and row["variant"] == sidecar["variant"]
    assert row["checkpoint_sha256"] == sha256_file(TINY / "model.ckpt")
    assert row["frame_rate"] == sidecar["frame_rate"] and row["codebook_size"] == sidecar["codebook_size"]
    assert row["source_sample_rate"] == sidecar["source_sample_rate"] and row["error"] is None
    assert len(row["codes"]) == row["levels"] * row["num_frames"]
    # Plain pyarrow is enough to get the (levels, T) array back.
    codes = np.asarray(row["codes"]).reshape(row["levels"], row["num_frames"])
    assert np.array_equal(codes, np.load(encoded / Path(row["path"]).with_suffix(".npy")))
    facts = read_shard_facts(shard)
    assert facts.facts["output_sample_rate"] == sidecar["output_sample_rate"] and facts.encode_options == {}


def test_failed_rows_are_kept_with_their_error_and_skipped_by_iter_shards(encoded, tmp_path):
    facts = ShardFacts(dict(read_shard_facts(npy_to_shards(encoded, tmp_path / "a").written[0]).facts), "abc")
    codes = np.arange(12, dtype=np.int64).reshape(4, 3) % facts.codebook_size
    shard = write_shard(tmp_path / "b", 0, [ShardRow("ok.wav", codes, 0.2, 16000),
                                            ShardRow("bad.wav", error="bad.wav: the file is empty (0 bytes)")], facts)
    rows = {r.path: r for r in iter_shard_rows(shard)}
    assert rows["bad.wav"].codes is None and "empty" in rows["bad.wav"].error
    assert [p for p, _ in iter_shards(shard)] == ["ok.wav"]
    table = pq.read_table(shard)
    assert table.column("codes").null_count == 1 and table.column("levels").to_pylist() == [None, 4]
    with pytest.raises(TokenFileError, match="encoding it failed.*empty"):
        load_shard_ref(f"{shard}#path=bad.wav")
    with pytest.raises(XYTokenizerError, match="rows 0..1"):
        load_shard_ref(f"{shard}#row=2")
    with pytest.raises(XYTokenizerError, match="#row=N"):
        load_shard_ref(f"{shard}#frame=1")
    assert [i.rel.as_posix() for i in shard_job_items(shard)] == ["bad.npy", "ok.npy"]
    pq.write_table(pa.table({"path": ["x.wav"], "codes": [[1, 2]]}), tmp_path / "foreign.parquet")
    with pytest.raises(XYTokenizerError, match="not a token shard"):
        shard_job_items(tmp_path / "foreign.parquet")
    assert not list(Path(tmp_path / "b").glob(f"*{PART_MARKER}*"))


def test_xytok_decode_of_shard_rows_equals_decode_of_the_npy_files(encoded, tmp_path):
    npy_to_shards(encoded, tmp_path / "shards", files_per_shard=100)
    [shard] = shard_files(tmp_path / "shards")
    rows = [r.path for r in iter_shard_rows(shard)]
    code, _, err = run_cli("decode", f"{shard}#row=2", f"{shard}#path={rows[4]}", "-o", tmp_path / "from-shard",
                           "--quiet", *MODEL)
    assert code == 0, err
    code, _, err = run_cli("decode", encoded, "-o", tmp_path / "from-npy", "--quiet", *MODEL)
    assert code == 0, err
    written = sorted(p.relative_to(tmp_path / "from-shard").as_posix()
                     for p in (tmp_path / "from-shard").rglob("*.wav"))
    assert written == sorted(Path(rows[i]).with_suffix(".wav").as_posix() for i in (2, 4))
    for rel in written:
        a, rate_a = sf.read(tmp_path / "from-shard" / rel)
        b, rate_b = sf.read(tmp_path / "from-npy" / rel)
        assert rate_a == rate_b and np.array_equal(a, b)
    # A whole shard decodes every row; a bad row reference is a usage error naming the rows.
    code, _, err = run_cli("decode", shard, "-o", tmp_path / "all", "--quiet", *MODEL)
    assert code == 0 and len(list((tmp_path / "all").rglob("*.wav"))) == 7
    code, _, err = run_cli("decode", f"{shard}#row=70", "-o", tmp_path / "none", *MODEL)
    assert code == 2 and "rows 0..6" in err


def test_npy_to_shards_refuses_mixed_codecs_and_unknown_folders(encoded, tmp_path):
    mixed = tmp_path / "mixed"
    for npy in list(encoded.rglob("*.npy"))[:2]:
        for p in (npy, npy.with_suffix(".json")):
            (mixed / p.name).parent.mkdir(parents=True, exist_ok=True)
            (mixed / p.name).write_bytes(p.read_bytes())
    other = json.loads(next(mixed.glob("*.json")).read_text())
    other["checkpoint_sha256"] = "0" * 64
    next(mixed.glob("*.json")).write_text(json.dumps(other))
    with pytest.raises(XYTokenizerError, match="one codec"):
        npy_to_shards(mixed, tmp_path / "out")
    npy_to_shards(encoded, tmp_path / "out2")
    state = tmp_path / "out2" / STATE_FILE
    state.write_text(state.read_text().replace('"variant": "', '"variant": "other-'))
    with pytest.raises(XYTokenizerError, match="another output folder"):
        npy_to_shards(encoded, tmp_path / "out2")
    assert Counter(p for p, _ in iter_shards(tmp_path / "out2")) == Counter(list(npy_codes(encoded)))


def test_ray_only_options_and_a_missing_ray_are_usage_errors(encoded, tmp_path, monkeypatch):
    audio = tmp_path / "in"
    write(audio / "a.wav", speech_like(0.5, seed=1))
    code, _, err = run_cli("encode", audio, "-o", tmp_path / "out", "--address", "auto", *MODEL)
    assert code == 2 and "--engine ray" in err
    code, _, err = run_cli("encode", "--engine", "ray", audio, "-o", tmp_path / "out", "--overwrite", *MODEL)
    assert code == 2 and "never replaces shards" in err
    monkeypatch.setitem(__import__("sys").modules, "ray", None)           # as if not installed
    code, _, err = run_cli("encode", "--engine", "ray", audio, "-o", tmp_path / "out", *MODEL)
    assert code == 2 and "pip install 'xy-tokenizer-studio[ray]'" in err
    assert not list((tmp_path / "out").glob("shard-*"))


def test_files_added_later_become_further_shards_and_a_second_run_is_refused(encoded, tmp_path):
    from xy_tokenizer.scale.shards import folder_lock

    first = tmp_path / "first"
    for npy in sorted(encoded.rglob("*.npy"))[:4]:
        for p in (npy, npy.with_suffix(".json")):
            target = first / p.relative_to(encoded)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(p.read_bytes())
    out = tmp_path / "shards"
    before = {p.name for p in npy_to_shards(first, out, files_per_shard=2).written}
    later = npy_to_shards(encoded, out, files_per_shard=2)         # the same 4 files and 3 more
    assert before.isdisjoint(p.name for p in later.written) and later.written
    assert {p.name for p in shard_files(out)} == before | {p.name for p in later.written}
    assert Counter(p for p, _ in iter_shards(out)) == Counter(list(npy_codes(encoded)))
    with folder_lock(out):
        with pytest.raises(XYTokenizerError, match="another run is writing shards here"):
            npy_to_shards(encoded, out)
