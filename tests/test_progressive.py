"""Progressive levels: decoding from the first k levels on the fixture models, and the slider."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from app.progressive import ProgressiveControl
from app.tasks import TaskRunner
from xy_tokenizer.jobs import FileResult, JobItem
from xy_tokenizer.analysis.metrics import log_mel_distance
from tests.synth import speech_like

WAIT_MS = 30000


@pytest.fixture(scope="module")
def clip(tiny16k_codec):
    """(original at 16 kHz, its codes (8, T)) of a 3 s speech-like clip."""
    wav = speech_like(3.0, seed=21)
    return wav, tiny16k_codec.encode(wav)[0]


@pytest.mark.parametrize("codec_name", ["tiny16k_codec", "tiny24k_codec"])
def test_every_k_decodes_to_the_same_length(request, codec_name, clip):
    codec = request.getfixturevalue(codec_name)
    codes = clip[1]
    lengths = {k: len(codec.decode(codes, num_quantizers=k)[0]) for k in range(1, 9)}
    assert set(lengths.values()) == {codes.shape[1] * codec.output_samples_per_token}
    assert len(codec.decode(codes[:3])[0]) == lengths[3]       # a (3, T) array decodes the same way


@pytest.mark.parametrize("codec_name", ["tiny16k_codec", "tiny24k_codec"])
def test_more_levels_come_closer_to_the_full_decode(request, codec_name, clip):
    codec = request.getfixturevalue(codec_name)
    codes = clip[1]
    full = codec.decode(codes)[0]
    rate = codec.output_sample_rate
    distance = {k: log_mel_distance(full, codec.decode(codes, num_quantizers=k)[0], rate) for k in (1, 4, 8)}
    assert distance[1] > distance[4] > distance[8] == 0.0
    assert np.array_equal(codec.decode(codes, num_quantizers=8)[0], full)


@pytest.fixture
def control(qtbot, tiny16k_codec, clip, tmp_path):
    wav, codes = clip
    result = FileResult(item=JobItem(tmp_path / "clip.wav", tmp_path / "clip.wav"), codes=codes,
                        original=wav, audio=tiny16k_codec.decode(codes)[0])
    widget = ProgressiveControl(TaskRunner())
    qtbot.addWidget(widget)
    widget.set_file(7, result, tiny16k_codec)
    widget.show()
    yield widget, result
    assert not widget.tasks.shutdown(5000), "the decode stopped"


def test_moving_the_slider_shows_the_k_level_reconstruction(qtbot, control, tiny16k_codec):
    widget, result = control
    assert (widget.levels(), widget.total_levels()) == (8, 8)
    assert widget.value_label.text() == "8/8 levels"
    widget.slider.setFocus()
    with qtbot.waitSignal(widget.reconstructionReady, timeout=WAIT_MS) as blocker:
        for _ in range(5):
            qtbot.keyClick(widget.slider, Qt.Key.Key_Left)           # 8 -> 3, one decode per step
    audio, rate, label = blocker.args
    while label != widget.label(3):          # earlier steps may finish first; wait for k = 3
        with qtbot.waitSignal(widget.reconstructionReady, timeout=WAIT_MS) as blocker:
            pass
        audio, rate, label = blocker.args
    assert widget.levels() == 3
    assert label == "Reconstruction (3/8 levels) \u00b7 decoded with custom-16k (model.ckpt)"
    assert rate == 16000 and len(audio) == result.codes.shape[1] * tiny16k_codec.output_samples_per_token
    assert np.allclose(audio, tiny16k_codec.decode(result.codes, num_quantizers=3)[0], atol=1e-6)
    qtbot.waitUntil(lambda: not widget.is_busy(), timeout=WAIT_MS)

    # k = 8 gives back the file's own reconstruction at once
    with qtbot.waitSignal(widget.reconstructionReady, timeout=1000) as blocker:
        widget.set_levels(8)
    assert blocker.args[0] is result.audio and blocker.args[2].startswith("Reconstruction (8/8 levels)")
    # back to 3: from the cache, no new decode
    cached = widget.cached(7, 3, tiny16k_codec)
    with qtbot.waitSignal(widget.reconstructionReady, timeout=1000) as blocker:
        widget.set_levels(3)
    assert blocker.args[0] is cached and not widget.is_busy()


def test_the_latest_choice_wins_and_a_new_file_resets(qtbot, control, tiny16k_codec, clip):
    widget, result = control
    seen = []
    widget.reconstructionReady.connect(lambda audio, rate, label: seen.append(label))
    widget.set_levels(2)
    widget.set_levels(5)                   # cancels (or outlives) the k = 2 decode
    qtbot.waitUntil(lambda: not widget.is_busy(), timeout=WAIT_MS)
    assert seen[-1] == widget.label(5) and widget.label(2) not in seen
    assert widget.cached(7, 5, tiny16k_codec) is not None

    # the same file with new codes (re-run): old decodes are dropped, the slider is back at 8
    other = FileResult(item=result.item, codes=result.codes[:4].copy(), original=result.original,
                       audio=tiny16k_codec.decode(result.codes[:4])[0])
    widget.set_file(7, other, tiny16k_codec)
    assert widget.cached(7, 5, tiny16k_codec) is None
    assert (widget.levels(), widget.total_levels()) == (4, 4)
    assert widget.value_label.text() == "4/4 levels"
    widget.set_file(None, None, None)
    assert not widget.isEnabled()
