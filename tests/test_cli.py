"""End-to-end runs of ``xytok`` on real files with the tiny 16 kHz fixture model."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.cli_runner import run_cli
from tests.conftest import FIXTURES, ROOT
from tests.synth import speech_like, truncate, write
from xy_tokenizer.cli.common import ProgressDisplay
from xy_tokenizer.io.fsutil import PART_MARKER, sha256_file
from xy_tokenizer.jobs import JobEvent, JobItem, shard_of
from xy_tokenizer.io.tokens import load_tokens

TINY = FIXTURES / "tiny16k"
MODEL = ["--checkpoint", str(TINY / "model.ckpt"), "--config", str(TINY / "config.yaml"), "--device", "cpu"]
#: Good inputs of the module's data set: relative path -> seconds of audio.
GOOD = {"speech.wav": 1.5, "sub/speech.wav": 1.0, "stereo44k.flac": 1.2, "pcm24.wav": 0.8, "u8.wav": 0.7}
BAD = {"bad/empty.wav": "empty", "bad/text.wav": "not an audio file", "bad/truncated.wav": "truncated",
       "bad/nan.wav": "NaN or infinite", "bad/short.wav": "0.08 s"}


def leftovers(folder: Path) -> list[Path]:
    return list(folder.rglob(f"*{PART_MARKER}*"))


def files_under(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """in/: good clips in several formats and rates (equal names in two folders) and bad files."""
    root = tmp_path_factory.mktemp("cli") / "in"
    write(root / "speech.wav", speech_like(1.5, seed=1))
    write(root / "sub" / "speech.wav", speech_like(1.0, seed=2))
    stereo = speech_like(1.2, 44100, seed=3)
    write(root / "stereo44k.flac", np.stack([stereo, 0.5 * stereo], axis=1), 44100)
    write(root / "pcm24.wav", speech_like(0.8, 22050, seed=4), 22050, subtype="PCM_24")
    write(root / "u8.wav", speech_like(0.7, 8000, seed=5), 8000, subtype="PCM_U8")
    (root / "bad").mkdir()
    (root / "bad" / "empty.wav").write_bytes(b"")
    (root / "bad" / "text.wav").write_text("a text file renamed to .wav\n" * 30)
    truncate(write(root / "bad" / "truncated.wav", speech_like(1.0, seed=6)))
    nan = speech_like(1.0, seed=7)
    nan[1000:1010] = np.nan
    write(root / "bad" / "nan.wav", nan, subtype="FLOAT")
    write(root / "bad" / "short.wav", speech_like(0.05, seed=8))
    return root


@pytest.fixture(scope="module")
def encoded(data) -> tuple[Path, int, dict, str]:
    """``xytok encode in -o enc --json`` run once: (enc folder, exit code, JSON, stderr)."""
    out = data.parent / "enc"
    code, stdout, stderr = run_cli("encode", data, "-o", out, "--json", *MODEL)
    return out, code, json.loads(stdout), stderr


# ----------------------------------------------------------------------------- encode

def test_encode_mixed_inputs_reports_each_bad_file_and_goes_on(data, encoded):
    out, code, doc, stderr = encoded
    assert code == 1
    summary = doc["summary"]
    assert (summary["done"], summary["failed"], summary["skipped"]) == (len(GOOD), len(BAD), 0)
    assert summary["audio_seconds"] == pytest.approx(sum(GOOD.values()), abs=0.01)
    failures = {Path(f["path"]).relative_to(data).as_posix(): f["message"] for f in summary["failures"]}
    assert set(failures) == set(BAD)
    for rel, reason in BAD.items():
        assert failures[rel].startswith(str(data / rel)) and reason in failures[rel]
        assert f"failed: {data / rel}" in stderr
    assert f"encode: {len(GOOD)} done, {len(BAD)} failed, 0 skipped" in stderr
    assert files_under(out) == sorted(f"{Path(rel).with_suffix(ext).as_posix()}"
                                      for rel in GOOD for ext in (".json", ".npy"))
    assert not leftovers(out)


def test_encode_outputs_mirror_folders_and_hold_valid_tokens(data, encoded, tiny16k_codec):
    out = encoded[0]
    for rel, seconds in GOOD.items():
        npy = out / Path(rel).with_suffix(".npy")
        codes, meta = load_tokens(npy, codebook_size=tiny16k_codec.codebook_size)
        assert codes.shape == (8, int(seconds * 16000) // 1280)
        assert np.load(npy, allow_pickle=False).dtype == np.int16
        assert meta["source"] == str((data / rel).resolve())
        assert meta["source_duration"] == pytest.approx(seconds, abs=1e-3)
        assert meta["checkpoint_sha256"] == sha256_file(TINY / "model.ckpt")
    assert meta["encode_options"] == {} and meta["family"] == "xy_tokenizer"   # the codec's default overlap
    first = load_tokens(out / "speech.npy")[0]
    second = load_tokens(out / "sub" / "speech.npy")[0]
    assert first.shape != second.shape                  # two different files, both kept


def test_skip_existing_then_overwrite(data, tmp_path):
    out = tmp_path / "out"
    good = [data / "speech.wav", data / "u8.wav"]
    assert run_cli("encode", *good, "-o", out, "--quiet", *MODEL) == (0, "", "")
    before = {name: (out / name).read_bytes() for name in files_under(out)}
    code, stdout, stderr = run_cli("encode", *good, "-o", out, "--json", *MODEL)
    assert code == 0 and json.loads(stdout)["summary"]["skipped"] == 2
    assert "exists, skipped (use --overwrite" in stderr
    assert {name: (out / name).read_bytes() for name in files_under(out)} == before
    code, stdout, _ = run_cli("encode", *good, "-o", out, "--json", "--overwrite", "--overlap", "4.96", *MODEL)
    assert code == 0 and json.loads(stdout)["summary"]["done"] == 2
    assert load_tokens(out / "speech.npy")[1]["encode_options"] == {"overlap": 4.96}


def test_shards_split_the_inputs_disjointly(data, tmp_path):
    everything = {str(data / rel) for rel in GOOD} | {str(data / rel) for rel in BAD}
    parts = []
    for i in (1, 2, 3):
        out = tmp_path / f"shard{i}"
        code, stdout, _ = run_cli("encode", data, "-o", out, "--shard", f"{i}/3", "--json", *MODEL)
        paths = {f["path"] for f in json.loads(stdout)["files"]}
        assert code == (1 if paths & {str(data / rel) for rel in BAD} else 0)
        written = {Path(p).relative_to(out).with_suffix("") for p in map(str, out.rglob("*.npy"))}
        assert written == {Path(p).relative_to(data).with_suffix("") for p in paths} - \
            {Path(rel).with_suffix("") for rel in BAD}
        parts.append(paths)
    assert set().union(*parts) == everything
    assert sum(len(p) for p in parts) == len(everything)
    # shards are a hash of the relative path (stable when files come and go), not equal counts
    assert [len(p) for p in parts] == [sum(shard_of(JobItem(Path(p), Path(p).relative_to(data)), 3) == i
                                           for p in everything) for i in range(3)]


# ----------------------------------------------------------------------------- usage errors

@pytest.mark.parametrize("argv, message", [
    (["encode", "IN", "-o", "OUT", "--shard", "0/4"], "need 1 <= I <= N"),
    (["encode", "IN", "-o", "OUT", "--shard", "5/4"], "need 1 <= I <= N"),
    (["encode", "IN", "-o", "OUT", "--shard", "half"], "expected I/N"),
    (["encode", "IN", "-o", "OUT", "--batch-size", "0"], "at least 1"),
    (["encode", "IN", "-o", "OUT", "--overlap", "-1"], "seconds >= 0"),
    (["decode", "IN", "-o", "OUT", "--num-quantizers", "0"], "at least 1"),
    (["encode", "IN"], "-o/--out"),
    (["transcode", "IN"], "invalid choice"),
])
def test_usage_errors_exit_2(argv, message):
    code, _, stderr = run_cli(*argv)
    assert code == 2 and message in stderr


@pytest.mark.parametrize("args, message", [
    (["encode", "--overlap", "30"], "below 30"),
    (["encode", "--overlap", "5"], "multiple of 0.08 s"),
    (["reconstruct", "--num-quantizers", "9"], "between 1 and 8"),
    (["encode", "--window", "20"], "does not take window"),
])
def test_options_the_codec_refuses_exit_2_before_any_work(data, tmp_path, args, message):
    """The family checks its own options (XY-Tokenizer: 30 s windows, a 0.08 s grid, 8 levels)."""
    command, *rest = args
    code, _, stderr = run_cli(command, data / "speech.wav", "-o", tmp_path / "out", *rest, *MODEL)
    assert code == 2 and message in stderr
    assert not (tmp_path / "out").exists()


def test_missing_default_model_exits_2_and_says_what_to_do(data, tmp_path):
    code, _, stderr = run_cli("encode", data / "speech.wav", "-o", tmp_path / "out")
    assert code == 2
    assert "no model installed" in stderr and "xytok download" in stderr and "--checkpoint" in stderr
    assert not (tmp_path / "out").exists()


def test_unloadable_checkpoint_exits_2(data, tmp_path):
    fake = tmp_path / "model.ckpt"
    fake.write_text("not a checkpoint")
    code, _, stderr = run_cli("encode", data / "speech.wav", "-o", tmp_path / "out", "--checkpoint", fake)
    assert code == 2 and f"cannot load the model {fake}" in stderr


def test_missing_inputs_fail_without_loading_anything(tmp_path):
    code, stdout, stderr = run_cli("encode", tmp_path / "nothing.wav", "-o", tmp_path / "out", "--json")
    assert code == 1 and f"{tmp_path / 'nothing.wav'}: no such file or folder" in stderr
    assert json.loads(stdout)["problems"] == [f"{tmp_path / 'nothing.wav'}: no such file or folder"]


# ----------------------------------------------------------------------------- decode

@pytest.fixture
def token_dir(encoded, tmp_path) -> Path:
    """tok/: one good token file (with sidecar) and malformed ones."""
    folder = tmp_path / "tok"
    folder.mkdir()
    good = encoded[0] / "speech.npy"
    (folder / "good.npy").write_bytes(good.read_bytes())
    (folder / "good.json").write_bytes(good.with_suffix(".json").read_bytes())
    codes = np.load(good)
    np.save(folder / "float.npy", codes.astype(np.float64))
    np.save(folder / "three_d.npy", codes[None])
    np.save(folder / "nine.npy", np.concatenate([codes, codes[:1]]))
    too_big = codes.astype(np.int64)
    too_big[2, 3] = 1024
    np.save(folder / "too_big.npy", too_big)
    negative = codes.astype(np.int64)
    negative[0, 0] = -5
    np.save(folder / "negative.npy", negative)
    np.save(folder / "object.npy", np.array([[1, None]], dtype=object), allow_pickle=True)
    (folder / "not_npy.npy").write_text("1 2 3\n")
    return folder


MALFORMED = {"float.npy": "dtype float64", "three_d.npy": "2-D array", "nine.npy": "9 levels",
             "too_big.npy": "code 1024 at level 2, frame 3", "negative.npy": "code -5 at level 0, frame 0",
             "object.npy": "holds Python objects", "not_npy.npy": "not a .npy file"}


def test_decode_malformed_token_files_each_fail_with_their_name(token_dir, tmp_path, tiny16k_codec):
    out = tmp_path / "wav"
    code, stdout, stderr = run_cli("decode", token_dir, "-o", out, "--json", *MODEL)
    assert code == 1
    doc = json.loads(stdout)
    failures = {Path(f["path"]).name: f["message"] for f in doc["summary"]["failures"]}
    assert set(failures) == set(MALFORMED)
    for name, reason in MALFORMED.items():
        assert failures[name].startswith(str(token_dir / name)) and reason in failures[name]
    assert files_under(out) == ["good.wav"]
    audio, rate = sf.read(out / "good.wav", dtype="int16")
    frames = np.load(token_dir / "good.npy").shape[1]
    assert rate == tiny16k_codec.output_sample_rate
    assert audio.shape == (frames * tiny16k_codec.output_samples_per_token,)
    assert sf.info(out / "good.wav").subtype == "PCM_16"


def test_decode_with_fewer_quantizers_and_float_output(token_dir, tmp_path):
    good = token_dir / "good.npy"
    assert run_cli("decode", good, "-o", tmp_path / "all", "--float", "--quiet", *MODEL)[0] == 0
    assert run_cli("decode", good, "-o", tmp_path / "two", "--float", "--quiet",
                   "--num-quantizers", "2", *MODEL)[0] == 0
    full, _ = sf.read(tmp_path / "all" / "good.wav", dtype="float32")
    coarse, _ = sf.read(tmp_path / "two" / "good.wav", dtype="float32")
    assert sf.info(tmp_path / "two" / "good.wav").subtype == "FLOAT"
    assert full.shape == coarse.shape and not np.allclose(full, coarse, atol=1e-4)


# ----------------------------------------------------------------------------- reconstruct

def test_reconstruct_writes_tokens_and_audio(data, tmp_path):
    out = tmp_path / "rec"
    code, stdout, _ = run_cli("reconstruct", data / "speech.wav", data / "stereo44k.flac", "-o", out,
                              "--json", "--batch-size", "2", *MODEL)
    assert code == 0 and json.loads(stdout)["summary"]["done"] == 2
    assert files_under(out) == ["speech.json", "speech.npy", "speech.wav",
                                "stereo44k.json", "stereo44k.npy", "stereo44k.wav"]


def test_failure_in_the_middle_leaves_nothing_partial(data, tmp_path):
    out = tmp_path / "rec"
    (out / "stereo44k.wav").mkdir(parents=True)            # this destination cannot be written
    code, stdout, stderr = run_cli("reconstruct", data / "speech.wav", data / "stereo44k.flac", data / "u8.wav",
                                   "-o", out, "--overwrite", "--batch-size", "3", "--json", *MODEL)
    assert code == 1
    [failure] = json.loads(stdout)["summary"]["failures"]
    assert failure["path"] == str(data / "stereo44k.flac") and "is a folder" in failure["message"]
    assert files_under(out) == ["speech.json", "speech.npy", "speech.wav", "u8.json", "u8.npy", "u8.wav"]
    assert not leftovers(out)


def test_reconstruct_into_the_input_folder_is_refused(data, tmp_path):
    folder = tmp_path / "same"
    write(folder / "clip.wav", speech_like(0.5))
    before = (folder / "clip.wav").read_bytes()
    code, _, stderr = run_cli("reconstruct", folder, "-o", folder, "--overwrite", *MODEL)
    assert code == 1 and "would replace the input" in stderr
    assert (folder / "clip.wav").read_bytes() == before and files_under(folder) == ["clip.wav"]


# ----------------------------------------------------------------------------- info

def test_info_describes_a_checkpoint(tiny16k_codec):
    code, stdout, _ = run_cli("info", TINY / "model.ckpt", "--config", TINY / "config.yaml", "--json")
    facts = json.loads(stdout)
    assert code == 0 and facts["kind"] == "checkpoint"
    assert facts["variant"] == tiny16k_codec.variant
    assert facts["sha256"] == sha256_file(TINY / "model.ckpt")
    assert facts["parameters"] == tiny16k_codec.num_parameters
    assert facts["file_size"] == (TINY / "model.ckpt").stat().st_size
    assert (facts["input_sample_rate"], facts["output_sample_rate"]) == (16000, 16000)
    code, text, _ = run_cli("info", TINY / "model.ckpt", "--config", TINY / "config.yaml")
    assert code == 0 and f"sha256: {facts['sha256']}" in text and f"variant: {facts['variant']}" in text


def test_info_describes_token_and_audio_files(encoded, data):
    npy = encoded[0] / "speech.npy"
    code, stdout, _ = run_cli("info", npy, "--json")
    facts = json.loads(stdout)
    frames = int(1.5 * 16000) // 1280
    assert code == 0 and facts["shape"] == [8, frames] and facts["levels"] == 8
    assert facts["duration"] == pytest.approx(frames / 12.5)
    assert facts["sidecar"] == json.loads(npy.with_suffix(".json").read_text())
    code, text, _ = run_cli("info", npy)
    assert "shape: [8, 18]" in text and '"format_version": 2' in text
    code, stdout, _ = run_cli("info", data / "stereo44k.flac", "--json")
    facts = json.loads(stdout)
    assert (facts["sample_rate"], facts["channels"], facts["format"]) == (44100, 2, "FLAC")


def test_info_errors(data, tmp_path):
    assert run_cli("info", tmp_path / "nope.ckpt")[0] == 1
    code, _, stderr = run_cli("info", data / "bad" / "text.wav")
    assert code == 1 and "not an audio file" in stderr
    code, _, stderr = run_cli("info")
    assert code == 2 and "xytok download" in stderr


# ----------------------------------------------------------------------------- stats, metrics, download

def test_stats_of_encoded_files(encoded, tmp_path):
    csv_path = tmp_path / "stats.csv"
    code, stdout, _ = run_cli("stats", encoded[0], "--csv", csv_path)
    assert code == 0 and "perplexity" in stdout and f"ALL ({len(GOOD)} files)" in stdout
    rows = csv_path.read_text().splitlines()
    assert rows[0].startswith("file,level") and len(rows) == 1 + 8 * (len(GOOD) + 1)
    assert run_cli("stats", encoded[0], "--csv", tmp_path / "stats.txt")[0] == 2
    np.save(tmp_path / "broken.npy", np.zeros((8, 4), np.float32))
    code, _, stderr = run_cli("stats", encoded[0] / "speech.npy", tmp_path / "broken.npy")
    assert code == 1 and f"{tmp_path / 'broken.npy'}: tokens must be an integer array" in stderr


def test_metrics_from_a_reconstruct_folder(data, tmp_path):
    out = tmp_path / "rec"
    assert run_cli("reconstruct", data / "speech.wav", data / "stereo44k.flac", "-o", out, "--quiet", *MODEL)[0] == 0
    csv_path = tmp_path / "m.csv"
    code, stdout, _ = run_cli("metrics", "--pairs-from", out, "--csv", csv_path, "--json")
    doc = json.loads(stdout)
    assert code == 0 and len(doc["rows"]) == 2
    assert {Path(r["original"]) for r in doc["rows"]} == {(data / "speech.wav").resolve(),
                                                         (data / "stereo44k.flac").resolve()}
    assert set(doc["summary"]) >= {"si_sdr", "stoi"}
    assert len(csv_path.read_text().splitlines()) == 1 + 2 + 2      # header, rows, mean, median
    code, _, stderr = run_cli("metrics", data / "speech.wav", out / "speech.wav", data / "bad" / "nan.wav",
                              out / "speech.wav")
    assert code == 1 and "NaN" in stderr
    assert run_cli("metrics", data / "speech.wav")[0] == 2


def test_download_offline_fails_with_advice(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code, _, stderr = run_cli("download", "--variant", "24k")
    assert code == 1 and "offline" in stderr and "--checkpoint" in stderr


# ----------------------------------------------------------------------------- progress display

class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_on_a_terminal_and_lines_elsewhere():
    item = JobItem(Path("a.wav"), Path("a.wav"))
    from xy_tokenizer.jobs import FileResult

    done = JobEvent("file_done", 0, item, result=FileResult(item, outputs=[Path("o/a.npy")], duration=2.5))
    failed = JobEvent("file_failed", 1, item, message="b.wav: broken")
    terminal = Terminal()
    display = ProgressDisplay(terminal, 4, quiet=False)
    display.update(1.0, 4)
    display.event(done)
    display.event(failed)
    display.event(JobEvent("progress", done=2.0, total=4.0))
    display.close()
    text = terminal.getvalue()
    assert "2/4 files" in text and "2.5 s audio" in text and "ETA" in text and "[######------" in text
    assert "failed: b.wav: broken\n" in text and "done: a.wav" not in text
    log = io.StringIO()
    display = ProgressDisplay(log, 4, quiet=False)
    display.event(done)
    display.event(failed)
    display.close()
    assert log.getvalue() == "done: a.wav -> o/a.npy\nfailed: b.wav: broken\n"
    quiet = Terminal()
    display = ProgressDisplay(quiet, 4, quiet=True)
    display.event(done)
    display.event(failed)
    display.close()
    assert quiet.getvalue() == "failed: b.wav: broken\n"


# ----------------------------------------------------------------------------- entry point

def test_python_m_help_and_a_real_encode(data, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    shown = subprocess.run([sys.executable, "-m", "xy_tokenizer", "--help"], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0 and "reconstruct" in shown.stdout and "Exit status" in shown.stdout
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "xy_tokenizer", "encode", str(data / "u8.wav"), "-o", str(out),
                          "--json", *MODEL], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["summary"]["done"] == 1
    assert load_tokens(out / "u8.npy")[0].shape == (8, int(0.7 * 16000) // 1280)


def test_variant_names_an_installed_model_or_says_how_to_get_one(data, tmp_path):
    from xy_tokenizer.hub import install_model

    code, _, stderr = run_cli("encode", data / "speech.wav", "-o", tmp_path / "a", "--variant", "16k")
    assert code == 2 and "variant 16k is not installed" in stderr and "download --variant 16k" in stderr
    code, _, stderr = run_cli("encode", data / "speech.wav", "-o", tmp_path / "a", "--variant", "nope")
    assert code == 2 and "unknown variant 'nope'" in stderr
    installed = install_model(TINY / "model.ckpt", make_default=False)
    record_path = installed.parent / "xytok-install.json"
    record = json.loads(record_path.read_text())
    record["variant"] = "xy_tokenizer_16k"          # the tiny model stands in for the release
    record_path.write_text(json.dumps(record))
    code, _, stderr = run_cli("encode", data / "speech.wav", "-o", tmp_path / "b", "--variant", "16k",
                              "--config", TINY / "config.yaml", "--device", "cpu", "--quiet")
    assert code == 0, stderr
    assert load_tokens(tmp_path / "b" / "speech.npy")[0].shape[0] == 8
    code, _, stderr = run_cli("encode", data / "speech.wav", "-o", tmp_path / "c", "--variant", "16k",
                              "--checkpoint", TINY / "model.ckpt")
    assert code == 2 and "not both" in stderr


def test_encode_at_fewer_levels_writes_the_first_rows(data, tmp_path):
    """``encode --num-quantizers K`` writes the first K levels of the full encode (a lower bitrate)."""
    code, _, err = run_cli("encode", data / "speech.wav", "-o", tmp_path / "full", "--quiet", *MODEL)
    assert code == 0, err
    code, _, err = run_cli("encode", data / "speech.wav", "-o", tmp_path / "k3", "--num-quantizers", "3",
                           "--quiet", *MODEL)
    assert code == 0, err
    full, _ = load_tokens(tmp_path / "full" / "speech.npy")
    fewer, meta = load_tokens(tmp_path / "k3" / "speech.npy")
    assert fewer.shape == (3, full.shape[1]) and np.array_equal(fewer, full[:3])
    assert meta["levels"] == 3 and meta["decode_levels"] is None
    code, _, err = run_cli("encode", data / "speech.wav", "-o", tmp_path / "k9", "--num-quantizers", "9", *MODEL)
    assert code == 2 and "between 1 and 8" in err
