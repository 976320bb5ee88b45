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


def test_a_rename_failing_midway_puts_the_previous_files_back(tmp_path, monkeypatch):
    first, second = tmp_path / "a.json", tmp_path / "a.npy"
    first.write_text("old json")
    second.write_text("old npy")
    real_replace = os.replace
    calls = []

    def replace_then_fail(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise OSError(5, "Input/output error")
        return real_replace(src, dst)
    monkeypatch.setattr(os, "replace", replace_then_fail)
    with pytest.raises(XYTokenizerError, match="a.npy"):
        with atomic_write_group([first, second], overwrite=True) as (tmp1, tmp2):
            tmp1.write_text("new json")
            tmp2.write_text("new npy")
    monkeypatch.setattr(os, "replace", real_replace)
    assert first.read_text() == "old json" and second.read_text() == "old npy"
    assert leftovers(tmp_path) == []


def test_disk_full_while_writing_names_the_file(tmp_path):
    import errno

    target = tmp_path / "clip.wav"
    with pytest.raises(XYTokenizerError, match=r"cannot write .*clip\.wav: disk full") as caught:
        with atomic_write(target) as tmp:
            tmp.write_text("half")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert isinstance(caught.value, OSError) and not target.exists() and leftovers(tmp_path) == []


def test_output_lock_serialises_writers_and_leaves_no_lock_file(tmp_path):
    import threading

    from xy_tokenizer.io.fsutil import LOCK_SUFFIX, output_lock

    target = tmp_path / "out" / "a.npy"
    order = []
    inside = threading.Event()
    release = threading.Event()

    def holder():
        with output_lock(target):
            order.append("first in")
            inside.set()
            release.wait(10)
            order.append("first out")

    thread = threading.Thread(target=holder)
    thread.start()
    assert inside.wait(10)
    def second():
        with output_lock(target):
            order.append("second in")

    waiter = threading.Thread(target=second)
    waiter.start()
    waiter.join(0.3)
    assert order == ["first in"]                   # the second writer waits for the first
    release.set()
    thread.join(10)
    waiter.join(10)
    assert order == ["first in", "first out", "second in"]
    assert [p.name for p in target.parent.iterdir() if p.name.endswith(LOCK_SUFFIX)] == []
