"""X-Codec parity with the reference on the xcodec-tiny fixture (tests/fixtures/xcodec-tiny).

Thresholds from the fixture's README: level-0 codes identical, >= 99.9 % of all codes equal,
floats within 1e-4 of the array's peak; decode tests feed the reference's codes.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.conftest import fixture_dir

from xy_tokenizer.codecs.xcodec import loader
from xy_tokenizer.codecs.loading import open_source
from xy_tokenizer.errors import AudioError, XYTokenizerError

CLIPS = (0, 1, 2)
TOL = 1e-4


@pytest.fixture(scope="module")
def fixture():
    return fixture_dir("xcodec-tiny")


@pytest.fixture(scope="module")
def expected(fixture):
    with np.load(fixture / "expected.npz") as data:
        return {k: data[k] for k in data.files}


@pytest.fixture(scope="module")
def codec(fixture):
    source = open_source(fixture / "xcodec_tiny.pth")
    return loader.load(source, variant=loader.recognise(source), config=fixture / "config.yaml", device="cpu")


def close(actual, reference, tol=TOL):
    actual, reference = np.asarray(actual, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    assert actual.shape == reference.shape
    err = np.abs(actual - reference).max() / np.abs(reference).max()
    assert err <= tol, f"max error {err:.3g} of the peak"


@pytest.mark.parametrize("i", CLIPS)
def test_intermediates_match_reference(codec, expected, i):
    wav = torch.from_numpy(expected[f"wav_{i}"])[None]
    with torch.inference_mode():
        hidden = torch.stack(codec.net.semantic_hidden(wav))[:, 0]
        steps = codec.net.encode_steps(wav)
    close(hidden, expected[f"sem_hidden_{i}"])
    close(steps["sem_feat"][0], expected[f"sem_feat_{i}"])
    close(steps["sem_enc"][0], expected[f"sem_enc_{i}"])
    close(steps["ac_enc"][0], expected[f"ac_enc_{i}"])
    close(steps["pre_rvq"][0], expected[f"pre_rvq_{i}"])
    assert bool(steps["ac_repadded"]) == bool(expected[f"ac_repadded_{i}"])


def test_semantic_input_is_centred(codec, expected):
    """The semantic model sees the clip zero-padded 160 samples each side (clip 1 stored)."""
    wav = expected["wav_1"]
    padded = np.pad(wav, (160, 160))
    np.testing.assert_array_equal(padded, expected["sem_in_1"])
    with torch.inference_mode():
        direct = codec.net.model.semantic_model(torch.from_numpy(padded)[None], output_hidden_states=True)
        ours = codec.net.semantic_hidden(torch.from_numpy(wav)[None])
    close(torch.stack(ours)[:, 0], torch.stack(tuple(direct.hidden_states))[:, 0], tol=0)


@pytest.mark.parametrize("i", CLIPS)
def test_codes_match_reference(codec, expected, i):
    codes = codec.encode(expected[f"wav_{i}"])[0]
    ref = expected[f"codes_{i}"]
    assert codes.dtype == np.int64 and codes.shape == ref.shape
    assert codes.shape[1] == codec.num_frames(len(expected[f"wav_{i}"]))
    np.testing.assert_array_equal(codes[0], ref[0])
    assert (codes == ref).mean() >= 0.999


@pytest.mark.parametrize("i", CLIPS)
def test_codes_at_fewer_levels(codec, expected, i):
    wav = expected[f"wav_{i}"]
    one, two, four = (codec.encode(wav, num_quantizers=n)[0] for n in (1, 2, 4))
    np.testing.assert_array_equal(one, expected[f"codes_bw05_{i}"])
    np.testing.assert_array_equal(two[0], expected[f"codes_{i}"][0])
    assert two.shape == (2, expected[f"codes_{i}"].shape[1])
    assert (two == expected[f"codes_{i}"][:2]).mean() >= 0.999
    np.testing.assert_array_equal(four[0], expected[f"codes_bw2_{i}"][0])
    assert (four == expected[f"codes_bw2_{i}"]).mean() >= 0.999


@pytest.mark.parametrize("i", CLIPS)
def test_decode_matches_reference(codec, expected, i):
    codes = expected[f"codes_{i}"]
    with torch.inference_mode():
        deq = codec.net.dequantize(torch.from_numpy(codes)[:, None])
        post = codec.net.post(deq)
    close(deq[0], expected[f"deq_{i}"])
    close(post[0], expected[f"post_{i}"])
    audio = codec.decode(codes)[0]
    assert audio.dtype == np.float32 and audio.shape == (320 * codes.shape[1],)
    close(audio, expected[f"syn_{i}"])


@pytest.mark.parametrize("i", (0, 1))
def test_decode_with_fewer_levels(codec, expected, i):
    codes = expected[f"codes_{i}"]
    close(codec.decode(codes, num_quantizers=1)[0], expected[f"syn_nq1_{i}"])
    close(codec.decode(codes, num_quantizers=2)[0], expected[f"syn_nq2_{i}"])
    close(codec.decode(codes[:2])[0], expected[f"syn_nq2_{i}"])


def test_facts(codec, expected):
    assert (codec.family, codec.input_sample_rate, codec.output_sample_rate) == ("xcodec", 16000, 16000)
    assert (codec.frame_rate, codec.num_quantizers, codec.codebook_size) == (50.0, 8, 1024)
    assert codec.bitrate == 4000 and codec.output_samples_per_token == 320
    assert codec.min_input_samples == 312 and codec.num_frames(311) == 0 and codec.num_frames(312) == 1
    assert [codec.num_frames(len(expected[f"wav_{i}"])) for i in CLIPS] == [155, 19, 617]
    books = codec.codebooks()
    assert books.shape == (8, 1024, 24) and books.dtype == np.float32
    assert codec.device == "cpu" and codec.precision == "float32" and codec.variant == "xcodec-custom"


def test_frame_count_rule_and_minimum(codec):
    rng = np.random.default_rng(0)
    for n in (312, 399, 400, 639, 640, 720, 959, 961, 1200):
        codes = codec.encode(rng.standard_normal(n).astype(np.float32) * 0.1)[0]
        assert codes.shape == (8, (n + 240) // 320), n
    with pytest.raises(AudioError, match="clip 1.*311 samples"):
        codec.encode([np.zeros(400, np.float32), np.zeros(311, np.float32)])


def test_bad_audio_is_refused_naming_the_clip(codec):
    good = np.zeros(1000, np.float32)
    bad = good.copy()
    bad[3] = np.nan
    with pytest.raises(AudioError, match="clip 1: contains NaN"):
        codec.encode([good, bad])
    with pytest.raises(AudioError, match="clip 0: expected mono 1-D"):
        codec.encode([np.zeros((2, 1000), np.float32)])
    with pytest.raises(XYTokenizerError, match="num_quantizers"):
        codec.encode(good, num_quantizers=9)
    with pytest.raises(XYTokenizerError, match="unknown X-Codec option"):
        codec.encode(good, bandwidth=4)


def test_other_rates_are_resampled(codec, expected):
    from xy_tokenizer.io.audio import resample

    wav8k = resample(expected["wav_0"], 16000, 8000)
    codes = codec.encode(wav8k, 8000)[0]
    up = resample(wav8k, 8000, 16000)
    assert codes.shape == (8, codec.num_frames(len(up)))
    np.testing.assert_array_equal(codes, codec.encode(up)[0])


def test_bfloat16_keeps_codebook_search_in_float32(fixture, expected):
    source = open_source(fixture / "xcodec_tiny.pth")
    codec = loader.load(source, variant="xcodec-custom", device="cpu", dtype="bfloat16")
    assert codec.precision == "bfloat16"
    assert codec.net.model.fc.weight.dtype == torch.bfloat16
    assert all(q.codebook.embed.dtype == torch.float32 for q in codec.net.model.quantizer.quantizers)
    codes = codec.encode(expected["wav_0"])[0]
    assert codes.shape == expected["codes_0"].shape
    assert (codes[0] == expected["codes_0"][0]).mean() > 0.5
    audio = codec.decode(expected["codes_0"])[0]
    assert audio.dtype == np.float32 and np.isfinite(audio).all()
    close(audio, expected["syn_0"], tol=0.2)  # bf16 through the deep decoder: ~10 % of peak measured
