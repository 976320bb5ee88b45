"""Full-size X-Codec: ``from_variant`` builds exactly the released layout (tests/fixtures/manifests).

Each model is ~180 M floats (0.7 GB); one HuBERT and one WavLM variant are built, one at a time.
"""
from __future__ import annotations

import gc
import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import FIXTURES

from xy_tokenizer.codecs.spec import CheckpointSource
from xy_tokenizer.codecs.xcodec import FAMILY, loader

CASES = [("xcodec_hubert_librispeech", "xcodec_hubert_librispeech.json"),
         ("xcodec_wavlm_more_data", "xcodec_wavlm.json")]


@pytest.mark.parametrize("variant,manifest", CASES)
def test_from_variant_has_the_manifest_layout(variant, manifest):
    man = json.loads((FIXTURES / "manifests" / manifest).read_text())
    codec = loader.from_variant(variant, device="cpu")
    try:
        state = codec.net.release_state_dict()
        want = {k: tuple(v["shape"]) for k, v in man["state_dict"].items()}
        have = {k: tuple(v.shape) for k, v in state.items()}
        assert sorted(set(want) - set(have)) == [] and sorted(set(have) - set(want)) == []
        assert {k: s for k, s in have.items() if want[k] != s} == {}
        assert sum(v.numel() for k, v in state.items() if "._codebook." not in k) == man["num_parameters"]
        assert codec.variant == variant and codec.checkpoint_path is None
        gen = man["config"]["generator"]["config"]
        dims = codec.net.dims
        assert (dims.acoustic_dim, list(dims.down_ratios), dims.codebook_size) == (gen["D"], gen["ratios"], gen["bins"])
        # The released file name identifies the variant among releases of the same shapes.
        name = next(f.filename for v in FAMILY.variants if v.id == variant for f in v.files if f.role == "checkpoint")
        assert loader.recognise(CheckpointSource(path=Path(name), state=state)) == variant
        assert loader.recognise(CheckpointSource(path=Path("renamed.pth"), state=state)) in (
            "xcodec_hubert_librispeech", "xcodec_wavlm_mls")
        codes = codec.encode(np.zeros(1600, np.float32))[0]
        assert codes.shape == (8, 5)
        assert codec.decode(codes)[0].shape == (1600,)
    finally:
        del codec
        gc.collect()
