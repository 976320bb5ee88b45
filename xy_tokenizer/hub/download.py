"""Fetch a registry variant (every file it needs, from any repositories) and install it.

:func:`download_variant` installs ``models/<variant id>/`` (layout and record format:
:mod:`xy_tokenizer.hub.records`): all files or none, each verified, then optionally made the
default model. A variant whose family needs a separately installed semantic encoder
(``FamilySpec.semantic_model_variant``) gets that variant installed first.

What this relies on from ``huggingface_hub`` (written against 2.4.0; ``huggingface_hub.utils.
httpx`` needs >= 1.30):

* ``get_hf_file_metadata`` sends one ``HEAD /{repo}/resolve/{revision}/{file}``; its ``etag``
  is the ``X-Linked-Etag`` header (else ``ETag``). The Hub sets ``X-Linked-Etag`` to the sha256
  of LFS-stored files; a small file kept in git has only an ``ETag``, its git blob sha1
  (``sha1(b"blob <size>\\0" + content)``). ``commit_hash`` is ``X-Repo-Commit``.
  ``hf_hub_download`` only checks the size of what it receives, so the checksum is compared
  here: the registry's sha256 when it has one (a Hub that serves another file is refused before
  any byte is fetched), else the Hub's sha256, else the Hub's git sha1.
* ``hf_hub_download`` resumes *within one call*: when the connection breaks mid-body it retries
  up to 5 times with ``Range: bytes=<received>-``. It does not resume across calls (its partial
  file has a per-call name and is deleted on failure).
* ``tqdm_class`` receives byte counts through ``update(n)``; a class that also has
  ``update_transfer`` gets a single bar on the Xet download path too.
* ``HF_ENDPOINT`` and ``HF_HUB_OFFLINE`` are read by ``huggingface_hub`` once at import, so this
  module reads them at call time and passes ``endpoint=`` itself.

No token is ever sent: the released weights are public and a mirror must not receive
credentials (a gated repository gets a message saying how to fetch it yourself and install it).
Nothing here imports torch or Qt; ``huggingface_hub`` is imported on use.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterator

from xy_tokenizer import registry
from xy_tokenizer.codecs.spec import HubFile, Variant
from xy_tokenizer.errors import Cancelled, XYTokenizerError
from xy_tokenizer.hub import records
from xy_tokenizer.hub.records import (RECORD_FORMAT, RECORD_NAME, InstallError, StagingArea, file_destination,
                                      install_folder, installed_variant, licence_needs_acknowledgement, main_repo,
                                      place_file, semantic_dependency)
from xy_tokenizer.io import paths
from xy_tokenizer.io.fsutil import sha256_file

ProgressFn = Callable[[int, int], None]
CancelFn = Callable[[], bool]

#: The paper's release (16 kHz in, 16 kHz out) is what ``xytok download`` fetches by default.
DEFAULT_VARIANT = "16k"
ENDPOINT_ENV = "HF_ENDPOINT"
OFFLINE_ENV = "HF_HUB_OFFLINE"
DEFAULT_ENDPOINT = "https://huggingface.co"
_TRUE_VALUES = {"1", "ON", "YES", "TRUE"}
_SHA256 = re.compile(r"[0-9a-f]{64}")
_GIT_SHA1 = re.compile(r"[0-9a-f]{40}")
_HASH_CHUNK = 1 << 20
#: Files up to this size are hashed again to see whether an earlier install already has them.
_REHASH_LIMIT = 16 << 20
_HOW_TO_PROCEED = (
    "Connect to the internet and try again, set HF_ENDPOINT to a reachable Hugging Face mirror, "
    "or use a checkpoint file you already have: pass it with --checkpoint, install it with "
    "`xytok install PATH`, or choose \"Open checkpoint...\" in the studio."
)
VERIFIED_REGISTRY = "registry sha256"
VERIFIED_HUB_SHA256 = "Hub sha256"
VERIFIED_HUB_GIT = "Hub git sha1"
VERIFIED_EARLIER = "sha256 recorded by an earlier download"


class DownloadError(XYTokenizerError):
    """A variant that could not be fetched or verified; the message says how to go on."""


class LicenceNotAccepted(DownloadError):
    """A variant under a non-commercial licence, downloaded without ``accept_licence``."""


@dataclass(frozen=True)
class PlannedFile:
    """One file of a download as the Hub described it, before any byte is fetched."""

    variant: str                # id of the variant (install folder) it belongs to
    hub_file: HubFile
    dest: str                   # relative path inside the install folder
    size: int | None            # bytes (the Hub's, else the registry's)
    sha256: str | None          # expected: the registry's, else the Hub's
    git_sha1: str | None        # expected for a small git-stored file without a known sha256
    commit: str                 # the repository commit the download is pinned to
    reuse: Path | None = None   # an installed copy already known to be this file

    @property
    def verified_with(self) -> str:
        if self.hub_file.sha256:
            return VERIFIED_REGISTRY
        return VERIFIED_HUB_SHA256 if self.sha256 else VERIFIED_HUB_GIT


@dataclass(frozen=True)
class DownloadPlan:
    """What :func:`download_variant` is about to fetch (passed to its ``on_plan``)."""

    variant: Variant                   # the variant asked for
    units: tuple[Variant, ...]         # variants being installed, dependencies first
    files: tuple[PlannedFile, ...]
    endpoint: str

    @property
    def download_bytes(self) -> int:
        """Bytes to fetch (files reused from an earlier install excluded; unknown sizes as 0)."""
        return sum(f.size or 0 for f in self.files if f.reuse is None)


def resolve_variant(name: str | Variant) -> Variant:
    """The registry variant for an id or alias; :class:`DownloadError` listing the choices."""
    if isinstance(name, Variant):
        return name
    found = registry.find_variant(name)
    if found is None:
        raise DownloadError(f"unknown variant {name!r}; choose one of {', '.join(registry.choices())}")
    return found


def default_info_path() -> Path:
    """``models/default.json``: which install is the default model (see :mod:`.records`)."""
    return paths.default_record_path()


def download_variant(variant: str | Variant = DEFAULT_VARIANT, *, make_default: bool = True, force: bool = False,
                     progress: ProgressFn | None = None, cancel: CancelFn | None = None,
                     endpoint: str | None = None, revision: str | None = None, accept_licence: bool = False,
                     on_plan: Callable[[DownloadPlan], None] | None = None) -> Path:
    """Download every file of a registry variant, verify each, install them; return what
    :func:`xy_tokenizer.load` accepts (the checkpoint file in ``models/<id>/``; the folder for
    a variant without a checkpoint, such as a semantic encoder).

    An installed variant is reused without network access unless ``force`` (which fetches the
    variant again, not its already installed semantic-encoder dependency). A single-file
    install of an earlier version (``models/<id>.ckpt`` + ``.json``) is moved into the new
    layout without network access. With ``make_default`` the variant becomes the default model.

    ``progress(done_bytes, total_bytes)`` is called as bytes arrive, summed over all files;
    ``cancel()`` returning True stops with :class:`Cancelled`. ``on_plan(plan)`` is called once
    the Hub described every file and before any is fetched. ``endpoint`` defaults to
    ``HF_ENDPOINT`` (read now), else huggingface.co; ``revision`` pins the variant's main
    repository (default: its main branch).

    A variant under a non-commercial licence needs ``accept_licence=True``
    (:class:`LicenceNotAccepted` otherwise, before any network access). Raises
    :class:`DownloadError` when offline (``HF_HUB_OFFLINE``), when the endpoint cannot be
    reached or refuses a request, or when a checksum differs; nothing is installed then (a
    dependency that was already complete stays installed).
    """
    spec = resolve_variant(variant)
    dependency = semantic_dependency(spec)
    units = ([dependency] if dependency is not None else []) + [spec]
    todo = [unit for unit in units if (force and unit is spec) or installed_variant(unit) is None]
    todo = [unit for unit in todo if (force and unit is spec) or not _migrate_earlier_install(unit)]
    if todo:
        for unit in todo:
            if licence_needs_acknowledgement(unit) and not accept_licence:
                raise LicenceNotAccepted(
                    f"{unit.id} is released under {unit.licence} "
                    f"({unit.licence_url or unit.hub_page or 'see its Hub page'}): "
                    "non-commercial use only. Read the licence, then accept it (`--accept-licence`, or tick the "
                    "box in the studio) to download.")
        if _offline():
            names = ", ".join(f"{f.repo_id}/{f.filename}" for unit in todo for f in unit.files)
            raise DownloadError(
                f"cannot download {spec.id} ({names}): offline mode is on ({OFFLINE_ENV} is set) and it is not "
                f"installed in {paths.models_dir()}. Unset {OFFLINE_ENV} to go online. " + _HOW_TO_PROCEED)
        _check_cancel(cancel)
        plan = plan_download(spec, todo, endpoint=endpoint, revision=revision, force=force)
        if on_plan is not None:
            on_plan(plan)
        tracker = _Tracker(plan.download_bytes, progress)
        for unit in plan.units:
            _install_unit(unit, [f for f in plan.files if f.variant == unit.id], plan.endpoint, tracker, cancel)
    install = installed_variant(spec)
    if install is None:
        raise DownloadError(f"{spec.id} was downloaded but its install in {install_folder(spec.id)} is not "
                            "complete; run the download again")
    if make_default and install.checkpoint is not None:
        records.make_default(install)
    return install.checkpoint if install.checkpoint is not None else install.folder


def plan_download(variant: str | Variant, units: list[Variant] | None = None, *, endpoint: str | None = None,
                  revision: str | None = None, force: bool = False) -> DownloadPlan:
    """Ask the Hub about every file of ``units`` (default: the variant) without fetching any.

    One HEAD request per file: its size, checksum and the commit the download is pinned to.
    Raises :class:`DownloadError` as :func:`download_variant` does.
    """
    spec = resolve_variant(variant)
    units = list(units) if units is not None else [spec]
    base = _endpoint(endpoint)
    planned = []
    for unit in units:
        records.semantic_destination(unit)  # a registry entry the layout cannot hold fails before any request
        if len({file_destination(unit, f) for f in unit.files}) != len(unit.files):
            raise InstallError(f"registry entry {unit.id}: two of its files would land at the same path")
        for hub_file in unit.files:
            pinned = hub_file.revision or (revision if hub_file.repo_id == main_repo(unit) else None)
            planned.append(_describe(unit, hub_file, base, pinned, force))
    return DownloadPlan(spec, tuple(units), tuple(planned), base)


def _describe(unit: Variant, hub_file: HubFile, endpoint: str, revision: str | None, force: bool) -> PlannedFile:
    from huggingface_hub import get_hf_file_metadata, hf_hub_url

    where = f"{hub_file.repo_id}/{hub_file.filename} from {endpoint}"
    with _network_errors(where, unit):
        url = hf_hub_url(hub_file.repo_id, hub_file.filename, revision=revision, endpoint=endpoint)
        meta = get_hf_file_metadata(url, token=False, endpoint=endpoint)
    if meta.commit_hash is None:
        raise DownloadError(
            f"{endpoint} did not answer like the Hugging Face Hub for {hub_file.repo_id} (no commit header); "
            "check that HF_ENDPOINT names a Hub mirror. " + _HOW_TO_PROCEED)
    etag = (meta.etag or "").lower()
    known = hub_file.sha256.lower() if hub_file.sha256 else None
    if known is not None and _SHA256.fullmatch(etag) and etag != known:
        raise DownloadError(
            f"{where} is not the released file this version knows: the Hub publishes sha256 {etag}, the "
            f"registry {known}. Nothing was downloaded; the repository changed since this release of xytok. "
            + _HOW_TO_PROCEED)
    sha256 = known or (etag if _SHA256.fullmatch(etag) else None)
    git_sha1 = etag if sha256 is None and _GIT_SHA1.fullmatch(etag) else None
    if sha256 is None and git_sha1 is None:
        raise DownloadError(
            f"{endpoint} publishes no checksum for {hub_file.repo_id}/{hub_file.filename}, so the download cannot "
            "be verified. Use huggingface.co or another mirror, or download the files yourself and install them "
            "with `xytok install PATH` (\"Open checkpoint...\" in the studio).")
    dest = file_destination(unit, hub_file)
    planned = PlannedFile(unit.id, hub_file, dest, meta.size if meta.size is not None else hub_file.size,
                          sha256, git_sha1, meta.commit_hash)
    if not force:
        reuse = _earlier_copy(planned)
        if reuse is not None:
            planned = replace(planned, reuse=reuse)
    return planned


def _earlier_copy(planned: PlannedFile) -> Path | None:
    """The same file in an earlier (possibly incomplete) install of the variant, if any."""
    folder = install_folder(planned.variant)
    record = records.read_json_object(folder / RECORD_NAME) or {}
    for entry in record.get("files", []) if isinstance(record.get("files"), list) else []:
        if not isinstance(entry, dict) or entry.get("path") != planned.dest:
            continue
        file = folder / planned.dest
        try:
            size = file.stat().st_size
        except OSError:
            return None
        if size != entry.get("size") or (planned.size is not None and size != planned.size):
            return None
        if planned.sha256 is not None:
            return file if entry.get("sha256") == planned.sha256 else None
        if size <= _REHASH_LIMIT and _git_sha1(file) == planned.git_sha1:
            return file
    return None


class _Tracker:
    """Byte progress summed over the files of one download."""

    def __init__(self, total: int, progress: ProgressFn | None):
        self.total = total
        self.done = 0
        self.progress = progress

    def report(self, current: int) -> None:
        if self.progress is not None:
            self.progress(self.done + current, self.total)

    def file_done(self, size: int) -> None:
        self.done += size


def _install_unit(unit: Variant, files: list[PlannedFile], endpoint: str, tracker: _Tracker,
                  cancel: CancelFn | None) -> None:
    """Fetch and verify ``files`` in a staging area, write the record, move it into place."""
    with StagingArea(unit.id) as area:
        entries = []
        for planned in files:
            _check_cancel(cancel)
            target = area.install / planned.dest
            if planned.reuse is not None:
                _write_step(lambda: place_file(planned.reuse, target, link=True), area)
                sha256 = planned.sha256 or sha256_file(target)
                verified = planned.verified_with
            else:
                downloaded = _fetch(planned, endpoint, area.work, tracker, cancel)
                sha256 = _verify(planned, downloaded, endpoint)
                verified = planned.verified_with
                _write_step(lambda: place_file(downloaded, target, link=False, move=True), area)
                tracker.file_done(target.stat().st_size)
            entries.append({"path": planned.dest, "repo_id": planned.hub_file.repo_id,
                            "filename": planned.hub_file.filename, "revision": planned.commit,
                            "role": planned.hub_file.role, "size": target.stat().st_size, "sha256": sha256,
                            "verified_with": verified})
        _check_cancel(cancel)
        record = _hub_record(unit, entries, endpoint)
        _write_step(lambda: records.write_json(area.install / RECORD_NAME, record), area)
        area.commit(install_folder(unit.id))


def _hub_record(unit: Variant, entries: list[dict], endpoint: str | None) -> dict:
    return {"format": RECORD_FORMAT, "variant": unit.id, "family": unit.family, "label": unit.label,
            "licence": unit.licence, "licence_url": unit.licence_url, "origin": "hub", "endpoint": endpoint,
            "checkpoint": records.checkpoint_destination(unit), "semantic_model": records.semantic_destination(unit),
            "files": records.record_files(entries), "installed_at": records.now_utc()}


def _write_step(step: Callable[[], Any], area: StagingArea) -> None:
    try:
        step()
    except OSError as exc:
        raise InstallError(f"cannot write into {area.folder.parent} ({exc.strerror or exc}); free some space or "
                           "check its permissions. Nothing was installed.") from exc


def _fetch(planned: PlannedFile, endpoint: str, work: Path, tracker: _Tracker, cancel: CancelFn | None) -> Path:
    from huggingface_hub import hf_hub_download

    hub_file = planned.hub_file
    bar = _progress_bar_class(tracker, cancel, planned.size or 0)
    with _network_errors(f"{hub_file.repo_id}/{hub_file.filename} from {endpoint}", None, local=work):
        # Pinned to the commit the metadata came from, so the file cannot change in between.
        local = hf_hub_download(hub_file.repo_id, hub_file.filename, revision=planned.commit, cache_dir=work,
                                endpoint=endpoint, token=False, tqdm_class=bar)
    return Path(local).resolve()


def _verify(planned: PlannedFile, downloaded: Path, endpoint: str) -> str:
    """Compare the file with its expected checksum; return its sha256."""
    name = f"{planned.hub_file.filename} from {planned.hub_file.repo_id}"
    actual = sha256_file(downloaded)
    if planned.sha256 is not None and actual != planned.sha256:
        source = "this version's registry lists" if planned.hub_file.sha256 else f"{endpoint} publishes"
        raise DownloadError(
            f"{name} is corrupt: its sha256 is {actual} but {source} {planned.sha256}. Nothing was installed; "
            "try again, and if it happens again the mirror serves a different file. " + _HOW_TO_PROCEED)
    if planned.sha256 is None and _git_sha1(downloaded) != planned.git_sha1:
        raise DownloadError(
            f"{name} is corrupt: its git sha1 differs from the {planned.git_sha1} that {endpoint} publishes. "
            "Nothing was installed; try again. " + _HOW_TO_PROCEED)
    return actual


def _git_sha1(path: Path) -> str:
    """Git's blob id of a file: sha1 of ``b"blob <size>\\0"`` followed by the content."""
    digest = hashlib.sha1(usedforsecurity=False)
    digest.update(b"blob %d\0" % path.stat().st_size)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_HASH_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _migrate_earlier_install(unit: Variant) -> bool:
    """Move a single-file install of an earlier version (``models/<id>.ckpt`` + ``<id>.json``)
    into ``models/<id>/`` after checking its sha256; True when done. No network access."""
    if len(unit.files) != 1:
        return False
    hub_file = unit.files[0]
    models = paths.models_dir()
    old_file, old_record_path = models / f"{unit.id}.ckpt", models / f"{unit.id}.json"
    old = records.read_json_object(old_record_path)
    if (not old_file.is_file() or old is None or old.get("repo_id") != hub_file.repo_id
            or old.get("filename") != hub_file.filename or not isinstance(old.get("sha256"), str)):
        return False
    sha256 = sha256_file(old_file)
    if sha256 != old["sha256"] or (hub_file.sha256 and hub_file.sha256.lower() != sha256):
        return False
    dest = file_destination(unit, hub_file)
    with StagingArea(unit.id) as area:
        target = area.install / dest
        _write_step(lambda: place_file(old_file, target, link=True), area)
        entry = {"path": dest, "repo_id": hub_file.repo_id, "filename": hub_file.filename,
                 "revision": old.get("revision"), "role": hub_file.role, "size": target.stat().st_size,
                 "sha256": sha256, "verified_with": VERIFIED_EARLIER}
        record = _hub_record(unit, [entry], old.get("endpoint"))
        _write_step(lambda: records.write_json(area.install / RECORD_NAME, record), area)
        area.commit(install_folder(unit.id))
    for leftover in (old_file, old_record_path):
        with contextlib.suppress(OSError):
            leftover.unlink()
    return True


@contextlib.contextmanager
def _network_errors(where: str, unit: Variant | None, *, local: Path | None = None) -> Iterator[None]:
    """Turn the errors of ``huggingface_hub`` and its HTTP client into :class:`DownloadError`."""
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, OfflineModeIsEnabled
    from huggingface_hub.utils import httpx

    try:
        yield
    except Cancelled:
        raise
    except OfflineModeIsEnabled as exc:
        raise DownloadError(f"cannot download {where}: offline mode is on ({OFFLINE_ENV}). " + _HOW_TO_PROCEED) from exc
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else None
        if status in (401, 403):
            page = (unit.hub_page if unit is not None else None) or "its Hub page"
            raise DownloadError(
                f"the server refused {where} (HTTP {status}): the repository is gated (its terms must be accepted "
                f"on {page} while logged in), private or missing. xytok sends no Hugging Face token; download the "
                "files with `hf download` after accepting the terms, then install them with `xytok install PATH`."
            ) from exc
        raise DownloadError(
            f"the server refused {where} (HTTP {status or 'no status'}); if HF_ENDPOINT is set, check that it "
            "names a Hugging Face mirror. " + _HOW_TO_PROCEED) from exc
    except (httpx.HTTPError, ConnectionError, TimeoutError) as exc:
        raise DownloadError(f"cannot download {where} ({exc}). " + _HOW_TO_PROCEED) from exc
    except LocalEntryNotFoundError as exc:  # hf_hub_download's own request failed (the server went away)
        cause = exc.__cause__ or exc.__context__ or exc
        raise DownloadError(f"cannot download {where} (the server stopped answering: {cause}). "
                            + _HOW_TO_PROCEED) from exc
    except OSError as exc:
        folder = local if local is not None else paths.models_dir()
        raise DownloadError(f"cannot download {where}: writing into {folder} failed ({exc.strerror or exc}); "
                            "free some space or check its permissions. Nothing was installed.") from exc


def _progress_bar_class(tracker: _Tracker, cancel: CancelFn | None, total: int) -> type:
    """A silent tqdm class for ``hf_hub_download(tqdm_class=...)`` that reports to the tracker.

    ``total`` is used when the bar was created without one (size unknown to the client).
    """
    from tqdm.std import tqdm

    class CallbackBar(tqdm):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disable"] = True  # never print; a disabled tqdm ignores extra kwargs
            super().__init__(*args, **kwargs)
            self.bytes_done = int(kwargs.get("initial", 0))

        def update(self, n: float | None = 1) -> None:
            """Bytes written to the file (negative when a restart discards some)."""
            _check_cancel(cancel)
            self.bytes_done += int(n or 0)
            tracker.report(self.bytes_done)

        def update_transfer(self, n: float | None = 1) -> None:
            """Bytes received from the network; counted by :meth:`update` once written."""
            _check_cancel(cancel)

        def set_transfer_postfix_str(self, s: str = "", refresh: bool = True) -> None:
            """Speed text of the transfer bar; nothing is displayed."""

    return CallbackBar


def _check_cancel(cancel: CancelFn | None) -> None:
    if cancel is not None and cancel():
        raise Cancelled("download cancelled; nothing was installed")


def _offline() -> bool:
    from huggingface_hub import constants

    return os.environ.get(OFFLINE_ENV, "").upper() in _TRUE_VALUES or constants.is_offline_mode()


def _endpoint(endpoint: str | None) -> str:
    from huggingface_hub import constants

    return (endpoint or os.environ.get(ENDPOINT_ENV) or constants.ENDPOINT).rstrip("/")


def file_url(hub_file: HubFile, endpoint: str | None = None) -> str:
    """The URL a browser or ``curl -L`` downloads ``hub_file`` from (main branch unless pinned)."""
    base = (endpoint or os.environ.get(ENDPOINT_ENV) or DEFAULT_ENDPOINT).rstrip("/")
    return f"{base}/{hub_file.repo_id}/resolve/{hub_file.revision or 'main'}/{hub_file.filename}"


def remove_download_leftovers() -> list[Path]:
    """Remove staging folders of downloads or installs whose process died (see :mod:`.records`)."""
    return records.clean_stale_staging()


__all__ = ["DEFAULT_VARIANT", "DownloadError", "DownloadPlan", "LicenceNotAccepted", "PlannedFile",
           "default_info_path", "download_variant", "file_url", "plan_download", "remove_download_leftovers",
           "resolve_variant"]
