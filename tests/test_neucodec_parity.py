"""NeuCodec against the published reference (pip neucodec==0.0.6) on the committed tiny fixture.

Reproduce: ``python -m pytest -q tests/test_neucodec_parity.py tests/test_xcodec2_parity.py``.
The helpers here (``_load``, ``_check_*``) are shared with the X-Codec2 tests.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml

from tests.conftest import fixture_dir
from xy_tokenizer.codecs.neucodec import loader as neucodec_loader
from xy_tokenizer.codecs.neucodec.features import semantic_features
from xy_tokenizer.codecs.loading import open_source
from xy_tokenizer.codecs.neucodec.modules import FSQ_EPS
from xy_tokenizer.codecs.xcodec2 import loader as xcodec2_loader
from xy_tokenizer.errors import AudioError, Cancelled, CheckpointError

#: Project-wide bar: floats within this fraction of the array's peak.
REL_TOL = 1e-4
#: Features: absolute.
FEAT_TOL = 1e-4
#: A token may differ from the reference only where the reference's bounded FSQ value lies this
#: close to a rounding threshold (x.5).
NEAR_TIE = 1e-4
CLIPS = (0, 1, 2)
FIXTURES = {"neucodec": ("neucodec-tiny", neucodec_loader), "xcodec2": ("xcodec2-tiny", xcodec2_loader)}


def _load(family: str, **kwargs):
    folder, module = FIXTURES[family]
    base = fixture_dir(folder)
    source = open_source(base)
    config = yaml.safe_load((base / "config.yaml").read_text())["tiny"]
    kwargs.setdefault("semantic_model", base / "w2v-bert-2.0")
    codec = module.load(source, variant=module.recognise(source), config=config, device="cpu", **kwargs)
    return codec, np.load(base / "expected.npz")


def _close(ours, ref, what: str, tol: float = REL_TOL) -> None:
    ours, ref = np.asarray(ours, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    assert ours.shape == ref.shape, f"{what}: shape {ours.shape} != reference {ref.shape}"
    err = np.abs(ours - ref).max() / max(np.abs(ref).max(), 1e-12)
    assert err <= tol, f"{what}: max error {err:.3g} of the peak (bar {tol:g})"


def _bounded(z: np.ndarray) -> np.ndarray:
    half_l = 3 * (1 + FSQ_EPS) / 2
    shift = np.arctanh(0.5 / half_l)
    once = np.tanh(z.astype(np.float64) + shift) * half_l - 0.5
    return np.tanh(once + shift) * half_l - 0.5


def _check_tokens(codec, exp) -> None:
    for i in CLIPS:
        ours = codec.encode(exp[f"wav_{i}"])[0]
        ref = exp[f"codes_{i}"][0]
        assert ours.shape == ref.shape == (1, codec.num_frames(exp[f"wav_{i}"].shape[0]))
        same = ours == ref
        assert same.mean() >= 0.999, f"clip {i}: only {same.mean():.4%} of tokens equal"
        if not same.all():
            # Only near-ties may flip: some digit of the reference's bounded value is at x.5.
            bounded = _bounded(exp[f"fsq_z_{i}"][0])[~same[0]]
            dist = np.abs(bounded - np.floor(bounded) - 0.5).min(axis=-1)
            assert (dist < NEAR_TIE).all(), f"clip {i}: tokens differ away from a rounding tie"


def _check_features(codec, exp) -> None:
    for i in (0, 1):
        feats = codec.features(codec.padded(exp[f"wav_{i}"]))
        ref = exp[f"feat_{i}"][0]
        assert feats.shape == ref.shape
        assert np.abs(feats - ref).max() <= FEAT_TOL


def _check_intermediates(codec, exp) -> None:
    for i in (0, 1):
        padded = codec.padded(exp[f"wav_{i}"])
        feats = codec.features(padded)
        inter: dict = {}
        with torch.inference_mode():
            codec.net.encode(torch.from_numpy(padded)[None], torch.from_numpy(feats)[None], intermediates=inter)
        for key in ("sem_hidden", "sem_enc", "acoustic", "concat", "prior", "fsq_z"):
            _close(inter[key].numpy(), exp[f"{key}_{i}"], f"{key}_{i}")
        np.testing.assert_array_equal(inter["fsq_q"].numpy(), exp[f"fsq_q_{i}"])
        dec: dict = {}
        with torch.inference_mode():
            codec.net.decode(torch.from_numpy(exp[f"codes_{i}"][:, 0].astype(np.int64)), intermediates=dec)
        for key in ("post_emb", "post_a", "backbone"):
            _close(dec[key].numpy(), exp[f"{key}_{i}"], f"{key}_{i}")
        if i == 1:
            _close(dec["head"].numpy(), exp["head_1"], "head_1")


def _check_synthesis(codec, exp) -> None:
    out = codec.decode([exp[f"codes_{i}"][0] for i in CLIPS])
    for i in CLIPS:
        assert out[i].dtype == np.float32
        assert out[i].shape == (codec.hop * exp[f"codes_{i}"].shape[-1],)
        _close(out[i], exp[f"syn_{i}"], f"syn_{i}")


def _check_batch_independence(codec, exp) -> None:
    wavs = [exp["wav_0"], exp["wav_1"], exp["wav_0"].copy(), exp["wav_2"][:exp["wav_0"].shape[0]]]
    solo = [codec.encode(w, batch_size=1)[0] for w in wavs]
    together = codec.encode(wavs, batch_size=4)
    for i, (a, b) in enumerate(zip(solo, together)):
        np.testing.assert_array_equal(a, b, err_msg=f"clip {i}: tokens depend on batch company")
    codes = [exp["codes_0"][0], exp["codes_1"][0], exp["codes_0"][0]]
    solo_audio = [codec.decode(c, batch_size=1)[0] for c in codes]
    batch_audio = codec.decode(codes, batch_size=3)
    for a, b in zip(solo_audio, batch_audio):
        _close(b, a, "batched decode", tol=1e-5)


@pytest.fixture(scope="module")
def neucodec():
    return _load("neucodec")


def test_features_match_reference(neucodec):
    _check_features(*neucodec)


def test_intermediates_match_reference(neucodec):
    _check_intermediates(*neucodec)


def test_tokens_match_reference(neucodec):
    _check_tokens(*neucodec)


def test_synthesis_matches_reference(neucodec):
    _check_synthesis(*neucodec)


def test_batch_independence(neucodec):
    codec, exp = neucodec
    _check_batch_independence(codec, exp)
    # The reference's own batch of two: its unpadded row equals the solo tokens, as ours do.
    np.testing.assert_array_equal(exp["batch_codes"][0], exp["codes_0"][0])


def test_facts_and_frames(neucodec):
    codec, exp = neucodec
    assert (codec.family, codec.quantizer_kind, codec.num_quantizers, codec.codebook_size) == ("neucodec", "fsq", 1, 65536)
    assert (codec.input_sample_rate, codec.output_sample_rate, codec.frame_rate) == (16000, 24000, 50.0)
    assert codec.output_samples_per_token == 480
    assert [codec.num_frames(n) for n in (319, 320, 639, 640, 5920)] == [0, 1, 1, 2, 18]
    assert codec.bitrate == 800.0


def test_codebooks_and_digits(neucodec):
    codec, exp = neucodec
    grid = codec.codebooks()
    assert grid.shape == (1, 65536, 8) and grid.dtype == np.float32
    assert set(np.unique(grid)) == {-1.0, -0.5, 0.0, 0.5}
    codes = exp["codes_0"][0]
    digits = codec.fsq_digits(codes)
    assert digits.shape == (8, codes.shape[-1])
    # The digits are the quantised FSQ vector: q / 2 = (digit - 2) / 2.
    np.testing.assert_array_equal((digits.T - 2) / 2, exp["fsq_q_0"][0])
    np.testing.assert_array_equal(grid[0, codes[0]], exp["fsq_q_0"][0])
    np.testing.assert_array_equal((digits * 4 ** np.arange(8)[:, None]).sum(0), codes[0])


def test_progress_and_cancel(neucodec):
    codec, exp = neucodec
    seen = []
    codec.encode([exp["wav_0"], exp["wav_1"]], progress=lambda d, t: seen.append((d, t)), batch_size=1)
    assert seen == [(0, 2), (1, 2), (2, 2)]
    with pytest.raises(Cancelled):
        codec.encode(exp["wav_1"], cancel=lambda: True)
    with pytest.raises(Cancelled):
        codec.decode(exp["codes_1"][0], cancel=lambda: True)


def test_bad_audio_names_the_clip(neucodec):
    codec, exp = neucodec
    bad = exp["wav_1"].copy()
    bad[10] = np.nan
    with pytest.raises(AudioError, match="clip 1"):
        codec.encode([exp["wav_1"], bad])
    with pytest.raises(AudioError, match="clip 0.*too short"):
        codec.encode(np.zeros(319, dtype=np.float32))
    with pytest.raises(AudioError, match="mono"):
        codec.encode(np.zeros((2, 4000), dtype=np.float32))


def test_other_input_rate_is_resampled(neucodec):
    codec, exp = neucodec
    wav48 = np.repeat(exp["wav_1"], 3)  # 48 kHz stand-in of 0.37 s
    codes = codec.encode(wav48, sample_rate=48000)[0]
    assert codes.shape == (1, exp["wav_1"].shape[0] // 320)


def test_bfloat16_runs(neucodec):
    codec, exp = neucodec
    half = _load("neucodec", dtype="bfloat16")[0]
    assert half.precision == "bfloat16"
    assert half.net.generator.quantizer.project_in.weight.dtype == torch.float32
    codes = half.encode(exp["wav_0"])[0]
    assert codes.shape == exp["codes_0"][0].shape
    assert (codes == exp["codes_0"][0]).mean() > 0.3   # tiny random model: bf16 flips many near-ties
    audio = half.decode(exp["codes_0"][0])[0]
    _close(audio, exp["syn_0"], "bf16 syn_0", tol=5e-2)


# -- loading ------------------------------------------------------------------------------
def test_recognise_fixture_files():
    nc, xc = open_source(fixture_dir("neucodec-tiny") / "pytorch_model.bin"), open_source(fixture_dir("xcodec2-tiny"))
    assert neucodec_loader.recognise(nc) == "neucodec-custom"
    assert neucodec_loader.recognise(xc) is None
    assert xcodec2_loader.recognise(xc) == "xcodec2-custom"
    assert xcodec2_loader.recognise(nc) is None
    assert neucodec_loader.recognise(open_source(fixture_dir("neucodec-tiny"))) == "neucodec-custom"


def _source_with(change):
    base = fixture_dir("neucodec-tiny")
    source = open_source(base)
    state = dict(source.state)
    change(state)
    source.state = state
    return source, base


def test_extra_keys_are_ignored_and_reported(neucodec, caplog):
    codec, _ = neucodec
    assert sorted(codec.ignored_keys) == sorted(
        k for k in open_source(fixture_dir("neucodec-tiny")).state if "fc_post_s" in k or "SemanticDecoder" in k)
    assert len(codec.ignored_keys) == 8

    def add(state):
        state["training_only.extra"] = torch.zeros(3)

    source, base = _source_with(add)
    with caplog.at_level("WARNING"):
        more = neucodec_loader.load(source, variant="neucodec-custom", config={"decoder": {"heads": 4}},
                                    semantic_model=base / "w2v-bert-2.0", device="cpu")
    assert "training_only.extra" in more.ignored_keys
    assert "ignored 9 tensor(s)" in caplog.text


def test_missing_or_misshapen_key_is_refused():
    def drop(state):
        del state["generator.backbone.transformers.1.mlp.fc2.weight"]

    source, base = _source_with(drop)
    with pytest.raises(CheckpointError, match=r"pytorch_model\.bin.*mlp\.fc2\.weight"):
        neucodec_loader.load(source, variant="x", config={"decoder": {"heads": 4}},
                             semantic_model=base / "w2v-bert-2.0", device="cpu")

    def reshape(state):
        state["CodecEnc.conv_blocks.2.block.4.weight_v"] = torch.zeros(8, 4, 3)

    source, base = _source_with(reshape)
    with pytest.raises(CheckpointError, match=r"pytorch_model\.bin.*wrong shape.*block\.4\.weight_v"):
        neucodec_loader.load(source, variant="x", config={"decoder": {"heads": 4}},
                             semantic_model=base / "w2v-bert-2.0", device="cpu")


def test_semantic_model_folder_is_required(tmp_path):
    source = open_source(fixture_dir("neucodec-tiny"))
    with pytest.raises(CheckpointError, match="facebook/w2v-bert-2.0.*semantic_model="):
        neucodec_loader.load(source, variant="x", device="cpu")
    with pytest.raises(CheckpointError, match="not found"):
        neucodec_loader.load(source, variant="x", semantic_model=tmp_path / "nowhere", device="cpu")
    (tmp_path / "config.json").write_text((fixture_dir("neucodec-tiny") / "w2v-bert-2.0" / "config.json").read_text())
    with pytest.raises(CheckpointError, match="missing model.safetensors"):
        neucodec_loader.load(source, variant="x", semantic_model=tmp_path, device="cpu")


def test_semantic_weights_are_checked(tmp_path):
    from safetensors.torch import load_file, save_file

    src = fixture_dir("neucodec-tiny") / "w2v-bert-2.0"
    for name in ("config.json", "preprocessor_config.json"):
        (tmp_path / name).write_text((src / name).read_text())
    weights = load_file(src / "model.safetensors")
    del weights["encoder.layers.15.ffn2.output_dense.weight"]
    save_file(weights, tmp_path / "model.safetensors")
    with pytest.raises(CheckpointError, match=r"model\.safetensors.*layers\.15\.ffn2\.output_dense\.weight"):
        neucodec_loader.load(open_source(fixture_dir("neucodec-tiny")), variant="x",
                             config={"decoder": {"heads": 4}}, semantic_model=tmp_path, device="cpu")


def test_semantic_features_are_torch_free_numpy():
    wav = np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.1
    feats = semantic_features(np.pad(wav, (0, 320)))
    assert feats.dtype == np.float32 and feats.shape == (50, 160)
    assert np.allclose(feats.reshape(100, 80).mean(0), 0, atol=1e-4)


def test_stray_semantic_tensors_in_a_neucodec_file_are_extras():
    """A 24 kHz file with a few semantic_model.* tensors stays NeuCodec; they are ignored and reported."""
    def add(state):
        state["semantic_model.masked_spec_embed"] = torch.zeros(8)

    source, base = _source_with(add)
    assert neucodec_loader.recognise(source) == "neucodec-custom"
    assert xcodec2_loader.recognise(source) is None
    codec = neucodec_loader.load(source, variant="neucodec-custom", config={"decoder": {"heads": 4}},
                                 semantic_model=base / "w2v-bert-2.0", device="cpu")
    assert "semantic_model.masked_spec_embed" in codec.ignored_keys
