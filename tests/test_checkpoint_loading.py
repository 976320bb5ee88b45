"""Checkpoints load strictly and safely; bad files give clear errors naming them."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch

import xy_tokenizer
from xy_tokenizer.io.checkpoint import read_state_dict
from xy_tokenizer.errors import CheckpointError, ConfigError


def _encode_probe(codec) -> np.ndarray:
    t = np.arange(16000 * 2) / 16000
    wave = (0.3 * np.sin(2 * np.pi * 220 * t) * np.sin(2 * np.pi * 3 * t)).astype(np.float32)
    return codec.encode([wave])[0]


def test_plain_and_generator_wrapped_forms_load(tiny16k_dir, tiny24k_dir):
    plain = torch.load(tiny16k_dir / "model.ckpt", weights_only=True)
    wrapped = torch.load(tiny24k_dir / "model.ckpt", weights_only=True)
    assert "generator" not in plain and "generator" in wrapped
    assert any(k.startswith("vocos.") for k in plain)
    assert any(k.startswith("enhanced_vocos.") for k in wrapped["generator"])
    for folder in (tiny16k_dir, tiny24k_dir):
        codec = xy_tokenizer.load(folder / "model.ckpt", config=folder / "config.yaml", device="cpu")
        assert codec.checkpoint_path == folder / "model.ckpt"


def test_safetensors_and_rewrapped_pickles_give_identical_tokens(tmp_path, tiny24k_dir, tiny24k_codec):
    from safetensors.torch import save_file

    state = read_state_dict(tiny24k_dir / "model.ckpt")
    st = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(st))
    plain = tmp_path / "plain.pt"
    torch.save(state, plain)
    nested = tmp_path / "nested.ckpt"
    torch.save({"generator": state, "optimizer_step": torch.tensor(12)}, nested)
    reference = _encode_probe(tiny24k_codec)
    for path in (st, plain, nested):
        codec = xy_tokenizer.load(path, config=tiny24k_dir / "config.yaml", device="cpu")
        np.testing.assert_array_equal(_encode_probe(codec), reference)


def test_weight_norm_is_folded_once_at_load(tiny16k_codec):
    proj = tiny16k_codec.model.quantizer.input_proj
    v, g = proj.weight_v.detach(), proj.weight_g.detach()
    expected = (g * v / v.norm(dim=(1, 2), keepdim=True))[..., 0]
    torch.testing.assert_close(proj.folded, expected)


def test_wrong_shape_is_named(tmp_path, tiny16k_dir):
    state = read_state_dict(tiny16k_dir / "model.ckpt")
    key = "downsample.down_proj.weight"
    state[key] = torch.zeros(3, 3)
    path = tmp_path / "wrong_shape.ckpt"
    torch.save(state, path)
    with pytest.raises(CheckpointError) as err:
        xy_tokenizer.load(path, config=tiny16k_dir / "config.yaml", device="cpu")
    assert "wrong_shape.ckpt" in str(err.value) and key in str(err.value) and "(3, 3)" in str(err.value)


def test_missing_and_unexpected_keys_are_named(tmp_path, tiny16k_dir):
    state = read_state_dict(tiny16k_dir / "model.ckpt")
    del state["quantizer.quantizers.3.codebook"]
    state["extra.weight"] = torch.zeros(1)
    path = tmp_path / "missing.ckpt"
    torch.save(state, path)
    with pytest.raises(CheckpointError) as err:
        xy_tokenizer.load(path, config=tiny16k_dir / "config.yaml", device="cpu")
    text = str(err.value)
    assert "missing.ckpt" in text and "quantizers.3.codebook" in text and "extra.weight" in text


def test_tiny_model_without_yaml_asks_for_config(tiny16k_dir):
    with pytest.raises(CheckpointError) as err:
        xy_tokenizer.load(tiny16k_dir / "model.ckpt", device="cpu")
    assert "none of the released" in str(err.value) and "--config" in str(err.value)


@pytest.mark.parametrize("content", [b"", b"hello, I am a text file\n", b"PK\x03\x04broken zip"])
def test_not_a_checkpoint(tmp_path, content):
    path = tmp_path / "notes.ckpt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError) as err:
        xy_tokenizer.load(path, device="cpu")
    assert "notes.ckpt" in str(err.value)


def test_truncated_checkpoint(tmp_path, tiny16k_dir):
    data = (tiny16k_dir / "model.ckpt").read_bytes()
    path = tmp_path / "cut.ckpt"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError) as err:
        xy_tokenizer.load(path, config=tiny16k_dir / "config.yaml", device="cpu")
    assert "cut.ckpt" in str(err.value)


class _Exploit:
    """Unpickling this would create a file: proof that code ran."""

    marker = ""

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    _Exploit.marker = str(marker)
    path = tmp_path / "evil.ckpt"
    torch.save({"generator": {"w": torch.zeros(1)}, "payload": _Exploit()}, path)
    with pytest.raises(CheckpointError) as err:
        xy_tokenizer.load(path, device="cpu")
    assert not marker.exists()
    text = str(err.value)
    assert "evil.ckpt" in text and "refused" in text and "trust" in text


def test_missing_file_and_bad_yaml(tmp_path, tiny16k_dir):
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        xy_tokenizer.load(tmp_path / "absent.ckpt", device="cpu")
    bad = tmp_path / "bad.yaml"
    bad.write_text("generator_params: {sample_rate: 16000}\n")
    with pytest.raises(ConfigError, match="bad.yaml"):
        xy_tokenizer.load(tiny16k_dir / "model.ckpt", config=bad, device="cpu")


def test_no_default_model_says_how_to_get_one():
    with pytest.raises(CheckpointError, match="xytok download"):
        xy_tokenizer.load(device="cpu")


def test_default_model_is_used_when_installed(tmp_path, tiny16k_dir):
    from xy_tokenizer.io import paths

    target = paths.default_checkpoint()
    target.parent.mkdir(parents=True)
    target.write_bytes((tiny16k_dir / "model.ckpt").read_bytes())
    codec = xy_tokenizer.load(config=tiny16k_dir / "config.yaml", device="cpu")
    assert codec.checkpoint_path == target
    assert len(codec.checkpoint_sha256) == 64


def test_pickle_module_refusal_is_not_silent_fallback(tmp_path):
    """A pickle of a plain Python object (no code) is refused too: weights only."""
    path = tmp_path / "obj.ckpt"
    torch.save({"generator": {"w": torch.zeros(1)}, "cfg": _Plain()}, path)
    with pytest.raises(CheckpointError, match="obj.ckpt"):
        read_state_dict(path)
    assert read_state_dict(path, trust=True)["w"].shape == (1,)


class _Plain:
    pass


def test_cli_trust_flag_opts_in(tmp_path, tiny16k_dir):
    """A checkpoint with harmless extra objects: refused by default, loaded with --trust-checkpoint."""
    from tests.synth import speech_like, write
    from xy_tokenizer import cli

    state = read_state_dict(tiny16k_dir / "model.ckpt")
    path = tmp_path / "with_objects.ckpt"
    torch.save({"generator": state, "meta": _Plain()}, path)
    wav = tmp_path / "in" / "a.wav"
    wav.parent.mkdir()
    write(wav, speech_like(1.0))
    args = ["encode", str(wav), "-o", str(tmp_path / "out"), "--checkpoint", str(path),
            "--config", str(tiny16k_dir / "config.yaml"), "--quiet"]
    assert cli.main(args) == 2
    assert cli.main([*args, "--trust-checkpoint"]) == 0
    assert (tmp_path / "out" / "a.npy").is_file()
