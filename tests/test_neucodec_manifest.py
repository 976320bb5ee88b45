"""Released layouts: the full-size networks have exactly the released files' keys and shapes
(built on the meta device: no memory), are recognised as the released variants, and the family
packages import without torch."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from tests.conftest import ROOT, fixture_dir
from xy_tokenizer.codecs.neucodec import loader as neucodec_loader
from xy_tokenizer.codecs.spec import CheckpointSource
from xy_tokenizer.codecs.xcodec2 import loader as xcodec2_loader


def _manifest(name: str) -> dict:
    return json.loads((fixture_dir("manifests") / f"{name}.json").read_text())


@pytest.mark.parametrize("variant", ["neucodec", "xcodec2"])
def test_full_size_layout_matches_manifest(variant):
    manifest = _manifest(variant)
    net = neucodec_loader.variant_net(variant, device="meta")
    state = net.release_state_dict()
    expected = {k: tuple(v["shape"]) for k, v in manifest["state_dict"].items()}
    assert set(state) == set(expected), (sorted(set(state) ^ set(expected))[:10])
    wrong = {k: (tuple(t.shape), expected[k]) for k, t in state.items() if tuple(t.shape) != expected[k]}
    assert not wrong
    assert sum(t.numel() for t in state.values()) == manifest["num_state_dict_elements"]


def test_neucodec_semantic_model_matches_manifest_first_16_layers():
    manifest = _manifest("neucodec")["missing_keys_loaded_elsewhere"]["state_dict"]
    net = neucodec_loader.variant_net("neucodec", device="meta")
    ours = {k: tuple(v.shape) for k, v in net.semantic_model.state_dict().items()}
    assert ours == {k: tuple(v["shape"]) for k, v in manifest.items()
                    if not k.startswith("encoder.layers.") or int(k.split(".")[2]) < 16}


@pytest.mark.parametrize("variant,module", [("neucodec", neucodec_loader), ("xcodec2", xcodec2_loader)])
def test_released_layout_is_recognised(variant, module):
    state = neucodec_loader.variant_net(variant, device="meta").release_state_dict()
    if variant == "neucodec":
        for key, facts in _manifest("neucodec")["extra_keys_in_release"].items():
            state[key] = torch.empty(facts["shape"], device="meta")
    source = CheckpointSource(path=ROOT / f"{variant}.bin", state=state)
    assert module.recognise(source) == variant
    other = xcodec2_loader if module is neucodec_loader else neucodec_loader
    assert other.recognise(source) is None


def test_family_packages_do_not_import_torch():
    code = ("import sys; import xy_tokenizer.codecs.neucodec as n, xy_tokenizer.codecs.xcodec2 as x; "
            "assert 'torch' not in sys.modules and 'transformers' not in sys.modules, 'torch imported'; "
            "print(n.FAMILY.name, [v.id for v in n.FAMILY.variants], x.FAMILY.name)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["neucodec", "['neucodec',", "'distill_neucodec']", "xcodec2"]


def test_variant_facts():
    from xy_tokenizer.codecs.neucodec import FAMILY as NC
    from xy_tokenizer.codecs.xcodec2 import FAMILY as XC

    neucodec = NC.variants[0]
    assert (neucodec.output_sample_rate, neucodec.codebook_size, neucodec.num_quantizers, neucodec.bitrate) == (24000, 65536, 1, 800.0)
    assert NC.semantic_model_variant == "w2v_bert_2"
    w2v = [f for f in neucodec.files if f.role == "semantic_model"]
    assert {f.filename for f in w2v} == {"config.json", "model.safetensors", "preprocessor_config.json"}
    assert next(f.size for f in w2v if f.filename == "model.safetensors") == 2_322_063_736
    xcodec2 = XC.variants[0]
    assert (xcodec2.output_sample_rate, xcodec2.licence) == (16000, "cc-by-nc-4.0")
    assert xcodec2.checkpoint_file.filename == "model.safetensors"
