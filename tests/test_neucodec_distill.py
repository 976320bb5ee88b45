"""DistillNeuCodec: layout and a coherent round trip. UNVERIFIED against the reference (no fixture):
these tests check the released key layout, loading, and that encode/decode run with the right shapes."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests.conftest import ROOT, fixture_dir
from xy_tokenizer.codecs.neucodec import loader
from xy_tokenizer.codecs.spec import CheckpointSource
from xy_tokenizer.errors import CheckpointError


def _manifest() -> dict:
    return json.loads((fixture_dir("manifests") / "distill_neucodec.json").read_text())


def test_layout_matches_manifest():
    manifest = _manifest()
    net = loader.variant_net("distill_neucodec", device="meta")
    ours = {k: tuple(v.shape) for k, v in net.release_state_dict().items()}
    assert ours == {k: tuple(v["shape"]) for k, v in manifest["state_dict"].items()}
    semantic = {k: tuple(v.shape) for k, v in net.semantic_model.state_dict().items()}
    assert semantic == {k: tuple(v["shape"]) for k, v in manifest["missing_keys_loaded_elsewhere"]["state_dict"].items()}


def test_recognised_as_distill_and_not_as_others():
    from xy_tokenizer.codecs.xcodec2 import loader as xloader

    state = loader.variant_net("distill_neucodec", device="meta").release_state_dict()
    source = CheckpointSource(path=ROOT / "distill.bin", state=state)
    assert loader.recognise(source) == "distill_neucodec"
    assert xloader.recognise(source) is None
    del state["fc_sq_prior.bias"]
    assert loader.recognise(source) is None


@pytest.fixture(scope="module")
def distill():
    return loader.from_variant("distill_neucodec", device="cpu", seed=3)


def test_random_full_size_round_trip(distill):
    wav = (0.1 * np.sin(2 * np.pi * 220 * np.arange(16000 + 77) / 16000)).astype(np.float32)
    codes = distill.encode([wav, wav[:5000]], batch_size=2)
    assert [c.shape for c in codes] == [(1, 51), (1, 16)]
    assert all(0 <= c.min() and c.max() < 65536 for c in codes)
    np.testing.assert_array_equal(distill.encode(wav)[0], codes[0])
    audio = distill.decode(codes[0])[0]
    assert audio.shape == (51 * 480,) and np.isfinite(audio).all()


def test_load_from_tensors_and_distilhubert_folder(distill, tmp_path):
    hubert = distill.net.semantic_model
    hubert.save_pretrained(tmp_path)
    (tmp_path / "preprocessor_config.json").write_text(json.dumps({"do_normalize": True, "sampling_rate": 16000}))
    state = distill.net.release_state_dict()
    state["training_only.extra"] = torch.zeros(2)
    source = CheckpointSource(path=tmp_path / "pytorch_model.bin", state=state)
    codec = loader.load(source, variant="distill_neucodec", semantic_model=tmp_path, device="cpu")
    assert codec.ignored_keys == ("training_only.extra",)
    wav = (0.1 * np.sin(2 * np.pi * 330 * np.arange(8000) / 16000)).astype(np.float32)
    np.testing.assert_array_equal(codec.encode(wav)[0], distill.encode(wav)[0])
    with pytest.raises(CheckpointError, match="ntu-spml/distilhubert"):
        loader.load(source, variant="distill_neucodec", device="cpu")
    del state["codec_encoder.encoder.blocks.8.bias"]
    with pytest.raises(CheckpointError, match=r"pytorch_model\.bin.*blocks\.8\.bias"):
        loader.load(source, variant="distill_neucodec", semantic_model=tmp_path, device="cpu")
