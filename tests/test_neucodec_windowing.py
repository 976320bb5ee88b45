"""Long audio: windowed encode/decode (bounded memory) for NeuCodec and X-Codec2 on the tiny fixtures.

The tiny random models are far more context-sensitive than trained ones, so the agreement bars
here are loose; the numbers are quoted in ``xy_tokenizer/codecs/neucodec/codec.py``.
"""
from __future__ import annotations

import numpy as np
import pytest

from tests.test_neucodec_parity import _load
from xy_tokenizer.errors import XYTokenizerError

WINDOW, OVERLAP = 4.0, 1.0
#: Measured agreement of windowed (4 s / 1 s) and whole-clip tokens on clip 2: 42 % / 15 %.
MIN_TOKEN_AGREEMENT = {"neucodec": 0.35, "xcodec2": 0.12}
#: Measured windowed-decode error of clip 2 (fraction of the whole decode's peak): 0.12 / 0.08.
MAX_DECODE_ERROR = {"neucodec": 0.15, "xcodec2": 0.1}


@pytest.fixture(scope="module", params=["neucodec", "xcodec2"])
def loaded(request):
    codec, exp = _load(request.param)
    return request.param, codec, exp


def test_clip_within_one_window_is_exact(loaded):
    _, codec, exp = loaded
    seen = []
    codes = codec.encode(exp["wav_0"], window=WINDOW, overlap=OVERLAP, progress=lambda d, t: seen.append((d, t)))[0]
    np.testing.assert_array_equal(codes, exp["codes_0"][0])
    assert seen == [(0, 1), (1, 1)]          # 0 first, then after each window (every family alike)
    audio = codec.decode(exp["codes_0"][0], window=WINDOW, overlap=OVERLAP)[0]
    np.testing.assert_allclose(audio, exp["syn_0"], atol=1e-4 * np.abs(exp["syn_0"]).max(), rtol=0)


def test_long_clip_is_windowed(loaded):
    family, codec, exp = loaded
    wav, ref = exp["wav_2"], exp["codes_2"][0]
    seen = []
    codes = codec.encode(wav, window=WINDOW, overlap=OVERLAP, batch_size=1, progress=lambda d, t: seen.append((d, t)))[0]
    assert codes.shape == ref.shape
    assert seen == [(0, 4), (1, 4), (2, 4), (3, 4), (4, 4)]
    assert (codes == ref).mean() >= MIN_TOKEN_AGREEMENT[family]
    assert 0 <= codes.min() and codes.max() < 65536
    audio = codec.decode(ref, window=WINDOW, overlap=OVERLAP)[0]
    assert audio.shape == exp["syn_2"].shape
    err = np.abs(audio - exp["syn_2"]).max() / np.abs(exp["syn_2"]).max()
    assert err <= MAX_DECODE_ERROR[family]


def test_windows_do_not_depend_on_batch_company(loaded):
    _, codec, exp = loaded
    wav = exp["wav_2"][: 16000 * 9]
    solo = codec.encode(wav, window=WINDOW, overlap=OVERLAP, batch_size=1)[0]
    both = codec.encode([wav, exp["wav_1"], wav], window=WINDOW, overlap=OVERLAP, batch_size=4)
    np.testing.assert_array_equal(both[0], solo)
    np.testing.assert_array_equal(both[2], solo)
    np.testing.assert_array_equal(both[1], exp["codes_1"][0])


def test_crossfade_weights_sum_to_one(loaded):
    """Decoding constant-weight windows: with every window's audio replaced by ones, the joined
    output is exactly one everywhere (the crossfades are complementary)."""
    _, codec, exp = loaded
    net_decode = codec.net.decode
    try:
        codec.net.decode = lambda codes, **kw: __import__("torch").ones(codes.shape[0], codes.shape[1] * codec.hop)
        out = codec.decode(np.zeros(600, dtype=np.int64), window=WINDOW, overlap=OVERLAP)[0]
    finally:
        codec.net.decode = net_decode
    np.testing.assert_allclose(out, 1.0, atol=1e-6)


@pytest.mark.parametrize("window,overlap", [(1.0, 0.2), (4.0, 3.0), (4.0, 0.0), (float("nan"), 1.0)])
def test_bad_window_options(loaded, window, overlap):
    _, codec, exp = loaded
    with pytest.raises(XYTokenizerError, match="window|overlap"):
        codec.encode(exp["wav_1"], window=window, overlap=overlap)


def test_unknown_option_is_refused(loaded):
    _, codec, exp = loaded
    with pytest.raises(XYTokenizerError, match="unknown option"):
        codec.encode(exp["wav_1"], num_quantizers=2)


def test_network_never_sees_more_than_a_window(loaded):
    """Memory is bounded by the window: every network call gets at most one window (+ its padding)."""
    _, codec, exp = loaded
    seen_encode, seen_decode = [], []
    encode, decode = codec.net.encode, codec.net.decode

    def spy_encode(wav, feats, **kw):
        seen_encode.append(tuple(wav.shape))
        return encode(wav, feats, **kw)

    def spy_decode(codes, **kw):
        seen_decode.append(tuple(codes.shape))
        return decode(codes, **kw)

    codec.net.encode, codec.net.decode = spy_encode, spy_decode
    try:
        codes = codec.encode(np.tile(exp["wav_2"], 2), window=WINDOW, overlap=OVERLAP, batch_size=2)[0]
        codec.decode(codes, window=WINDOW, overlap=OVERLAP, batch_size=2)
    finally:
        codec.net.encode, codec.net.decode = encode, decode
    window_samples = int(WINDOW * 16000)
    assert len(seen_encode) >= 4 and all(b <= 2 and n <= window_samples + 2 * 320 for b, n in seen_encode)
    assert len(seen_decode) >= 4 and all(b <= 2 and t <= WINDOW * 50 for b, t in seen_decode)
