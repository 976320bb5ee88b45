"""The engine computes what the reference computes: fixtures from the published code."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from xy_tokenizer.codecs.xy.features import LogMel, mel_filterbank
from xy_tokenizer.codecs.xy.constants import WINDOW_SAMPLES

FIXTURES = ["tiny16k", "tiny24k"]


@pytest.fixture(scope="module", params=FIXTURES)
def case(request):
    from tests.conftest import fixture_dir
    import xy_tokenizer

    folder = fixture_dir(request.param)
    codec = xy_tokenizer.load(folder / "model.ckpt", config=folder / "config.yaml", device="cpu")
    expected = np.load(folder / "expected.npz")
    meta = json.loads((folder / "meta.json").read_text())
    return codec, expected, meta


def peak_error(actual: np.ndarray, reference: np.ndarray) -> float:
    return float(np.abs(actual - reference).max() / np.abs(reference).max())


def test_mel_filterbank_is_the_reference_matrix(case):
    _, expected, _ = case
    np.testing.assert_allclose(mel_filterbank(), expected["mel_filters"], atol=1e-7)


def test_log_mel_features_match(case):
    _, expected, _ = case
    wave = torch.zeros(1, WINDOW_SAMPLES)
    clip = torch.from_numpy(expected["wav_0"])
    wave[0, : len(clip)] = clip
    mel = LogMel()(wave).numpy()
    assert mel.shape == expected["mel"].shape
    assert peak_error(mel, expected["mel"]) < 1e-4
    assert int(expected["mel_mask"].sum()) == -(-len(clip) // 160)


def test_single_window_batch_codes_and_quantized_output(case):
    codec, expected, _ = case
    wavs = [expected["wav_0"], expected["wav_1"]]
    wave = torch.zeros(2, WINDOW_SAMPLES)
    for i, w in enumerate(wavs):
        wave[i, : len(w)] = torch.from_numpy(w)
    lengths = torch.tensor([len(w) for w in wavs])
    codes, token_lengths = codec.model.encode_window(wave, lengths)
    np.testing.assert_array_equal(token_lengths.numpy(), expected["batch_codes_lengths"])
    ref = expected["batch_codes"]
    for b, n in enumerate(token_lengths.tolist()):
        assert (codes.numpy()[:, b, :n] == ref[:, b, :n]).mean() >= 0.999
        np.testing.assert_array_equal(codes.numpy()[0, b, :n], ref[0, b, :n])
    zq = codec.model.quantized(torch.from_numpy(ref), token_lengths).numpy()
    assert zq.shape == expected["batch_zq"].shape
    assert peak_error(zq, expected["batch_zq"]) < 1e-4


def test_full_encode_with_chunking_matches(case):
    codec, expected, meta = case
    wavs = [expected[f"wav_{i}"] for i in range(3)]
    assert len(wavs[2]) > WINDOW_SAMPLES, "clip 2 must exercise the >30 s windowing"
    codes = codec.encode(wavs, overlap=meta["overlap_seconds"])
    for i, c in enumerate(codes):
        ref = expected[f"codes_{i}"]
        assert c.shape == ref.shape == tuple(meta["codes_shapes"][i])
        assert c.dtype == np.int64
        assert (c == ref).mean() >= 0.999
        np.testing.assert_array_equal(c[0], ref[0])


def test_padding_to_30_seconds_gives_identical_tokens(case):
    codec, expected, _ = case
    wavs = [expected["wav_0"], expected["wav_1"]]
    np.testing.assert_array_equal(codec.encode(wavs)[0], codec.encode(wavs, pad_to_window=True)[0])
    np.testing.assert_array_equal(codec.encode(wavs)[1], codec.encode(wavs, pad_to_window=True)[1])


def test_batched_decode_reproduces_reference_lockstep(case):
    codec, expected, meta = case
    codes = [expected[f"codes_{i}"] for i in range(3)]
    audio = codec.decode(codes, lockstep=True)
    for i, a in enumerate(audio):
        ref = expected[f"syn_{i}"]
        assert a.shape == ref.shape and len(a) == meta["syn_lengths"][i]
        assert peak_error(a, ref) < 1e-4


def test_solo_decode_matches_reference_and_ignores_batch_company(case):
    codec, expected, _ = case
    codes = [expected[f"codes_{i}"] for i in range(3)]
    alone = codec.decode([codes[0]])[0]
    ref = expected["detok_y"].reshape(-1)[: int(expected["detok_len"][0])]
    assert peak_error(alone, ref) < 1e-4
    in_batch = codec.decode(codes, batch_size=3)[0]
    assert peak_error(in_batch, alone) < 1e-5


def test_tokens_do_not_depend_on_batch_company(case):
    codec, expected, _ = case
    wavs = [expected[f"wav_{i}"] for i in range(3)]
    alone = [codec.encode([w])[0] for w in wavs]
    rng = np.random.default_rng(0)
    noise = rng.standard_normal(16000 * 7).astype(np.float32) * 0.1
    for batch_size in (1, 2, 8):
        together = codec.encode([noise, *wavs[::-1]], batch_size=batch_size)[1:][::-1]
        for a, b in zip(alone, together):
            np.testing.assert_array_equal(a, b)
