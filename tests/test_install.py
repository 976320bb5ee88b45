"""``xytok install PATH`` and :func:`xy_tokenizer.hub.install.install_model`: real files in tmp dirs,
recognised by the registered families (XY-Tokenizer's tiny fixture, the fake family of test_download)."""
from __future__ import annotations

import errno
import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import xy_tokenizer
from tests.test_download import (FAKE_FILES, CODEC_REPO, SEMANTIC_REPO, fake_spec, installed_tree,  # noqa: F401
                                 safetensors_bytes)
from xy_tokenizer import cli, registry
from xy_tokenizer.errors import CheckpointError
from xy_tokenizer.hub import install as install_module
from xy_tokenizer.hub import records
from xy_tokenizer.hub.install import install_model
from xy_tokenizer.hub.records import InstallError, installed_semantic_model
from xy_tokenizer.io import paths


@pytest.fixture
def fake_registered():
    registry.register_family(fake_spec())
    try:
        yield
    finally:
        registry.unregister_family("fakecodec")


def write_model_folder(folder: Path, *, semantic: bool) -> Path:
    """A fake-family model folder as `xytok download --list` lays it out (fake_lite + its encoder)."""
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(FAKE_FILES[f"{CODEC_REPO}/model.safetensors"])
    (folder / "config.json").write_bytes(FAKE_FILES[f"{CODEC_REPO}/config.json"])
    if semantic:
        write_semantic_folder(folder / "fake-semantic")
    return folder


def write_semantic_folder(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for name in ("config.json", "model.safetensors"):
        (folder / name).write_bytes(FAKE_FILES[f"{SEMANTIC_REPO}/{name}"])
    return folder


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_install_a_checkpoint_file_as_the_default_model(tiny16k_dir, tmp_path):
    source = tmp_path / "copied" / "model.ckpt"
    source.parent.mkdir()
    shutil.copyfile(tiny16k_dir / "model.ckpt", source)
    sha = hashlib.sha256(source.read_bytes()).hexdigest()

    installed = install_model(source)

    assert installed == paths.models_dir() / f"model-{sha[:12]}" / "model.ckpt"
    assert installed.read_bytes() == source.read_bytes() and not installed.samefile(source)
    assert paths.find_default_checkpoint() == installed
    record = json.loads((installed.parent / records.RECORD_NAME).read_text())
    assert record["origin"] == "local" and record["source"] == str(source.resolve())
    assert record["variant"] == record["recognised"] == "xy_tokenizer-custom"  # the tiny model is no release
    assert record["family"] == "xy_tokenizer" and record["checkpoint"] == "model.ckpt"
    assert record["files"] == [{"path": "model.ckpt", "role": "checkpoint", "size": source.stat().st_size,
                                "sha256": sha}]
    default = paths.read_default_record()
    assert default["path"] == f"model-{sha[:12]}/model.ckpt" and default["sha256"] == sha
    # the default model is what load() uses
    codec = xy_tokenizer.load(config=tiny16k_dir / "config.yaml", device="cpu")
    assert codec.checkpoint_path == installed
    # installing the same weights again copies nothing
    inode = installed.stat().st_ino
    assert install_model(source, make_default=False) == installed and installed.stat().st_ino == inode


def test_a_safetensors_file_is_installed_as_it_is(tiny16k_ckpt, tmp_path):
    from safetensors.torch import save_file

    from xy_tokenizer.io.checkpoint import read_state_dict

    state = read_state_dict(tiny16k_ckpt)
    source = tmp_path / "weights.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(source))
    installed = install_model(source, link=True)
    assert installed.name == "weights.safetensors" and installed.samefile(source)  # hard-linked
    assert paths.find_default_checkpoint() == installed


def test_unusable_files_are_refused_with_their_name_and_nothing_is_installed(tmp_path):
    import torch

    bogus = tmp_path / "numbers.ckpt"
    torch.save([1, 2, 3], bogus)  # a torch file, but no state dict
    text = tmp_path / "notes.ckpt"
    text.write_bytes(b"these are not weights")
    stranger = tmp_path / "stranger.safetensors"
    stranger.write_bytes(safetensors_bytes(np.zeros(3), key="vision.patch_embed"))
    for path, message in ((bogus, "numbers.ckpt"), (text, "notes.ckpt"), (tmp_path / "missing.ckpt", "missing.ckpt"),
                          (stranger, "not a checkpoint of any known codec family")):
        with pytest.raises(CheckpointError, match=message):
            install_model(path)
    assert installed_tree() == []


def test_cli_refuses_an_unrecognised_file_in_one_line(capsys, tmp_path):
    stranger = tmp_path / "stranger.safetensors"
    stranger.write_bytes(safetensors_bytes(np.zeros(3), key="vision.patch_embed"))
    code, out, err = run_cli(capsys, "install", stranger)
    assert code == 1 and out == "" and "Traceback" not in err
    assert err.startswith("xytok: ") and "stranger.safetensors" in err and "known codec family" in err
    assert installed_tree() == []


def test_install_a_model_folder_with_its_semantic_encoder(fake_registered, tmp_path):
    folder = write_model_folder(tmp_path / "copied-by-hand", semantic=True)
    (folder / ".DS_Store").write_bytes(b"junk")

    installed = install_model(folder)

    sha = hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
    target = paths.models_dir() / f"copied-by-hand-{sha[:12]}"
    assert installed == target and paths.find_default_checkpoint() == target
    assert sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()) == [
        "config.json", "fake-semantic/config.json", "fake-semantic/model.safetensors", "model.safetensors",
        records.RECORD_NAME]
    record = json.loads((target / records.RECORD_NAME).read_text())
    assert record["variant"] == "fake_lite" and record["checkpoint"] == "."
    assert record["semantic_model"] == "fake-semantic"
    assert {e["path"]: e["role"] for e in record["files"]} == {
        "config.json": "config", "fake-semantic/config.json": "semantic_model",
        "fake-semantic/model.safetensors": "semantic_model", "model.safetensors": "checkpoint"}
    assert installed_semantic_model("fake_lite", checkpoint=installed) == target / "fake-semantic"
    assert installed_semantic_model() == target / "fake-semantic"
    from xy_tokenizer.codecs.loading import open_source, recognise

    assert recognise(open_source(paths.find_default_checkpoint())) == ("fakecodec", "fake_lite")


def test_semantic_model_option_installs_the_encoder_beside_a_file(fake_registered, tmp_path, capsys):
    folder = write_model_folder(tmp_path / "codec", semantic=False)
    encoder = write_semantic_folder(tmp_path / "downloads" / "my-encoder")

    code, out, err = run_cli(capsys, "install", folder / "model.safetensors", "--semantic-model", encoder)

    assert code == 0, err
    installed = Path(out.strip())
    assert installed.name == "model.safetensors" and installed.parent.parent == paths.models_dir()
    # config.json beside the file is read by loaders, so it comes along
    assert (installed.parent / "config.json").read_bytes() == (folder / "config.json").read_bytes()
    assert installed_semantic_model("fake_lite", checkpoint=installed) == installed.parent / "fake-semantic"
    assert "installed fake_lite" in err and "now the default model" in err and "note:" not in err


def test_cli_notes_a_missing_semantic_encoder(fake_registered, tmp_path, capsys):
    folder = write_model_folder(tmp_path / "codec", semantic=False)
    code, out, err = run_cli(capsys, "install", folder)
    assert code == 0
    assert "note: fake_lite also needs fake-org/fake-semantic" in err and "--semantic-model" in err


def test_variant_option_must_name_the_recognised_family(fake_registered, tmp_path, capsys):
    folder = write_model_folder(tmp_path / "codec", semantic=False)
    code, out, err = run_cli(capsys, "install", folder, "--variant", "16k")
    assert code == 2 and out == ""
    assert "Fake codec weights (fake_lite), not xy_tokenizer_16k (XY-Tokenizer)" in err
    assert installed_tree() == []

    installed = install_model(folder, variant="fake_full")  # same family: the user's word is recorded
    record = records.install_of(installed).record
    assert record["variant"] == "fake_full" and record["recognised"] == "fake_lite"
    assert record["licence"] == "cc-by-nc-4.0"


def test_a_semantic_folder_without_config_is_refused(fake_registered, tmp_path):
    folder = write_model_folder(tmp_path / "codec", semantic=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InstallError, match="no config.json"):
        install_model(folder, semantic_model=tmp_path / "empty")
    assert installed_tree() == []


def test_disk_full_while_copying_leaves_nothing(fake_registered, tmp_path, monkeypatch):
    folder = write_model_folder(tmp_path / "codec", semantic=True)
    placed = []

    def place_then_fail(source, target, *, link, move=False):
        if placed:
            raise OSError(errno.ENOSPC, "No space left on device")
        placed.append(target)
        records.place_file(source, target, link=link, move=move)

    monkeypatch.setattr(install_module, "place_file", place_then_fail)
    with pytest.raises(InstallError, match="No space left on device") as caught:
        install_model(folder)
    assert str(paths.models_dir()) in str(caught.value)
    assert placed and installed_tree() == [] and list(paths.models_dir().iterdir()) == []
