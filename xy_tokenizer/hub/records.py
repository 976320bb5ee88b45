"""Installed models: the folder layout, the install records and the default model.

Layout inside :func:`xy_tokenizer.io.paths.models_dir` (``models/``)::

    models/
      default.json                     which install is the default model (see below)
      xy_tokenizer_16k/                one folder per downloaded variant, named by its id
        xy_tokenizer.ckpt
        xytok-install.json             the install record (written last: its presence = complete)
      neucodec/
        pytorch_model.bin              files of the variant's main repository keep their names
        meta.yaml
        w2v-bert-2.0/                  files of any other repository (auxiliary models such as
          config.json                  the semantic encoder) go in a folder named after it
          model.safetensors
          preprocessor_config.json
        xytok-install.json
      model-3f9a0c1e2b4d/              ``xytok install PATH``: <name>-<sha256[:12]> of the weights
        ...

The install record (``xytok-install.json``, JSON, :data:`RECORD_FORMAT`)::

    {"format": 1, "variant": "neucodec", "family": "neucodec", "label": "...",
     "licence": "apache-2.0", "licence_url": "...", "origin": "hub" | "local",
     "endpoint": "https://huggingface.co",          (origin "hub")
     "source": "/where/the/user/had/it",              (origin "local"; also "recognised": the
                                                       variant the detector saw, "xy_tokenizer-custom", ...)
     "checkpoint": "pytorch_model.bin",               what load() accepts, relative ("." = the folder)
     "semantic_model": "w2v-bert-2.0",                folder of the separate semantic encoder, or null
     "files": [{"path": "pytorch_model.bin", "repo_id": "neuphonic/neucodec",
                "filename": "pytorch_model.bin", "revision": "<commit>", "role": "checkpoint",
                "size": 1234, "sha256": "<hex>", "verified_with": "registry sha256"}, ...],
                (local installs: path, role, size, sha256; verified_with is one of "registry sha256",
                 "Hub sha256", "Hub git sha1", "sha256 recorded by an earlier download")
     "installed_at": "2026-12-03T06:00:00Z"}

The default-model record (``models/default.json``, :func:`xy_tokenizer.io.paths.default_record_path`)::

    {"format": 2, "path": "neucodec/pytorch_model.bin", "install": "neucodec", "variant": "neucodec",
     "family": "neucodec", "sha256": "<sha256 of the checkpoint file>", "licence": "apache-2.0"}

Nothing here imports torch, Qt or ``huggingface_hub``.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Iterable

from xy_tokenizer.io.fsutil import read_json_object
from xy_tokenizer import registry
from xy_tokenizer.codecs.spec import HubFile, Variant
from xy_tokenizer.errors import XYTokenizerError
from xy_tokenizer.io import paths
from xy_tokenizer.io.fsutil import atomic_write

#: Name of the install record inside an install folder.
RECORD_NAME = "xytok-install.json"
RECORD_FORMAT = 1
#: ``format`` of ``models/default.json`` since it names the install by ``path`` (1: earlier, no path).
DEFAULT_RECORD_FORMAT = 2
#: Roles of :class:`~xy_tokenizer.codecs.spec.HubFile` this module treats specially.
ROLE_CHECKPOINT = "checkpoint"
ROLE_SEMANTIC = "semantic_model"
#: Hidden working folders in ``models/``: a download or install being assembled.
PARTIAL_PREFIX = ".partial-"
#: Words in a licence id that mark it non-commercial (cc-by-nc-4.0, cc-by-nc-sa-4.0, ...).
_NON_COMMERCIAL_MARKERS = ("-nc", "noncommercial", "non-commercial")


class InstallError(XYTokenizerError):
    """A model that could not be installed; nothing was changed. The message says what to do."""


@dataclass(frozen=True)
class Installed:
    """A complete install folder and its record."""

    folder: Path
    record: dict

    @property
    def variant(self) -> str | None:
        return self.record.get("variant")

    @property
    def checkpoint(self) -> Path | None:
        """What :func:`xy_tokenizer.load` accepts (a file or this folder), or None (no codec here)."""
        relative = self.record.get("checkpoint")
        return None if not isinstance(relative, str) else (self.folder / relative)

    @property
    def semantic_model(self) -> Path | None:
        relative = self.record.get("semantic_model")
        return None if not isinstance(relative, str) else (self.folder / relative)

    def checkpoint_sha256(self) -> str | None:
        """sha256 of the checkpoint file (for a folder: of its weight file), from the record."""
        relative = self.record.get("checkpoint")
        files = self.record.get("files", [])
        for entry in files:
            if entry.get("path") == relative or entry.get("role") == ROLE_CHECKPOINT:
                return entry.get("sha256")
        return None


# -- the layout ---------------------------------------------------------------------------

def install_folder(variant_id: str) -> Path:
    """``models/<variant id>/``: where a downloaded variant lives."""
    return paths.models_dir() / variant_id


def main_repo(variant: Variant) -> str | None:
    """The repository whose files sit at the top of the install folder (the checkpoint's)."""
    checkpoint = variant.checkpoint_file
    if checkpoint is not None:
        return checkpoint.repo_id
    return variant.files[0].repo_id if variant.files else None


def file_destination(variant: Variant, hub_file: HubFile) -> str:
    """Where ``hub_file`` goes inside the install folder, as a relative POSIX path.

    Files of the main repository keep their repo-relative path; files of any other repository
    go under a folder named after that repository (``facebook/w2v-bert-2.0`` -> ``w2v-bert-2.0/``).
    """
    relative = PurePosixPath(hub_file.filename)
    if relative.is_absolute() or ".." in relative.parts:
        raise InstallError(f"registry entry {variant.id}: file name {hub_file.filename!r} leaves its repository")
    if hub_file.repo_id == main_repo(variant):
        return str(relative)
    return str(PurePosixPath(hub_file.repo_id.split("/")[-1]) / relative)


def semantic_destination(variant: Variant) -> str | None:
    """The folder (relative; ``"."`` for the top) holding the variant's semantic-model files."""
    folders = {str(PurePosixPath(file_destination(variant, f)).parent)
               for f in variant.files if f.role == ROLE_SEMANTIC}
    if not folders:
        return None
    if len(folders) > 1:
        raise InstallError(f"registry entry {variant.id}: its semantic-model files are in several folders "
                           f"({', '.join(sorted(folders))}); list them from one repository")
    return folders.pop()


def checkpoint_destination(variant: Variant) -> str | None:
    checkpoint = variant.checkpoint_file
    return None if checkpoint is None else file_destination(variant, checkpoint)


def semantic_dependency(variant: Variant) -> Variant | None:
    """The separately installed semantic-encoder variant this one needs, if any.

    A variant that lists its own semantic-model files needs none; otherwise its family's
    ``semantic_model_variant`` names one (when that variant is registered).
    """
    needed = registry.needed_variants(variant)
    return needed[0] if len(needed) > 1 else None


def needs_semantic_model(variant_id: str) -> bool:
    """True when loading this variant needs a separate semantic encoder (NeuCodec's w2v-bert-2.0)."""
    variant = registry.find_variant(variant_id)
    if variant is None:
        return False
    return (any(f.role == ROLE_SEMANTIC for f in variant.files)
            or bool(registry.family(variant.family).semantic_model_variant))


def licence_needs_acknowledgement(variant: Variant) -> bool:
    """True for non-commercial licences (CC-BY-NC-4.0, ...): the user accepts them explicitly."""
    text = (variant.licence or "").lower()
    return any(marker in text for marker in _NON_COMMERCIAL_MARKERS)


# -- records ------------------------------------------------------------------------------

def write_json(path: Path, data: dict) -> None:
    """Write ``data`` atomically (replacing the file)."""
    with atomic_write(path, overwrite=True) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def now_utc() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def read_install(folder: Path) -> Installed | None:
    """The install in ``folder`` if its record is readable and every file it lists is there
    with its recorded size; else None (missing, damaged or incomplete: install again)."""
    record = read_json_object(folder / RECORD_NAME)
    if record is None or record.get("format") != RECORD_FORMAT or not isinstance(record.get("files"), list):
        return None
    for entry in record["files"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            return None
        file = folder / entry["path"]
        try:
            if not file.is_file() or file.stat().st_size != entry.get("size"):
                return None
        except OSError:
            return None
    return Installed(folder, record)


def installed_variant(variant: Variant | str) -> Installed | None:
    """The complete download of a registry variant, or None.

    Complete means: its record lists every file the registry names for it now (a registry that
    gained a file since makes the install incomplete, so it is fetched again).
    """
    if isinstance(variant, str):
        variant = registry.variant(variant)
    found = read_install(install_folder(variant.id))
    if found is None or found.record.get("variant") != variant.id:
        return None
    have = {entry["path"] for entry in found.record["files"]}
    if not all(file_destination(variant, f) in have for f in variant.files):
        return None
    return found


def installed_checkpoint(name: str) -> Path | None:
    """What :func:`xy_tokenizer.load` needs for a released variant (id or alias), or None.

    Looked for, in order: the variant's download (``xytok download``), an install made with
    ``xytok install`` whose record names the variant, and the default model when its record
    names it. Raises :class:`~xy_tokenizer.errors.ConfigError` for an unknown variant name.
    """
    variant = registry.variant(name)
    found = installed_variant(variant)
    if found is None:
        found = next((item for item in installs() if item.variant == variant.id and item.checkpoint is not None), None)
    if found is None:
        default = default_install()
        found = default if default is not None and default.variant == variant.id else None
    return None if found is None else found.checkpoint


def installs() -> list[Installed]:
    """Every complete install folder in ``models/``."""
    folder = paths.models_dir()
    if not folder.is_dir():
        return []
    found = [read_install(child) for child in sorted(folder.iterdir())
             if child.is_dir() and not child.name.startswith(".")]
    return [item for item in found if item is not None]


def install_of(path: str | Path) -> Installed | None:
    """The install that ``path`` (an install folder or a file in one) belongs to, if any."""
    path = Path(path)
    for folder in (path, *path.parents):
        if folder.is_dir() and (folder / RECORD_NAME).is_file():
            return read_install(folder)
        if folder == paths.models_dir() or folder.parent == folder:
            break
    return None


def installed_semantic_model(variant_id: str | None = None, checkpoint: str | Path | None = None) -> Path | None:
    """The installed semantic-encoder folder (HF format) for a codec variant, or None.

    This is what a family's loader calls when ``semantic_model`` was not given (NeuCodec:
    ``facebook/w2v-bert-2.0``). Looked for, in order: the install ``checkpoint`` belongs to
    (when given: the model being loaded), the download of ``variant_id``, the download of its
    family's ``semantic_model_variant``. With neither argument: the default model's.
    Only folders whose recorded files are all present are returned.
    """
    candidates: list[Installed | None] = []
    if variant_id is None and checkpoint is None:
        checkpoint = paths.find_default_checkpoint()
        record = paths.read_default_record() or {}
        variant_id = record.get("variant") if isinstance(record.get("variant"), str) else None
    if checkpoint is not None:
        candidates.append(install_of(checkpoint))
    variant = registry.find_variant(variant_id) if variant_id else None
    if variant is not None:
        candidates.append(installed_variant(variant))
        dependency = semantic_dependency(variant)
        if dependency is not None:
            candidates.append(installed_variant(dependency))
    for install in candidates:
        if install is not None and install.semantic_model is not None and install.semantic_model.is_dir():
            return install.semantic_model
    return None


def semantic_model_hint(variant_id: str) -> str:
    """What to tell a user whose install lacks the semantic encoder of ``variant_id``."""
    variant = registry.find_variant(variant_id)
    repos = sorted({f.repo_id for f in variant.files if f.role == ROLE_SEMANTIC}) if variant else []
    dependency = semantic_dependency(variant) if variant else None
    if dependency is not None:
        repos = sorted({f.repo_id for f in dependency.files}) or [dependency.id]
    what = " and ".join(repos) or "its semantic encoder"
    return (f"{variant_id} also needs {what}: run `xytok download --variant {variant_id}`, or pass the "
            "folder with `xytok install ... --semantic-model FOLDER`")


# -- the default model --------------------------------------------------------------------

def make_default(install: Installed) -> Path:
    """Make ``install`` the default model; return the path now returned by
    :func:`paths.find_default_checkpoint`. A single-file default of an earlier version
    (``models/default.ckpt``) is removed when it is a hard link (its bytes live on elsewhere)."""
    checkpoint = install.checkpoint
    if checkpoint is None:
        raise InstallError(f"{install.folder} holds no codec checkpoint (only auxiliary files); "
                           "it cannot be the default model")
    models = paths.models_dir()
    record = {"format": DEFAULT_RECORD_FORMAT,
              "path": checkpoint.relative_to(models).as_posix(),
              "install": install.folder.name,
              "variant": install.record.get("variant"),
              "family": install.record.get("family"),
              "sha256": install.checkpoint_sha256(),
              "licence": install.record.get("licence")}
    write_json(paths.default_record_path(), record)
    legacy = paths.default_checkpoint()
    with contextlib.suppress(OSError):
        if legacy.is_file() and legacy.stat().st_nlink > 1:
            legacy.unlink()
    return checkpoint


def default_install() -> Installed | None:
    """The install the default model belongs to (None for none, or a hand-placed default.ckpt)."""
    path = paths.find_default_checkpoint()
    return None if path is None else install_of(path)


# -- assembling an install folder atomically ----------------------------------------------

class StagingArea:
    """A hidden folder in ``models/`` where an install is assembled, then moved into place.

    ``folder/install`` becomes the install folder in one rename (same file system as
    ``models/``, so nothing is copied twice); ``folder/work`` is scratch space (downloads). The
    area holds a lock while in use; :func:`clean_stale_staging` removes areas whose owner died
    (kill -9, power loss) without touching one that another process is using.
    """

    def __init__(self, name: str):
        models = paths.models_dir()
        try:
            models.mkdir(parents=True, exist_ok=True)
            clean_stale_staging()
            self.folder = Path(tempfile.mkdtemp(prefix=f"{PARTIAL_PREFIX}{name}-", dir=models))
            self._lock = _try_lock(self.folder / ".lock")
            self.install = self.folder / "install"
            self.work = self.folder / "work"
            self.install.mkdir()
            self.work.mkdir()
        except OSError as exc:
            raise InstallError(f"cannot write to the models folder {models} ({exc.strerror or exc}); "
                               "check its permissions and free space") from exc

    def commit(self, target: Path) -> None:
        """Move the assembled install to ``target``, replacing an earlier install there."""
        aside = self.folder / "replaced"
        moved_aside = False
        try:
            (self.folder / "target").write_text(target.name, encoding="utf-8")
            if target.exists():
                os.replace(target, aside)
                moved_aside = True
            os.replace(self.install, target)
        except OSError as exc:
            if moved_aside and not target.exists():
                with contextlib.suppress(OSError):
                    os.replace(aside, target)
            raise InstallError(f"cannot move the finished install into place at {target} "
                               f"({exc.strerror or exc}); nothing was changed") from exc

    def close(self) -> None:
        """Remove the area (and an install it replaced); safe to call twice."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> "StagingArea":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _try_lock(path: Path) -> Any:
    """An open handle holding an exclusive lock on ``path``, or None when another process has it."""
    handle = open(path, "a+b")
    try:
        if os.name == "nt":
            import msvcrt

            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    return handle


def clean_stale_staging() -> list[Path]:
    """Remove staging areas left by a process that died; return what was removed.

    An area whose install had already been moved aside for a replacement (``replaced``) while
    its new install is missing is first put back, so an interrupted reinstall keeps the old one.
    """
    models = paths.models_dir()
    removed: list[Path] = []
    if not models.is_dir():
        return removed
    for area in models.iterdir():
        if not (area.is_dir() and area.name.startswith(PARTIAL_PREFIX)):
            continue
        lock = _try_lock(area / ".lock")
        if lock is None:
            continue  # in use by a live process
        try:
            _restore_replaced(area)
        finally:
            lock.close()
        shutil.rmtree(area, ignore_errors=True)
        removed.append(area)
    return removed


def _restore_replaced(area: Path) -> None:
    replaced = area / "replaced"
    try:
        name = (area / "target").read_text(encoding="utf-8").strip()
    except OSError:
        return
    target = paths.models_dir() / name
    if replaced.is_dir() and name and "/" not in name and not target.exists():
        with contextlib.suppress(OSError):
            os.replace(replaced, target)


def place_file(source: Path, target: Path, *, link: bool, move: bool = False) -> None:
    """Put ``source`` at ``target`` (a new path inside a staging area).

    ``move`` renames (same file system); ``link`` tries a hard link first (no second copy);
    otherwise, or when linking fails, the bytes are copied.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    if move:
        with contextlib.suppress(OSError):
            os.replace(source, target)
            return
    if link:
        with contextlib.suppress(OSError):
            os.link(source, target)
            return
    shutil.copyfile(source, target)


def record_files(entries: Iterable[dict]) -> list[dict]:
    """File entries sorted by path (stable records)."""
    return sorted(entries, key=lambda entry: entry["path"])
