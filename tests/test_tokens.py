"""Token files (xy_tokenizer.tokens): format, sidecar, validation of malformed files."""
from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from xy_tokenizer._version import __version__
from xy_tokenizer.codecs.xy.constants import CODEBOOK_SIZE, FRAME_RATE
from xy_tokenizer.io.tokens import TOKEN_FORMAT_VERSION
from xy_tokenizer.errors import TokenFileError, XYTokenizerError
from xy_tokenizer.io.fsutil import PART_MARKER, OutputExistsError
from xy_tokenizer.io.tokens import build_token_meta, load_tokens, save_tokens, sidecar_path

META_KEYS = {"format_version", "family", "variant", "quantizer", "checkpoint_sha256", "source",
             "source_sample_rate", "source_duration", "input_sample_rate", "output_sample_rate", "frame_rate",
             "num_quantizers", "codebook_size", "levels", "num_frames", "decode_levels", "encode_options",
             "package_version", "created"}


def codes_8x(frames: int = 20, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, CODEBOOK_SIZE, size=(8, frames))


def test_round_trip_int16_on_disk_int64_in_memory(tmp_path):
    codes = codes_8x()
    codes[0, 0], codes[1, 1] = 0, CODEBOOK_SIZE - 1
    meta = {"format_version": TOKEN_FORMAT_VERSION, "variant": "x", "num_frames": 20}
    npy, sidecar = save_tokens(tmp_path / "sub" / "clip.npy", codes, meta)
    assert (npy, sidecar) == (tmp_path / "sub" / "clip.npy", tmp_path / "sub" / "clip.json")
    raw = np.load(npy, allow_pickle=False)                  # readable by plain numpy
    assert raw.dtype == np.int16 and np.array_equal(raw, codes)
    loaded, read_meta = load_tokens(npy)
    assert loaded.dtype == np.int64 and np.array_equal(loaded, codes)
    assert read_meta == meta
    assert not list(tmp_path.rglob(f"*{PART_MARKER}*"))


def test_loader_accepts_any_integer_dtype_and_no_sidecar(tmp_path):
    for dtype in (np.uint16, np.int32, np.int64, np.uint8):
        path = tmp_path / f"{np.dtype(dtype).name}.npy"
        np.save(path, np.full((2, 5), 7, dtype=dtype))
        codes, meta = load_tokens(path)
        assert codes.dtype == np.int64 and codes.shape == (2, 5) and meta is None


def test_save_refuses_existing_files_unless_overwrite(tmp_path):
    target = tmp_path / "a.npy"
    first, second = {"format_version": TOKEN_FORMAT_VERSION, "v": 1}, {"format_version": TOKEN_FORMAT_VERSION, "v": 2}
    save_tokens(target, codes_8x(seed=1), first)
    with pytest.raises(OutputExistsError):
        save_tokens(target, codes_8x(seed=2), second)
    assert load_tokens(target)[1] == first
    save_tokens(target, codes_8x(seed=2), second, overwrite=True)
    codes, meta = load_tokens(target)
    assert meta == second and np.array_equal(codes, codes_8x(seed=2))


def test_save_writes_both_files_or_neither(tmp_path):
    (tmp_path / "a.json").mkdir()                           # sidecar cannot be written
    with pytest.raises(XYTokenizerError):
        save_tokens(tmp_path / "a.npy", codes_8x(), {}, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]
    assert (tmp_path / "a.json").is_dir()


def test_save_validates_codes_and_suffix(tmp_path):
    with pytest.raises(TokenFileError, match="outside 0..1023"):
        save_tokens(tmp_path / "a.npy", np.full((8, 3), 1024), {"codebook_size": CODEBOOK_SIZE})
    with pytest.raises(TokenFileError, match="must end in .npy"):
        save_tokens(tmp_path / "a.tok", codes_8x(), {})
    assert list(tmp_path.iterdir()) == []


def malformed(tmp_path, kind):
    path = tmp_path / f"{kind}.npy"
    if kind == "float":
        np.save(path, codes_8x().astype(np.float32))
        return path, "integer array, got dtype float32"
    if kind == "bool":
        np.save(path, np.ones((8, 4), bool))
        return path, "integer array, got dtype bool"
    if kind == "three_d":
        np.save(path, np.zeros((1, 8, 4), np.int64))
        return path, r"expected a 2-D array .*\(1, 8, 4\)"
    if kind == "one_d":
        np.save(path, np.zeros(10, np.int64))
        return path, r"expected a 2-D array .*\(10,\)"
    if kind == "nine_levels":
        np.save(path, np.zeros((9, 4), np.int64))
        return path, "has 9 levels .*1 <= k <= 8"
    if kind == "transposed":
        np.save(path, np.zeros((40, 8), np.int64))
        return path, "has 40 levels .*transposed"
    if kind == "no_frames":
        np.save(path, np.zeros((8, 0), np.int64))
        return path, "no frames"
    if kind == "too_big":
        codes = codes_8x()
        codes[3, 7] = 1024
        np.save(path, codes)
        return path, "code 1024 at level 3, frame 7 is outside 0..1023"
    if kind == "negative":
        codes = codes_8x()
        codes[0, 2] = -1
        np.save(path, codes)
        return path, r"code -1 at level 0, frame 2 is outside 0..1023 \(values range -1\.\."
    if kind == "pickled_object":
        np.save(path, np.array([[1, "x"]], dtype=object), allow_pickle=True)
        return path, "holds Python objects, not an integer array"
    if kind == "pickle_file":
        path.write_bytes(pickle.dumps({"codes": [1, 2, 3]}))
        return path, "not a .npy file"
    if kind == "text":
        path.write_text("0 1 2 3\n4 5 6 7\n")
        return path, "not a .npy file \\(it does not start with the .npy header\\)"
    if kind == "truncated":
        np.save(path, codes_8x(200))
        path.write_bytes(path.read_bytes()[:300])
        return path, ".npy"
    if kind == "npz":
        with open(path, "wb") as handle:
            np.savez(handle, codes=codes_8x())
        return path, "npz archive"
    if kind == "missing":
        return path, "not found"
    if kind == "bad_sidecar":
        np.save(path, codes_8x())
        path.with_suffix(".json").write_text("{not json")
        return path.with_suffix(".json"), "sidecar cannot be read"
    if kind == "list_sidecar":
        np.save(path, codes_8x())
        path.with_suffix(".json").write_text("[1, 2]")
        return path.with_suffix(".json"), "JSON object"
    if kind == "newer_format":
        np.save(path, codes_8x())
        path.with_suffix(".json").write_text(json.dumps({"format_version": TOKEN_FORMAT_VERSION + 1}))
        return path.with_suffix(".json"), "newer than this program reads"
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["float", "bool", "three_d", "one_d", "nine_levels", "transposed",
                                  "no_frames", "too_big", "negative", "pickled_object", "pickle_file",
                                  "text", "truncated", "npz", "missing", "bad_sidecar", "list_sidecar",
                                  "newer_format"])
def test_malformed_token_files_raise_naming_the_file(tmp_path, kind):
    named, reason = malformed(tmp_path, kind)
    with pytest.raises(TokenFileError, match=reason) as caught:
        load_tokens(tmp_path / f"{kind}.npy", codebook_size=CODEBOOK_SIZE, max_levels=8)
    assert "allow_pickle" not in str(caught.value)
    assert str(caught.value).startswith(f"{named}: ")


def test_codebook_size_and_level_limit_follow_the_model(tmp_path):
    path = tmp_path / "a.npy"
    np.save(path, np.full((4, 3), 200))
    assert load_tokens(path)[0].shape == (4, 3)
    with pytest.raises(TokenFileError, match="code 200 .* outside 0..127"):
        load_tokens(path, codebook_size=128)
    with pytest.raises(TokenFileError, match="1 <= k <= 2"):
        load_tokens(path, max_levels=2)


def test_build_token_meta_from_a_real_codec(tiny16k_codec, tmp_path):
    from xy_tokenizer.io.audio import AudioInfo

    codes = np.zeros((8, 37), np.int64)
    info = AudioInfo(tmp_path / "a.flac", 44100, 2, 130536, 130536 / 44100, "FLAC", "PCM_16")
    meta = build_token_meta(tiny16k_codec, codes, source=info.path, source_info=info,
                            encode_options={"overlap": 5}, decode_levels=4)
    assert set(meta) == META_KEYS
    assert meta["format_version"] == TOKEN_FORMAT_VERSION
    assert meta["variant"] == tiny16k_codec.variant
    assert meta["checkpoint_sha256"] == tiny16k_codec.checkpoint_sha256
    assert (meta["levels"], meta["num_frames"], meta["decode_levels"]) == (8, 37, 4)
    assert meta["family"] == "xy_tokenizer" and meta["quantizer"] == "rvq"
    assert meta["codebook_size"] == tiny16k_codec.codebook_size
    assert meta["source"] == str(info.path) and meta["source_sample_rate"] == 44100
    assert meta["source_duration"] == pytest.approx(2.96)
    assert meta["frame_rate"] == FRAME_RATE and meta["encode_options"] == {"overlap": 5}
    assert meta["package_version"] == __version__ and meta["created"].endswith("+00:00")
    json.dumps(meta)                                      # serialisable as is
    assert sidecar_path(tmp_path / "x.npy") == tmp_path / "x.json"


def test_dtype_follows_the_codebook_size(tmp_path):
    """int16 holds up to 32768 codes; a 65,536-code FSQ codebook needs int32."""
    small = save_tokens(tmp_path / "rvq.npy", np.full((8, 4), 1023), {"codebook_size": 1024})[0]
    big = save_tokens(tmp_path / "fsq.npy", np.full((1, 4), 65535), {"codebook_size": 65536})[0]
    assert np.load(small).dtype == np.int16 and np.load(big).dtype == np.int32
    assert load_tokens(big)[0].max() == 65535


def test_format_1_sidecars_still_load_and_are_upgraded(tmp_path):
    path = tmp_path / "old.npy"
    np.save(path, np.zeros((4, 10), np.int16))
    v1 = {"format_version": 1, "variant": "xy_tokenizer_16k", "num_quantizers": 4, "num_frames": 10,
          "codebook_size": 1024, "frame_rate": 12.5, "overlap_seconds": 10.0}
    path.with_suffix(".json").write_text(json.dumps(v1))
    codes, meta = load_tokens(path)
    assert codes.shape == (4, 10)
    assert meta["family"] == "xy_tokenizer" and meta["levels"] == 4
    assert meta["encode_options"] == {"overlap": 10.0} and meta["decode_levels"] is None


@pytest.mark.parametrize("version", ["2", 2.0, True, 0])
def test_a_format_version_that_is_not_a_whole_number_is_damage_not_newer(tmp_path, version):
    path = tmp_path / "a.npy"
    np.save(path, np.zeros((2, 3), np.int16))
    path.with_suffix(".json").write_text(json.dumps({"format_version": version}))
    with pytest.raises(TokenFileError, match="must be a whole number") as caught:
        load_tokens(path)
    assert "newer" not in str(caught.value)


@pytest.mark.parametrize("field,value,said", [("levels", 8, "8 levels"), ("num_frames", 99, "99 frames")])
def test_a_sidecar_that_contradicts_its_array_is_refused(tmp_path, field, value, said):
    path = tmp_path / "a.npy"
    np.save(path, np.zeros((4, 10), np.int16))
    meta = {"format_version": TOKEN_FORMAT_VERSION, "levels": 4, "num_frames": 10, field: value}
    path.with_suffix(".json").write_text(json.dumps(meta))
    with pytest.raises(TokenFileError, match=f"says {said}.*do not belong together"):
        load_tokens(path)
