"""X-Codec batching: a clip's tokens do not depend on its batch company; progress and cancel."""
from __future__ import annotations

import numpy as np
import pytest


from xy_tokenizer.codecs.xcodec.codec import _equal_length_batches, _Window
from xy_tokenizer.errors import Cancelled, XYTokenizerError


@pytest.fixture
def expected(xcodec_tiny_expected):
    return xcodec_tiny_expected


@pytest.fixture
def codec(xcodec_tiny_codec):
    return xcodec_tiny_codec


def test_tokens_do_not_depend_on_batch_company(codec, expected):
    wavs = [expected[f"wav_{i}"] for i in range(3)]
    # Company of the same lengths (computed in the same forward pass) and of other lengths.
    twin0 = expected["wav_2"][1000:1000 + len(wavs[0])].copy()
    twin1 = expected["wav_2"][5000:5000 + len(wavs[1])].copy()  # T mod 320 = 160: re-pad path
    alone = [codec.encode(w)[0] for w in wavs]
    together = codec.encode([wavs[0], twin0, wavs[1], twin1, wavs[2]], batch_size=8)
    for ours, single in zip((together[0], together[2], together[4]), alone):
        np.testing.assert_array_equal(ours, single)
    np.testing.assert_array_equal(together[1], codec.encode(twin0)[0])
    np.testing.assert_array_equal(together[3], codec.encode(twin1)[0])
    np.testing.assert_array_equal(together[2], expected["codes_1"])  # re-pad clip in a batch of 2


def test_batch_size_does_not_change_tokens(codec, expected):
    wavs = [expected["wav_0"], expected["wav_2"][:49600].copy(), expected["wav_2"][-49600:].copy()]
    one = codec.encode(wavs, batch_size=1)
    three = codec.encode(wavs, batch_size=3)
    for a, b in zip(one, three):
        np.testing.assert_array_equal(a, b)


def test_decode_does_not_depend_on_batch_company(codec, expected):
    alone = codec.decode(expected["codes_0"])[0]
    other = np.roll(expected["codes_0"], 7, axis=1)
    together = codec.decode([expected["codes_0"], other, expected["codes_1"]])
    # Equal lengths share a forward pass: only float rounding differs.
    assert np.abs(together[0] - alone).max() <= 1e-5 * np.abs(alone).max()
    np.testing.assert_array_equal(codec.decode(expected["codes_1"])[0], together[2])


def test_batches_hold_equal_lengths_only():
    windows = [_Window(i, 0, n, 0, n, np.zeros(n * 320, np.float32)) for i, n in enumerate((5, 7, 5, 5, 7, 9))]
    batches = _equal_length_batches(windows, 2)
    assert [[w.clip for w in b] for b in batches] == [[5], [1, 4], [0, 2], [3]]
    with pytest.raises(XYTokenizerError, match="batch size"):
        _equal_length_batches(windows, 0)


def test_progress_counts_windows_and_cancel_stops(codec, expected):
    calls = []
    codec.encode([expected["wav_0"], expected["wav_1"]], progress=lambda d, t: calls.append((d, t)), batch_size=1)
    assert calls == [(0, 2), (1, 2), (2, 2)]
    calls.clear()
    codec.encode(expected["wav_2"], window=3, overlap=1, progress=lambda d, t: calls.append((d, t)), batch_size=1)
    assert calls[-1] == (6, 6) and len(calls) == 7
    asked = []

    def cancel_after_first():
        asked.append(1)
        return len(asked) > 1

    with pytest.raises(Cancelled):
        codec.encode(expected["wav_2"], window=3, overlap=1, batch_size=1, cancel=cancel_after_first)
    assert len(asked) == 2
    with pytest.raises(Cancelled):
        codec.decode(expected["codes_0"], cancel=lambda: True)
