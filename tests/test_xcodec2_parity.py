"""X-Codec2 against the published reference (pip xcodec2==0.1.5) on the committed tiny fixture.

Reproduce: ``python -m pytest -q tests/test_xcodec2_parity.py``.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from tests.conftest import fixture_dir
from tests.test_neucodec_parity import (_check_batch_independence, _check_features, _check_intermediates,
                                        _check_synthesis, _check_tokens, _load)
from xy_tokenizer.codecs.loading import open_source
from xy_tokenizer.codecs.xcodec2 import loader as xcodec2_loader
from xy_tokenizer.errors import CheckpointError


@pytest.fixture(scope="module")
def xcodec2():
    return _load("xcodec2")


def test_features_match_reference(xcodec2):
    _check_features(*xcodec2)


def test_intermediates_match_reference(xcodec2):
    _check_intermediates(*xcodec2)


def test_tokens_match_reference(xcodec2):
    _check_tokens(*xcodec2)


def test_synthesis_matches_reference(xcodec2):
    _check_synthesis(*xcodec2)


def test_batch_independence(xcodec2):
    _check_batch_independence(*xcodec2)


def test_facts_and_frames(xcodec2):
    codec, _ = xcodec2
    assert (codec.family, codec.num_quantizers, codec.codebook_size) == ("xcodec2", 1, 65536)
    assert (codec.input_sample_rate, codec.output_sample_rate, codec.output_samples_per_token) == (16000, 16000, 320)
    assert [codec.num_frames(n) for n in (1, 319, 320, 5920)] == [1, 1, 2, 19]
    assert codec.encode(np.full(200, 0.1, dtype=np.float32))[0].shape == (1, 1)


def test_semantic_weights_come_from_the_file(xcodec2):
    codec, _ = xcodec2
    stored = load_file(fixture_dir("xcodec2-tiny") / "model.safetensors")
    ours = codec.net.semantic_model.state_dict()
    for key in ("feature_projection.projection.weight", "encoder.layers.15.ffn2.output_dense.weight"):
        assert torch.equal(ours[key], stored["semantic_model." + key])
    # Layers beyond the 16th are never run: reported as unused, not loaded.
    assert len(codec.net.semantic_model.encoder.layers) == 16
    assert codec.unused_keys and all(k.startswith("semantic_model.encoder.layers.16.") for k in codec.unused_keys)
    assert codec.ignored_keys == ()


def test_loads_without_semantic_folder():
    """The semantic config is read from the tensors' shapes when no folder is given."""
    codec, exp = _load("xcodec2", semantic_model=None)
    np.testing.assert_array_equal(codec.encode(exp["wav_1"])[0], exp["codes_1"][0])


def test_snake_beta_is_loaded():
    """The release stores SnakeBeta's beta as ``...act.beta``; it must reach the module (X-Codec-2.0 #24)."""
    codec, _ = _load("xcodec2")
    stored = load_file(fixture_dir("xcodec2-tiny") / "model.safetensors")
    key = "CodecEnc.conv_blocks.1.block.0.block.0.act.beta"
    assert torch.equal(codec.net.state_dict()[key], stored[key])
    assert stored[key].abs().max() > 0


def test_missing_semantic_tensor_is_refused():
    source = open_source(fixture_dir("xcodec2-tiny"))
    state = dict(source.state)
    del state["semantic_model.encoder.layers.3.self_attn.linear_q.weight"]
    source.state = state
    with pytest.raises(CheckpointError, match=r"model\.safetensors.*layers\.3\.self_attn\.linear_q\.weight"):
        xcodec2_loader.load(source, variant="x", config={"decoder": {"heads": 4}}, device="cpu")


def test_wrong_family_is_refused():
    with pytest.raises(CheckpointError, match="load it as neucodec"):
        xcodec2_loader.load(open_source(fixture_dir("neucodec-tiny")), variant="x", device="cpu")
