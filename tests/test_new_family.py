"""A codec family added only through the registry runs through load(), the jobs and the CLI."""
from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

import xy_tokenizer
from tests.families import toy
from tests.synth import speech_like, write
from tests.cli_runner import run_cli
from xy_tokenizer import registry
from xy_tokenizer.io.tokens import load_tokens


@pytest.fixture
def toy_family(tmp_path):
    registry.register_family(toy.FAMILY)
    yield toy.save_checkpoint(tmp_path / "toy.safetensors")
    registry.unregister_family(toy.FAMILY.name)


def test_registry_lists_the_new_family_and_load_detects_it(toy_family):
    assert registry.variant("toy").family == "toy"
    assert "toy_rvq_8k" in registry.choices()
    assert "Toy RVQ" in registry.markdown_table()
    codec = xy_tokenizer.load(toy_family)
    assert isinstance(codec, toy.ToyCodec) and codec.bitrate == 2 * 4 * 25
    codes = codec.encode([speech_like(1.0)], sample_rate=16000)[0]
    assert codes.shape == (2, 25) and codes.max() < 16


def test_cli_reconstruct_decode_info_and_stats_run_the_new_family(toy_family, tmp_path):
    src = tmp_path / "in"
    write(src / "a.wav", speech_like(1.2, seed=1))
    write(src / "b.flac", speech_like(0.8, 44100, seed=2), 44100)
    model = ["--checkpoint", toy_family, "--device", "cpu"]
    code, _, err = run_cli("reconstruct", src, "-o", tmp_path / "out", "--quiet", *model)
    assert code == 0, err
    codes, meta = load_tokens(tmp_path / "out" / "a.npy")
    assert codes.shape == (2, 30)
    assert np.load(tmp_path / "out" / "a.npy").dtype == np.int16
    assert (meta["family"], meta["variant"], meta["frame_rate"], meta["codebook_size"]) == ("toy", "toy_rvq_8k", 25.0, 16)
    assert meta["decode_levels"] == 2
    audio, rate = sf.read(tmp_path / "out" / "a.wav")
    assert rate == 8000 and len(audio) == 30 * 320

    code, _, err = run_cli("decode", tmp_path / "out" / "b.npy", "-o", tmp_path / "dec", "--num-quantizers", "1",
                           "--quiet", *model)
    assert code == 0, err
    assert sf.info(tmp_path / "dec" / "b.wav").samplerate == 8000

    code, out, _ = run_cli("info", toy_family, "--json")
    assert code == 0 and json.loads(out)["variant"] == "toy_rvq_8k"
    code, out, _ = run_cli("stats", tmp_path / "out")
    assert code == 0 and "L1" in out


def test_a_checkpoint_no_family_knows_is_refused_naming_it(tmp_path):
    from safetensors.numpy import save_file

    path = tmp_path / "mystery.safetensors"
    save_file({"mystery.weight": np.zeros((3, 3), np.float32)}, str(path))
    with pytest.raises(xy_tokenizer.CheckpointError, match="not a checkpoint of any known codec family") as caught:
        xy_tokenizer.load(path)
    assert str(path) in str(caught.value)
