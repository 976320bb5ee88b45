"""Atomic writes and checksums (xy_tokenizer.fsutil) on real files."""
from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest

from xy_tokenizer.errors import XYTokenizerError
from xy_tokenizer.io.fsutil import (
    PART_MARKER,
    OutputExistsError,
    atomic_write,
    atomic_write_group,
    sha256_file,
)


def leftovers(folder):
    return sorted(p.name for p in folder.rglob(f"*{PART_MARKER}*"))


def test_writes_through_hidden_temp_with_same_extension(tmp_path):
    target = tmp_path / "out" / "codes.npy"
    with atomic_write(target) as tmp:
        assert tmp.parent == target.parent
        assert tmp.name.startswith(".codes.") and tmp.suffix == ".npy" and PART_MARKER in tmp.name
        assert not target.exists()
        np.save(tmp, np.arange(3))          # would append .npy if the suffix were different
    assert np.array_equal(np.load(target), np.arange(3))
    assert leftovers(tmp_path) == []


def test_existing_destination_is_kept_unless_overwrite(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("old")
    with pytest.raises(OutputExistsError, match="a.txt already exists"):
        with atomic_write(target) as tmp:
            tmp.write_text("new")
    assert target.read_text() == "old"
    assert isinstance(OutputExistsError("x"), FileExistsError)
    with atomic_write(target, overwrite=True) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("error", [RuntimeError("disk on fire"), KeyboardInterrupt()])
def test_exception_in_body_leaves_nothing(tmp_path, error):
    target = tmp_path / "a.wav"
    target.write_text("old")
    with pytest.raises(type(error)):
        with atomic_write(target, overwrite=True) as tmp:
            tmp.write_text("half")
            raise error
    assert target.read_text() == "old"
    assert leftovers(tmp_path) == []


def test_new_file_gets_umask_permissions_not_private_temp_mode(tmp_path):
    umask = os.umask(0o022)
    try:
        target = tmp_path / "a.txt"
        with atomic_write(target) as tmp:
            tmp.write_text("x")
    finally:
        os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o644


def test_unwritable_destination_folder_is_reported(tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    with pytest.raises(XYTokenizerError, match="cannot create the folder .*file.txt.*choose an output folder"):
        with atomic_write(blocker / "sub" / "a.wav"):
            pass
    folder = tmp_path / "dir.wav"
    folder.mkdir()
    with pytest.raises(XYTokenizerError, match="is a folder"):
        with atomic_write(folder, overwrite=True):
            pass


def test_nothing_written_is_an_error(tmp_path):
    with pytest.raises(XYTokenizerError, match="nothing was written"):
        with atomic_write(tmp_path / "a.json"):
            pass
    assert list(tmp_path.iterdir()) == []


def test_group_is_all_or_none_when_a_rename_fails(tmp_path):
    first, second = tmp_path / "a.json", tmp_path / "a.npy"
    with pytest.raises(XYTokenizerError, match="a.npy"):
        with atomic_write_group([first, second]) as (tmp1, tmp2):
            tmp1.write_text("{}")
            tmp2.write_text("data")
            second.mkdir()                    # the second rename will fail
    assert not first.exists()
    assert leftovers(tmp_path) == []


def test_group_refuses_when_any_destination_exists(tmp_path):
    (tmp_path / "a.npy").write_text("old")
    with pytest.raises(OutputExistsError, match="a.npy"):
        with atomic_write_group([tmp_path / "a.json", tmp_path / "a.npy"]):
            pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npy"]


def test_sha256_file_matches_hashlib(tmp_path):
    data = os.urandom(3 * (1 << 20) + 17)     # spans several read chunks
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()
