"""Models built from the released configs have exactly the released keys and shapes."""
from __future__ import annotations

import pytest
import torch

from tests.conftest import load_manifest
from xy_tokenizer.codecs.xy.checkpoint import compare, normalize_keys
from xy_tokenizer.codecs.xy.model import expected_shapes, resolve_config
from xy_tokenizer.codecs.xy.config import ModelConfig
from xy_tokenizer.errors import CheckpointError

MANIFESTS = {
    "xy_tokenizer_16k": ("16k", 16000, "vocos."),
    "xy_tokenizer_ttsd_24k": ("24k", 24000, "enhanced_vocos."),
    "moss_ttsd_32k": ("32k", 32000, "enhanced_vocos."),
}


def manifest_state(name: str) -> dict[str, torch.Tensor]:
    """The released key/shape list as meta tensors (no memory)."""
    entries = load_manifest(name)["state_dict"]
    dtypes = {"float32": torch.float32, "bool": torch.bool}
    return {k: torch.empty(v["shape"], dtype=dtypes[v["dtype"]], device="meta") for k, v in entries.items()}


@pytest.mark.parametrize("name", list(MANIFESTS))
def test_model_from_manifest_config_has_exactly_its_keys_and_shapes(name):
    manifest = load_manifest(name)
    config = ModelConfig.from_dict(manifest["config"], source=name)
    shapes = expected_shapes(config)
    released = {k: tuple(v["shape"]) for k, v in manifest["state_dict"].items()}
    assert shapes == {k.replace("enhanced_vocos.", "vocos."): v for k, v in released.items()}
    from xy_tokenizer.codecs.xy.model import XYTokenizerModel

    with torch.device("meta"):
        model = XYTokenizerModel(config)
    assert sum(p.numel() for p in model.parameters()) == manifest["num_parameters"]
    assert config.output_sample_rate == MANIFESTS[name][1]


@pytest.mark.parametrize("name", list(MANIFESTS))
def test_builtin_config_is_the_released_one(name):
    manifest = load_manifest(name)
    alias = MANIFESTS[name][0]
    assert ModelConfig.builtin(alias).matches(ModelConfig.from_dict(manifest["config"]))
    assert ModelConfig.builtin(name).variant_name() == name


@pytest.mark.parametrize("name", list(MANIFESTS))
def test_released_weights_are_recognised_without_yaml(name):
    state = manifest_state(name)
    assert any(k.startswith(MANIFESTS[name][2]) for k in state)
    config, renamed = resolve_config(state, None, source=name)
    assert config.variant_name() == name
    assert not compare(renamed, expected_shapes(config))


def test_weights_matching_no_variant_ask_for_a_config():
    state = manifest_state("xy_tokenizer_16k")
    state["vocos.head.out.weight"] = torch.empty(770, 512, device="meta")
    with pytest.raises(CheckpointError) as err:
        resolve_config(state, None, source="odd.ckpt")
    text = str(err.value)
    assert "odd.ckpt" in text and "770" in text and "config" in text
    assert "vocos.head.out.weight" in text


def test_vocoder_prefixes_normalised():
    state = {"enhanced_vocos.head.out.weight": torch.empty(1), "quantizer.x": torch.empty(1)}
    assert set(normalize_keys(state)) == {"vocos.head.out.weight", "quantizer.x"}
