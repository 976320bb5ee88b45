"""X-Codec checkpoints: recognition, key forms, wrappers, refusals; the family spec is torch-free."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import ROOT, fixture_dir

from xy_tokenizer.codecs.spec import CheckpointSource
from xy_tokenizer.codecs.loading import open_source
from xy_tokenizer.codecs.xcodec import FAMILY, SEMANTIC_KIND
from xy_tokenizer.codecs.xcodec import loader
from xy_tokenizer.errors import CheckpointError, ConfigError

POS = "semantic_model.encoder.pos_conv_embed.conv."


@pytest.fixture(scope="module")
def tiny():
    return fixture_dir("xcodec-tiny")


@pytest.fixture(scope="module")
def state(tiny):
    return torch.load(tiny / "xcodec_tiny.pth", weights_only=True)


@pytest.fixture(scope="module")
def wav(tiny):
    with np.load(tiny / "expected.npz") as data:
        return data["wav_1"], data["codes_1"]


def _source(path, state):
    return CheckpointSource(path=Path(path), state=state)


def _load(source):
    """Files copied to tmp have no YAML beside them: the semantic folder gives the heads."""
    return loader.load(source, variant="xcodec-custom", semantic_model=fixture_dir("xcodec-tiny") / "semantic_model",
                       device="cpu")


def _save(tmp_path, state, name="xcodec_tiny.pth"):
    path = tmp_path / name
    torch.save(state, path)
    return path


def test_recognise_the_fixture(tiny):
    assert loader.recognise(open_source(tiny / "xcodec_tiny.pth")) == "xcodec-custom"


def test_other_pos_conv_key_form_loads_the_same(tmp_path, state, wav):
    assert POS + "parametrizations.weight.original0" in state
    old = dict(state)
    old[POS + "weight_g"] = old.pop(POS + "parametrizations.weight.original0")
    old[POS + "weight_v"] = old.pop(POS + "parametrizations.weight.original1")
    source = open_source(_save(tmp_path, old))
    assert loader.recognise(source) == "xcodec-custom"
    codec = _load(source)
    np.testing.assert_array_equal(codec.encode(wav[0])[0], wav[1])


def test_codec_model_wrapper_and_prefix(tmp_path, state, wav):
    source = open_source(_save(tmp_path, {"codec_model": dict(state)}))
    assert loader.recognise(source) == "xcodec-custom"
    np.testing.assert_array_equal(_load(source).encode(wav[0])[0], wav[1])
    prefixed = {f"codec_model.{k}": v for k, v in state.items()}
    assert loader.recognise(_source("x.pth", prefixed)) == "xcodec-custom"


def test_converted_transformers_layout(tmp_path, tiny, state, wav):
    codec = loader.load(open_source(tiny / "xcodec_tiny.pth"), variant="xcodec-custom", device="cpu")
    hf = codec.net.model.state_dict()
    assert "acoustic_encoder.conv1.weight" in hf and "fc.weight" in hf
    source = _source(tmp_path / "model.safetensors", hf)
    assert loader.recognise(source) == "xcodec-custom"
    again = _load(source)
    np.testing.assert_array_equal(again.encode(wav[0])[0], wav[1])
    # The same with the DAC weight norm kept as parametrizations (XcodecModel.apply_weight_norm).
    param = {}
    for key, value in hf.items():
        if key.startswith(("acoustic_encoder.", "acoustic_decoder.")) and key.endswith(".weight"):
            stem = key[:-len("weight")]
            norm = torch.linalg.vector_norm(value, dim=tuple(range(1, value.dim())), keepdim=True)
            param[stem + "parametrizations.weight.original0"] = norm
            param[stem + "parametrizations.weight.original1"] = value * 3.0  # v is defined up to a scale
        else:
            param[key] = value
    source = _source(tmp_path / "model.safetensors", param)
    assert loader.recognise(source) == "xcodec-custom"
    np.testing.assert_array_equal(_load(source).encode(wav[0])[0], wav[1])


def test_release_state_dict_round_trip(tiny, state):
    codec = loader.load(open_source(tiny / "xcodec_tiny.pth"), variant="xcodec-custom", device="cpu")
    back = codec.net.release_state_dict()
    assert set(back) == set(state)
    for key, value in state.items():
        assert tuple(back[key].shape) == tuple(value.shape), key
        if key.endswith(("weight_g", "weight_v")):
            continue  # g and v are defined up to a scale of v: compare the folded weight
        torch.testing.assert_close(back[key], value, rtol=0, atol=0)
    for key in [k for k in state if k.endswith("weight_g")]:
        stem = key[:-len("weight_g")]
        fold = torch._weight_norm(state[stem + "weight_v"], state[key], 0)
        torch.testing.assert_close(torch._weight_norm(back[stem + "weight_v"], back[key], 0), fold)


def test_semantic_weights_from_the_folder_when_the_file_has_none(tmp_path, state, wav):
    bare = {k: v for k, v in state.items() if not k.startswith("semantic_model.")}
    source = open_source(_save(tmp_path, bare, "bare.pth"))
    assert loader.recognise(source) is None  # X-Codec files always carry the semantic model
    np.testing.assert_array_equal(_load(source).encode(wav[0])[0], wav[1])  # the fixture folder has the same weights
    with pytest.raises(CheckpointError, match=r"bare\.pth.*semantic_model"):
        loader.load(source, variant="xcodec-custom", device="cpu")


def test_not_xcodec_is_not_recognised():
    assert loader.recognise(_source("x.pth", {"encoder.weight": torch.zeros(2)})) is None
    assert loader.recognise(_source("x.pth", {"vocos.head.out.weight": torch.zeros(2, 2)})) is None


def test_missing_key_names_file_and_key(tmp_path, state):
    broken = {k: v for k, v in state.items() if k != "decoder_2.model.1.block.2.block.1.weight_v"}
    path = _save(tmp_path, broken, "broken.pth")
    with pytest.raises(CheckpointError, match=r"broken\.pth.*decoder_2\.model\.1\.block\.2\.block\.1\.weight_v"):
        _load(open_source(path))
    no_fc = {k: v for k, v in state.items() if not k.startswith("fc_post2.")}
    path = _save(tmp_path, no_fc, "no_fc.pth")
    with pytest.raises(CheckpointError, match=r"no_fc\.pth.*missing.*fc_post2\.weight"):
        _load(open_source(path))


def test_wrong_shape_names_file_and_key(tmp_path, state):
    bad = dict(state)
    bad["fc_prior.weight"] = torch.zeros(24, 23)
    path = _save(tmp_path, bad, "wrong_shape.pth")
    with pytest.raises(CheckpointError, match=r"wrong_shape\.pth.*fc_prior\.weight \(24, 23\)"):
        _load(open_source(path))


def test_uninitialised_codebook_is_refused(tmp_path, state):
    bad = dict(state)
    bad["quantizer.vq.layers.3._codebook.inited"] = torch.zeros(1)
    path = _save(tmp_path, bad, "untrained.pth")
    with pytest.raises(CheckpointError, match=r"untrained\.pth.*level 3.*inited 0"):
        _load(open_source(path))


def test_unknown_key_is_refused(tmp_path, state):
    bad = dict(state)
    bad["discriminator.weight"] = torch.zeros(1)
    path = _save(tmp_path, bad, "extra.pth")
    with pytest.raises(CheckpointError, match=r"extra\.pth.*discriminator\.weight"):
        _load(open_source(path))


def test_yaml_must_agree_with_the_tensors(tiny):
    import yaml

    cfg = yaml.safe_load((tiny / "config.yaml").read_text())
    source = open_source(tiny / "xcodec_tiny.pth")
    loader.load(source, variant="xcodec-custom", config=cfg, device="cpu")  # agrees
    cfg["generator"]["config"]["D"] = 16
    with pytest.raises(ConfigError, match="D: 16"):
        loader.load(source, variant="xcodec-custom", config=cfg, device="cpu")
    cfg["generator"]["config"]["D"] = 8
    cfg["generator"]["config"]["semantic_techer"] = "wavlm_base_plus"
    with pytest.raises(ConfigError, match="semantic_techer"):
        loader.load(source, variant="xcodec-custom", config=cfg, device="cpu")


def test_semantic_config_sources_agree(tiny, wav):
    """Without YAML nor folder the tiny heads cannot be known (hidden 16); the folder gives them."""
    source = open_source(tiny / "xcodec_tiny.pth")
    with pytest.raises(ConfigError, match="attention heads"):
        loader.load(source, variant="xcodec-custom", config={}, device="cpu")
    folder = loader.load(source, variant="xcodec-custom", config={}, semantic_model=tiny / "semantic_model", device="cpu")
    assert folder.net.dims.semantic["num_attention_heads"] == 2
    np.testing.assert_array_equal(folder.encode(wav[0])[0], wav[1])
    with pytest.raises(ConfigError, match="float32 or bfloat16"):
        loader.load(source, variant="xcodec-custom", device="cpu", dtype="float16")


def test_family_spec():
    assert FAMILY.name == "xcodec" and FAMILY.loader == "xy_tokenizer.codecs.xcodec.loader"
    ids = [v.id for v in FAMILY.variants]
    assert {"xcodec_hubert_librispeech", "xcodec_wavlm_mls", "xcodec_wavlm_more_data",
            "xcodec_hubert_general"} <= set(ids)
    names = [n for v in FAMILY.variants for n in v.names()]
    assert len(names) == len(set(names))
    for v in FAMILY.variants:
        assert (v.family, v.input_sample_rate, v.output_sample_rate, v.frame_rate) == ("xcodec", 16000, 16000, 50.0)
        assert (v.num_quantizers, v.codebook_size, v.bitrate) == (8, 1024, 4000)
        assert v.checkpoint_file.repo_id == "ZhenYe234/xcodec" and v.checkpoint_file.filename.endswith(".pth")
        assert [f.role for f in v.files] == ["checkpoint", "config"]
        assert v.id in SEMANTIC_KIND


def test_family_import_is_torch_free():
    code = ("import sys; import xy_tokenizer.codecs.xcodec as x; "
            "assert x.FAMILY.variants; "
            "bad = [m for m in ('torch', 'transformers', 'numpy') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
