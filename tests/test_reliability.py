"""Reliability (issue 10): outputs never half-written, stable shards, no crash or hang on odd
inputs, bounded memory on long decodes, clear messages. Real files, the tiny 16 kHz model."""
from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

from tests.cli_runner import run_cli
from tests.conftest import FIXTURES, ROOT
from tests.synth import speech_like, write
from xy_tokenizer.errors import ConfigError
from xy_tokenizer.io import fsutil
from xy_tokenizer.io.audio import WAV_MAX_DATA_BYTES, WavWriter, load_audio, wav_format_for, write_audio
from xy_tokenizer.io.fsutil import LOCK_SUFFIX, PART_MARKER, remove_stale_temps, temp_path_for
from xy_tokenizer.io.tokens import load_tokens, save_tokens
from xy_tokenizer.jobs import JobItem, JobOptions, collect_inputs, run_job, shard_of
from xy_tokenizer.jobs import runner

TINY = FIXTURES / "tiny16k"
MODEL = ["--checkpoint", str(TINY / "model.ckpt"), "--config", str(TINY / "config.yaml"), "--device", "cpu"]
#: Environment of the xytok subprocesses: this checkout's package first.
SUB_ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def hidden_leftovers(folder: Path) -> list[str]:
    """Our temporaries and lock files anywhere under ``folder``."""
    return sorted(p.name for p in folder.rglob(".*") if PART_MARKER in p.name or p.name.endswith(LOCK_SUFFIX))


def by_kind(events, kind):
    return [e for e in events if e.kind == kind]


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def clips(tmp_path) -> Path:
    root = tmp_path / "in"
    write(root / "a.wav", speech_like(0.8, seed=1))
    write(root / "b.wav", speech_like(0.5, seed=2))
    return root


def reconstruct(codec, root: Path, out: Path, **options):
    items, _ = collect_inputs([root])
    return list(run_job(codec, items, JobOptions("reconstruct", out_dir=out, keep_arrays=False, **options)))


# ============================================================================ 1. data loss

@pytest.mark.parametrize("lost", ["a.wav", "a.json", "a.npy"])
def test_a_half_written_set_is_completed_by_a_rerun_not_skipped(tiny16k_codec, clips, tmp_path, lost):
    out = tmp_path / "out"
    reconstruct(tiny16k_codec, clips, out)
    (out / lost).unlink()                        # a kill between the files of the set
    events = reconstruct(tiny16k_codec, clips, out)
    assert [e.item.path.name for e in by_kind(events, "file_done")] == ["a.wav"]
    assert [e.item.path.name for e in by_kind(events, "file_skipped")] == ["b.wav"]
    assert sorted(files_of(out)) == ["a.json", "a.npy", "a.wav", "b.json", "b.npy", "b.wav"]
    codes, meta = load_tokens(out / "a.npy")
    assert meta["num_frames"] == codes.shape[1]
    assert sf.info(str(out / "a.wav")).frames == codes.shape[1] * tiny16k_codec.output_samples_per_token


def test_a_sidecar_that_contradicts_its_array_does_not_count_as_done(tiny16k_codec, clips, tmp_path):
    out = tmp_path / "out"
    reconstruct(tiny16k_codec, clips, out)
    meta = json.loads((out / "a.json").read_text())
    (out / "a.json").write_text(json.dumps({**meta, "num_frames": meta["num_frames"] + 5}))
    events = reconstruct(tiny16k_codec, clips, out)
    assert [e.item.path.name for e in by_kind(events, "file_done")] == ["a.wav"]
    assert load_tokens(out / "a.npy")[1]["num_frames"] == meta["num_frames"]


def test_the_set_is_one_commit_a_failure_in_the_last_file_leaves_nothing(tiny16k_codec, clips, tmp_path, monkeypatch):
    """The audio fails after the tokens are written: no .npy/.json appears either."""
    def disk_full(tmp, *args, **kwargs):
        Path(tmp).write_bytes(b"RIFF")
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(runner, "write_audio_to", disk_full)
    out = tmp_path / "out"
    events = reconstruct(tiny16k_codec, clips, out)
    failed = by_kind(events, "file_failed")
    assert len(failed) == 2
    wav = out / failed[0].item.path.with_suffix(".wav").name
    assert "disk full" in failed[0].message and str(wav) in failed[0].message
    assert files_of(out) == {} and hidden_leftovers(out) == []


def test_a_failed_overwrite_keeps_the_previous_set(tiny16k_codec, clips, tmp_path, monkeypatch):
    out = tmp_path / "out"
    reconstruct(tiny16k_codec, clips, out)
    before = files_of(out)

    def disk_full(tmp, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(runner, "write_audio_to", disk_full)
    events = reconstruct(tiny16k_codec, clips, out, overwrite=True)
    assert len(by_kind(events, "file_failed")) == 2
    assert files_of(out) == before and hidden_leftovers(out) == []


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 2 MB tmpfs (root only); skipped where mounting is not allowed."""
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()}); the injected-ENOSPC tests cover it")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_disk_full_on_a_real_tmpfs_names_the_output_and_keeps_the_old_set(small_tmpfs, tmp_path):
    src = tmp_path / "src"
    write(src / "clip.wav", speech_like(1.0, seed=3))
    out = small_tmpfs / "out"
    code, _, _ = run_cli("reconstruct", src, "-o", out, "--float", *MODEL)
    assert code == 0
    before = files_of(out)
    free = fsutil.free_bytes(small_tmpfs)
    (small_tmpfs / "filler").write_bytes(b"\0" * (free - 30_000))      # room for the tokens, not the audio
    code, _, err = run_cli("reconstruct", src, "-o", out, "--float", "--overwrite", *MODEL)
    assert code == 1
    assert "disk full" in err and str(out / "clip.wav") in err and "System error" not in err
    assert files_of(out) == before and hidden_leftovers(small_tmpfs) == []


def test_two_processes_writing_one_folder_lose_no_file(tmp_path):
    src = tmp_path / "in"
    names = [f"c{i:02d}" for i in range(12)]
    for i, name in enumerate(names):
        write(src / f"{name}.wav", speech_like(0.3, seed=i))
    out = tmp_path / "out"
    command = [sys.executable, "-m", "xy_tokenizer", "reconstruct", str(src), "-o", str(out), "--batch-size", "1",
               "--json", "--quiet", *MODEL]
    procs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=SUB_ENV, cwd=tmp_path)
             for _ in range(2)]
    results = [proc.communicate(timeout=300) for proc in procs]
    for proc, (stdout, stderr) in zip(procs, results):
        assert proc.returncode == 0, stderr.decode()
        assert json.loads(stdout)["summary"]["failed"] == 0
    done = sum(json.loads(stdout)["summary"]["done"] for stdout, _ in results)
    assert done >= len(names)
    expected = sorted(f"{n}{ext}" for n in names for ext in (".json", ".npy", ".wav"))
    assert sorted(files_of(out)) == expected
    assert hidden_leftovers(out) == []
    for name in names:
        codes, meta = load_tokens(out / f"{name}.npy")
        assert sf.info(str(out / f"{name}.wav")).frames == codes.shape[1] * 1280


def test_shards_are_a_stable_hash_of_the_relative_path(tmp_path):
    root = tmp_path / "in"
    for i in range(60):
        (root / f"f{i:03d}.wav").parent.mkdir(parents=True, exist_ok=True)
        (root / f"f{i:03d}.wav").write_bytes(b"x")
    before = [collect_inputs([root], shard=(i, 3))[0] for i in range(3)]
    assert sorted(p.path.name for s in before for p in s) == [f"f{i:03d}.wav" for i in range(60)]
    assert all(len(s) > 5 for s in before)                       # all shards get work
    (root / "f000a.wav").write_bytes(b"x")                        # sorts near the front
    after = [collect_inputs([root], shard=(i, 3))[0] for i in range(3)]
    new = JobItem(root / "f000a.wav", Path("f000a.wav"))
    for index in range(3):
        moved = set(after[index]) ^ set(before[index])
        assert moved == ({new} if shard_of(new, 3) == index else set())
    # the same in another process: no per-run hash seed
    code = ("from pathlib import Path; from xy_tokenizer.jobs import JobItem, shard_of; "
            "print([shard_of(JobItem(Path('x'), Path(f'f{i:03d}.wav')), 3) for i in range(60)])")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=SUB_ENV, check=True)
    assert other.stdout.strip() == str([shard_of(JobItem(Path("x"), Path(f"f{i:03d}.wav")), 3) for i in range(60)])


# ============================================================================ 2. crashes and hangs

def test_a_symlink_loop_between_two_files_is_reported_not_raised(tmp_path):
    root = tmp_path / "in"
    write(root / "good.wav", speech_like(0.3))
    os.symlink(root / "b.wav", root / "a.wav")
    os.symlink(root / "a.wav", root / "b.wav")
    items, problems = collect_inputs([root])
    assert [i.path.name for i in items] == ["good.wav"]
    assert any("a.wav" in p and "not a regular file" in p for p in problems)
    items, problems = collect_inputs([root / "a.wav"])
    assert items == [] and "not a regular file" in problems[0]


def test_a_fifo_named_wav_does_not_hang_the_cli(tmp_path):
    root = tmp_path / "in"
    write(root / "good.wav", speech_like(0.3))
    os.mkfifo(root / "pipe.wav")
    os.mkfifo(tmp_path / "alone.wav")
    done = subprocess.run([sys.executable, "-m", "xy_tokenizer", "encode", str(root), str(tmp_path / "alone.wav"),
                           "-o", str(tmp_path / "out"), *MODEL], capture_output=True, text=True, env=SUB_ENV,
                          timeout=120)
    assert done.returncode == 1
    assert "pipe.wav: not a regular file" in done.stderr and "alone.wav: not a regular file" in done.stderr
    assert (tmp_path / "out" / "good.npy").is_file()


def test_a_fifo_given_to_the_readers_is_refused_without_opening_it(tmp_path):
    """load_audio and load_tokens on a FIFO, in a subprocess so that a hang would time out."""
    os.mkfifo(tmp_path / "p.wav")
    os.mkfifo(tmp_path / "p.npy")
    code = ("import sys\nfrom xy_tokenizer.io.audio import load_audio\nfrom xy_tokenizer.io.tokens import load_tokens\n"
            "for f, a in ((load_audio, (16000,)), (load_tokens, ())):\n"
            "    try:\n        f(sys.argv[1 + (f is load_tokens)], *a)\n"
            "    except Exception as e:\n        print(e)\n")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "p.wav"), str(tmp_path / "p.npy")],
                          capture_output=True, text=True, env=SUB_ENV, timeout=60)
    lines = done.stdout.splitlines()
    assert "p.wav: not a regular file" in lines[0] and "p.npy: is not a regular file" in lines[1]


def tiny_config(tmp_path: Path, change) -> Path:
    data = yaml.safe_load((TINY / "config.yaml").read_text())
    change(data["generator_params"])
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("change, key", [
    (lambda gp: gp["quantizer_kwargs"].update(num_quantizers="eight"), "quantizer_kwargs.num_quantizers"),
    (lambda gp: gp["vocos_kwargs"].update(hop_size=[320]), "vocos_kwargs.hop_size"),
    (lambda gp: gp["semantic_encoder_kwargs"].update(d_model=32.5), "semantic_encoder_kwargs.d_model"),
    (lambda gp: gp.update(downsample_kwargs=[1, 2]), "generator_params.downsample_kwargs"),
])
def test_a_config_value_of_the_wrong_type_is_a_config_error_naming_file_and_key(tmp_path, change, key):
    import xy_tokenizer
    from xy_tokenizer.codecs.xy.config import ModelConfig

    path = tiny_config(tmp_path, change)
    with pytest.raises(ConfigError) as caught:
        ModelConfig.from_yaml(path)
    assert str(path) in str(caught.value) and key in str(caught.value)
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        xy_tokenizer.load(TINY / "model.ckpt", config=path, device="cpu")
    code, _, err = run_cli("encode", tmp_path, "-o", tmp_path / "out", "--checkpoint", TINY / "model.ckpt",
                           "--config", path)
    assert "Traceback" not in err


def test_the_released_configs_still_load():
    from xy_tokenizer.codecs.xy.config import BUILTIN_VARIANTS, ModelConfig

    for name in BUILTIN_VARIANTS:
        assert ModelConfig.builtin(name).variant_name() == name
    assert ModelConfig.from_yaml(TINY / "config.yaml").num_quantizers == 8


# ============================================================================ 3. memory

def test_streamed_decode_equals_the_whole_decode(tiny16k_codec):
    codes = np.random.default_rng(0).integers(0, tiny16k_codec.codebook_size, (8, 760))
    whole = tiny16k_codec.decode([codes], batch_size=2)[0]
    chunks = runner.decode_chunks(tiny16k_codec, 760, 1)
    assert chunks == [(0, 250, 375), (250, 500, 625), (500, 750, 760), (750, 760, 760)]
    pieces = list(runner.decode_stream(tiny16k_codec, codes, batch_size=2, chunk_steps=1))
    assert [p.shape[0] for p in pieces] == [(stop - start) * 1280 for start, stop, _ in chunks]
    assert np.array_equal(np.concatenate(pieces), whole)
    three = list(runner.decode_stream(tiny16k_codec, codes, num_quantizers=3, batch_size=2, chunk_steps=2))
    assert np.array_equal(np.concatenate(three), tiny16k_codec.decode([codes], num_quantizers=3, batch_size=2)[0])


def _decode_job_peak(codec, path: Path, out: Path, stream_seconds: float) -> tuple[list, int]:
    tracemalloc.start()
    try:
        events = list(run_job(codec, [JobItem(path, Path(path.name))],
                              JobOptions("decode", out_dir=out, keep_arrays=False, batch_size=1,
                                         audio_subtype="FLOAT", stream_seconds=stream_seconds)))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return events, peak


def test_a_long_token_file_is_decoded_into_its_wav_window_by_window(tiny16k_codec, tmp_path, monkeypatch):
    """The job streams: its WAV equals the in-memory decode, and no buffer of the whole
    output (3000 tokens = 3.84 M samples = 15.4 MB of float32) is ever allocated: what it holds
    is one chunk (250 + 125 tokens here) whatever the length."""
    monkeypatch.setattr(runner, "STREAM_MIN_STEPS", 1)         # 250-token chunks for a short test
    codes = np.random.default_rng(1).integers(0, tiny16k_codec.codebook_size, (8, 3000))
    path = tmp_path / "long.npy"
    save_tokens(path, codes, {"codebook_size": tiny16k_codec.codebook_size, "levels": 8, "num_frames": 3000})
    whole_bytes = 3000 * 1280 * 4
    events, streamed_peak = _decode_job_peak(tiny16k_codec, path, tmp_path / "streamed", stream_seconds=10.0)
    assert by_kind(events, "file_done"), [e.message for e in events]
    events, memory_peak = _decode_job_peak(tiny16k_codec, path, tmp_path / "memory", stream_seconds=1e9)
    assert by_kind(events, "file_done")
    streamed, rate = sf.read(str(tmp_path / "streamed" / "long.wav"), dtype="float32")
    in_memory, _ = sf.read(str(tmp_path / "memory" / "long.wav"), dtype="float32")
    assert rate == 16000 and streamed.shape == (3000 * 1280,)
    assert np.array_equal(streamed, in_memory)
    assert memory_peak >= whole_bytes                        # the measure sees the whole buffer ...
    assert streamed_peak < whole_bytes / 3                   # ... which streaming never allocates


def test_writing_pcm_clips_block_by_block_not_a_copy_of_everything(tmp_path):
    audio = np.linspace(-2.0, 2.0, 4_000_000, dtype=np.float32)       # 16 MB
    tracemalloc.start()
    try:
        write_audio(tmp_path / "x.wav", audio, 16000)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < audio.nbytes / 2
    assert audio.max() == 2.0                                          # the caller's array is untouched
    back, _ = sf.read(str(tmp_path / "x.wav"), dtype="float32")
    assert back.min() >= -1.0 and back.max() <= 1.0 and back.shape == audio.shape
    assert np.allclose(back, np.clip(audio, -1, 1), atol=1 / 32767)


def test_wav_past_4_gb_is_rf64():
    assert wav_format_for(16000 * 3600, "PCM_16") == "WAV"
    assert wav_format_for(WAV_MAX_DATA_BYTES // 2, "PCM_16") == "WAV"
    assert wav_format_for(WAV_MAX_DATA_BYTES // 2 + 1, "PCM_16") == "RF64"
    assert wav_format_for(2 ** 31, "PCM_16") == "RF64"                     # the 2^31 frames of the issue
    assert wav_format_for(2 ** 30, "FLOAT") == "RF64"
    assert wav_format_for(2_000_000 * 1920, "PCM_16") == "RF64"           # (8, 2 000 000) at 24 kHz


def test_the_writer_uses_rf64_when_the_length_needs_it(tmp_path):
    with WavWriter(tmp_path / "big.wav", 16000, 2 ** 31, subtype="PCM_16") as writer:
        writer.write(np.full(1000, 0.5, dtype=np.float32))
    info = sf.info(str(tmp_path / "big.wav"))
    assert info.format == "RF64" and info.frames == 1000
    audio, _ = load_audio(tmp_path / "big.wav", 16000)
    assert np.allclose(audio, 0.5, atol=1e-4)


# ============================================================================ 4. messages

def test_out_naming_an_existing_file_is_a_usage_error_before_the_model_loads(tmp_path, clips):
    target = tmp_path / "taken.txt"
    target.write_text("mine")
    code, _, err = run_cli("encode", clips, "-o", target, "--checkpoint", tmp_path / "no-such.ckpt")
    assert code == 2 and "is a file, not a folder" in err and "no-such" not in err
    assert target.read_text() == "mine"


@pytest.fixture
def token_dir(tiny16k_codec, tmp_path) -> Path:
    root = tmp_path / "tok"
    codes = tiny16k_codec.encode([speech_like(0.8, seed=4)])[0]
    from xy_tokenizer.io.tokens import build_token_meta

    save_tokens(root / "good.npy", codes, build_token_meta(tiny16k_codec, codes))
    return root


def test_decode_messages_for_text_npy_string_version_and_contradicting_sidecar(token_dir, tmp_path):
    (token_dir / "text.npy").write_text("not numbers\n")
    shutil.copy(token_dir / "good.npy", token_dir / "version.npy")
    meta = json.loads((token_dir / "good.json").read_text())
    (token_dir / "version.json").write_text(json.dumps({**meta, "format_version": "2"}))
    shutil.copy(token_dir / "good.npy", token_dir / "liar.npy")
    (token_dir / "liar.json").write_text(json.dumps({**meta, "levels": 3}))
    code, _, err = run_cli("decode", token_dir, "-o", tmp_path / "out", *MODEL)
    assert code == 1
    lines = {line.removeprefix("failed: ").split(": ")[0]: line for line in err.splitlines()
             if line.startswith("failed: ")}
    assert "not a .npy file" in lines[str(token_dir / "text.npy")] and "allow_pickle" not in err
    assert "format_version must be a whole number" in lines[str(token_dir / "version.npy")]
    assert "newer" not in lines[str(token_dir / "version.npy")]
    assert "do not belong together" in lines[str(token_dir / "liar.npy")]
    assert (tmp_path / "out" / "good.wav").is_file()


def test_a_folder_without_a_checkpoint_says_so(tmp_path, clips):
    empty = tmp_path / "model-folder"
    empty.mkdir()
    code, _, err = run_cli("encode", clips, "-o", tmp_path / "out", "--checkpoint", empty)
    assert code == 2 and "a folder with no checkpoint in it" in err and "no such file" not in err
    code, _, err = run_cli("info", empty)
    assert code == 1 and "a folder with no checkpoint in it" in err


def test_an_output_folder_inside_the_input_folder_is_not_read_back(tiny16k_codec, clips):
    out = clips / "out"
    code, _, first = run_cli("reconstruct", clips, "-o", out, *MODEL)
    assert code == 0 and "2 done" in first
    code, _, second = run_cli("reconstruct", clips, "-o", out, *MODEL)
    assert code == 0 and "0 done, 0 failed, 2 skipped" in second
    assert not (out / "out").exists()


def test_linked_subfolders_are_followed_once(tmp_path):
    root = tmp_path / "in"
    write(root / "real" / "x.wav", speech_like(0.3))
    outside = tmp_path / "elsewhere"
    write(outside / "y.wav", speech_like(0.3))
    os.symlink(outside, root / "linked")                 # followed
    os.symlink(root / "real", root / "again")            # the same folder twice: once
    os.symlink(root, root / "real" / "up")               # a loop: once
    items, problems = collect_inputs([root])
    assert [i.rel.as_posix() for i in items] == ["linked/y.wav", "real/x.wav"]
    assert any(str(root / "again") in p and "scanned once" in p for p in problems)
    assert any(str(root / "real" / "up") in p for p in problems)


def test_stale_temporaries_of_dead_runs_are_removed_and_live_ones_kept(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    stale = folder / f".clip.{dead_pid}.0a1b2c3d.part.wav"
    legacy = folder / ".clip.0123456789abcdef.part.npy"
    live = temp_path_for(folder / "clip.json")
    mine = folder / ".notes.part.txt"                    # not our pattern
    for path in (stale, legacy, live, mine):
        path.write_bytes(b"x")
    os.utime(legacy, (time.time() - 2 * fsutil.LEGACY_TEMP_STALE_SECONDS,) * 2)
    lock = folder / f".clip.npy{LOCK_SUFFIX}"
    lock.write_bytes(b"")
    assert sorted(remove_stale_temps(folder)) == sorted([stale, legacy, lock])
    assert live.exists() and mine.exists()


def test_a_job_cleans_stale_temporaries_in_its_output_folders(tiny16k_codec, clips, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    stale = out / ".a.999999999.0a1b2c3d.part.wav"
    stale.write_bytes(b"half")
    reconstruct(tiny16k_codec, clips, out)
    assert not stale.exists() and hidden_leftovers(out) == []


def test_sigterm_during_a_long_decode_leaves_no_temporary(tiny16k_codec, tmp_path):
    codes = np.random.default_rng(2).integers(0, tiny16k_codec.codebook_size, (8, 9000))    # 12 min: streamed
    save_tokens(tmp_path / "tok" / "long.npy", codes, {"codebook_size": tiny16k_codec.codebook_size})
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "xy_tokenizer", "decode", str(tmp_path / "tok"), "-o", str(out),
                             *MODEL], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=SUB_ENV)
    deadline = time.monotonic() + 120
    while not list(out.glob(f".long.*{PART_MARKER}.wav")):
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read().decode()
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr.decode()
    assert "interrupted" in stderr.decode() and "Traceback" not in stderr.decode()
    assert files_of(out) == {} and hidden_leftovers(out) == []


def test_stats_reports_a_bad_file_and_goes_on(token_dir):
    (token_dir / "broken.npy").write_text("garbage")
    code, out, err = run_cli("stats", token_dir)
    assert code == 1
    assert "broken.npy" in err and "not a .npy file" in err
    assert str(token_dir / "good.npy") in out and "L1" in out


def test_a_large_overlap_warns_about_the_cost(tmp_path, clips):
    """The family says what its options cost (XY-Tokenizer: 30 s windows), once the model is known."""
    code, _, err = run_cli("encode", clips, "-o", tmp_path / "out", "--overlap", "29.92", *MODEL)
    assert "warning" in err and "375" in err and "0.08 s" in err
    code, _, err = run_cli("encode", clips, "-o", tmp_path / "out2", "--overlap", "10", *MODEL)
    assert "warning" not in err


def test_info_describes_a_checkpoint_folder_and_a_format_2_token_file(token_dir, tmp_path):
    code, out, _ = run_cli("info", TINY, "--config", TINY / "config.yaml", "--json")
    facts = json.loads(out)
    assert code == 0 and facts["kind"] == "checkpoint" and facts["weights"] == str(TINY / "model.ckpt")
    assert facts["file_size"] == (TINY / "model.ckpt").stat().st_size and facts["num_quantizers"] == 8
    code, out, _ = run_cli("info", token_dir / "good.npy", "--json")
    facts = json.loads(out)
    codes, _ = load_tokens(token_dir / "good.npy")
    assert code == 0 and facts["format_version"] == 2 and facts["family"] == "xy_tokenizer"
    assert facts["dtype"] == "int16" and facts["frame_rate"] == 12.5
    assert facts["duration"] == pytest.approx(codes.shape[1] / 12.5)
    code, out, _ = run_cli("info", token_dir / "good.npy")
    assert "duration:" in out and "family: xy_tokenizer" in out


# ============================================================================ 5. newcomer path

def test_the_studio_without_a_display_prints_one_clear_line():
    env = {k: v for k, v in SUB_ENV.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    done = subprocess.run([sys.executable, "main.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert "no display" in lines[0] and "QT_QPA_PLATFORM=offscreen" in lines[0] and "xcb" not in lines[0]


def test_display_problem_rules():
    from app.main import display_problem

    assert display_problem({}, "linux") is not None
    assert display_problem({"DISPLAY": ":0"}, "linux") is None
    assert display_problem({"WAYLAND_DISPLAY": "wayland-0"}, "linux") is None
    assert display_problem({"QT_QPA_PLATFORM": "offscreen"}, "linux") is None
    assert display_problem({"QT_QPA_PLATFORM": "xcb"}, "linux") is not None
    assert display_problem({}, "win32") is None and display_problem({}, "darwin") is None


def test_readme_licence_and_citation_tell_a_newcomer_what_they_need():
    import tomllib

    from xy_tokenizer import __version__

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    cpu = readme.index("pip install torch --index-url https://download.pytorch.org/whl/cpu")
    assert cpu < readme.index("# 1. set up and run the studio") < readme.index("## Getting the model")
    assert "xy_tokenizer.load()" in readme and "## Using the tokens in a language model" in readme
    assert "(levels, T)" in readme and "Level 0" in readme and "xytok download --help" in readme
    assert "2506.23325" in readme
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["license"]["text"] == "Apache-2.0"
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").split()[:4] == ["Apache", "License", "Version", "2.0,"]
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    assert citation["version"] == __version__ and citation["license"] == project["license"]["text"]
    assert citation["references"][0]["identifiers"][0]["value"] == "arXiv:2506.23325"
