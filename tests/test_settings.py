"""Settings file: defaults, round trip, tolerance of broken files, atomic saves."""
from __future__ import annotations

import json

from app.settings import MAX_RECENT_FILES, Settings, load_settings, save_settings, settings_path


def test_missing_file_gives_defaults():
    assert not settings_path().exists()
    assert load_settings() == Settings()


def test_round_trip_keeps_every_field(tmp_path):
    original = Settings(checkpoint=str(tmp_path / "m.ckpt"), config=str(tmp_path / "c.yaml"),
                        device="cpu", dtype="bfloat16", output_dir=str(tmp_path / "out"),
                        overlap=5.04, model_family="xy_tokenizer", batch_size=2, recent_files=["/a.wav", "/b"],
                        geometry="AdnQywAD", window_state="AAAA/wAA", splitter_state="AAAA", last_dir=str(tmp_path))
    written = save_settings(original)
    assert written == settings_path() and written.is_file()
    assert load_settings() == original


def test_corrupt_file_gives_defaults():
    path = settings_path()
    path.parent.mkdir(parents=True)
    path.write_text("{ this is not json", encoding="utf-8")
    assert load_settings() == Settings()
    path.write_text("[1, 2, 3]", encoding="utf-8")
    assert load_settings() == Settings()
    path.write_bytes(b"\xff\xfe\x00garbage")
    assert load_settings() == Settings()


def test_bad_values_fall_back_per_field():
    path = settings_path()
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({
        "device": "tpu", "dtype": "int8", "batch_size": "four", "overlap": 99,
        "recent_files": ["/x.wav", 3, None], "output_dir": "/out", "unknown_key": 1,
        "checkpoint": 42,
    }), encoding="utf-8")
    settings = load_settings()
    assert settings.device == "auto" and settings.dtype == "float32"
    assert settings.batch_size == Settings().batch_size
    assert settings.overlap == Settings().overlap, "99 s: refused by XY-Tokenizer's rule (below its 30 s window)"
    assert settings.recent_files == ["/x.wav"]
    assert settings.output_dir == "/out"
    assert settings.checkpoint == ""


def test_save_is_atomic_and_replaces(tmp_path):
    save_settings(Settings(device="cpu"))
    save_settings(Settings(device="cuda"))
    folder = settings_path().parent
    assert [p.name for p in folder.iterdir()] == [settings_path().name]
    assert load_settings().device == "cuda"


def test_recent_files_are_unique_newest_first_and_bounded():
    settings = Settings()
    for i in range(MAX_RECENT_FILES + 5):
        settings.add_recent(f"/f{i}.wav")
    settings.add_recent("/f7.wav")
    assert len(settings.recent_files) == MAX_RECENT_FILES
    assert settings.recent_files[0] == "/f7.wav"
    assert settings.recent_files.count("/f7.wav") == 1
    assert settings.recent_files[1] == f"/f{MAX_RECENT_FILES + 4}.wav"
