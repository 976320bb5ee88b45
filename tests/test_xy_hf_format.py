"""The HF-format XY-Tokenizer release (config.json + weights, HF key names) loads as the reference does."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml

import xy_tokenizer
from tests.synth import speech_like
from xy_tokenizer.codecs.xy import hf
from xy_tokenizer.io.checkpoint import read_state_dict


def hf_state(reference: dict[str, torch.Tensor], *, plain_proj: bool, new_norm: bool) -> dict[str, torch.Tensor]:
    """Reference tensors under the HF-format names (the inverse of ``hf.to_reference_keys``)."""
    out = {}
    for key, value in reference.items():
        key = key.replace(".fc1.", ".mlp.fc1.").replace(".fc2.", ".mlp.fc2.")
        if key.endswith(".positional_embedding"):
            key += ".weight"
        out[key] = value
    for module in ("quantizer.input_proj", "quantizer.output_proj"):
        g, v = out.pop(f"{module}.weight_g"), out.pop(f"{module}.weight_v")
        if plain_proj:
            out[f"{module}.weight"] = g * v / torch.linalg.vector_norm(v, dim=(1, 2), keepdim=True)
        elif new_norm:
            out[f"{module}.parametrizations.weight.original0"] = g
            out[f"{module}.parametrizations.weight.original1"] = v
        else:
            out[f"{module}.weight_g"], out[f"{module}.weight_v"] = g, v
    return out


def hf_config(yaml_path) -> dict:
    """A config.json in the HF release's layout from the reference YAML."""
    generator = yaml.safe_load(yaml_path.read_text())["generator_params"]
    rates = {k: generator.pop(k) for k in ("input_sample_rate", "output_sample_rate",
                                           "encoder_downsample_rate", "decoder_upsample_rate") if k in generator}
    return {"model_type": "xy_tokenizer", "auto_map": {}, **rates, "params": generator}


@pytest.fixture(scope="module")
def reference(tiny24k_dir):
    codec = xy_tokenizer.load(tiny24k_dir / "model.ckpt", config=tiny24k_dir / "config.yaml", device="cpu")
    wave = speech_like(3.0)
    return codec, wave, codec.encode([wave])[0]


@pytest.mark.parametrize("plain_proj, new_norm, prefix, filename", [
    (False, False, "", "model.safetensors"),
    (False, True, "", "pytorch_model.bin"),
    (True, False, "codec_model.", "model.safetensors"),
])
def test_hf_format_folder_gives_the_reference_tokens_and_audio(tmp_path, tiny24k_dir, reference,
                                                                plain_proj, new_norm, prefix, filename):
    codec, wave, codes = reference
    state = read_state_dict(tiny24k_dir / "model.ckpt")
    converted = {prefix + k: v.contiguous() for k, v in hf_state(state, plain_proj=plain_proj, new_norm=new_norm).items()}
    assert (prefix + "quantizer.input_proj.weight" in converted) == plain_proj
    assert any(".mlp.fc1." in k for k in converted)
    folder = tmp_path / "XY_Tokenizer_hf"
    folder.mkdir()
    if filename.endswith(".safetensors"):
        from safetensors.torch import save_file

        save_file(converted, str(folder / filename))
    else:
        torch.save(converted, folder / filename)
    (folder / "config.json").write_text(json.dumps(hf_config(tiny24k_dir / "config.yaml")))
    loaded = xy_tokenizer.load(folder, device="cpu")           # no YAML: config.json is enough
    assert loaded.family == "xy_tokenizer" and loaded.output_sample_rate == 24000
    assert loaded.checkpoint_path == folder / filename
    np.testing.assert_array_equal(loaded.encode([wave])[0], codes)
    a, b = loaded.decode([codes])[0], codec.decode([codes])[0]
    assert np.max(np.abs(a - b)) <= 1e-5 * max(1e-6, np.max(np.abs(b)))


def test_key_mapping_is_recognised_and_reversible(tiny24k_dir):
    state = read_state_dict(tiny24k_dir / "model.ckpt")
    converted = hf_state(state, plain_proj=False, new_norm=True)
    assert hf.is_hf_layout(converted) and not hf.is_hf_layout(state)
    back = hf.to_reference_keys(converted)
    assert set(back) == set(state)
    for key in state:
        assert torch.equal(back[key], state[key]), key


def test_config_json_without_params_is_not_a_config():
    assert hf.config_from_json({"model_type": "xy_tokenizer"}, "x/config.json") is None
