"""Fetch the released checkpoints from the Hugging Face Hub and install them as models.

Installed files live in :func:`xy_tokenizer.paths.models_dir`: ``<variant>.ckpt`` with a
``<variant>.json`` record beside it, and the default model :func:`paths.default_checkpoint`
(``default.ckpt``) with :func:`default_info_path` (``default.json``) naming its variant,
repository and sha256. Every file is written atomically (:mod:`xy_tokenizer.fsutil`).

What this relies on from ``huggingface_hub`` (written against 2.4.0; ``huggingface_hub.utils.
httpx`` needs >= 1.30):

* ``get_hf_file_metadata`` sends one ``HEAD /{repo}/resolve/{revision}/{file}``; its ``etag``
  is the ``X-Linked-Etag`` header (else ``ETag``), which the Hub sets to the sha256 of
  LFS-stored files, and ``commit_hash`` is ``X-Repo-Commit``. ``hf_hub_download`` only checks
  the size of what it receives, not a checksum, so the sha256 is compared here.
* ``hf_hub_download`` resumes *within one call*: when the connection breaks mid-body it retries
  up to 5 times with ``Range: bytes=<received>-``. It does not resume across calls (its partial
  file has a per-call name and is deleted on failure), so each call downloads into a fresh
  staging folder under :func:`paths.cache_dir` that is removed afterwards.
* ``tqdm_class`` receives byte counts through ``update(n)``; a class that also has
  ``update_transfer`` gets a single bar on the Xet download path too.
* ``HF_ENDPOINT`` and ``HF_HUB_OFFLINE`` are read by ``huggingface_hub`` once at import, so this
  module reads them at call time and passes ``endpoint=`` itself.

Nothing here imports torch or Qt at import time; ``huggingface_hub`` is imported on use.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from xy_tokenizer.io import paths
from xy_tokenizer.errors import Cancelled, CheckpointError, XYTokenizerError
from xy_tokenizer.io.fsutil import atomic_write_group, sha256_file

ProgressFn = Callable[[int, int], None]
CancelFn = Callable[[], bool]


@dataclass(frozen=True)
class HubModel:
    """One released checkpoint on the Hub."""

    name: str       # short name used on the command line: "16k", "24k", "32k"
    repo_id: str
    filename: str
    variant: str    # the model variant it holds (see ``Codec.variant``)


VARIANTS: dict[str, HubModel] = {
    model.name: model
    for model in (
        HubModel("16k", "fdugyt/XY_Tokenizer", "xy_tokenizer.ckpt", "xy_tokenizer_16k"),
        HubModel("24k", "fnlp/XY_Tokenizer_TTSD_V0", "xy_tokenizer.ckpt", "xy_tokenizer_ttsd_24k"),
        HubModel("32k", "OpenMOSS-Team/MOSS_TTSD_tokenizer", "MOSS_TTSD_tokenizer", "moss_ttsd_32k"),
    )
}
#: The paper's release (16 kHz in, 16 kHz out) is what ``xytok download`` fetches by default.
DEFAULT_VARIANT = "16k"

ENDPOINT_ENV = "HF_ENDPOINT"
OFFLINE_ENV = "HF_HUB_OFFLINE"
_TRUE_VALUES = {"1", "ON", "YES", "TRUE"}
_SHA256 = re.compile(r"[0-9a-f]{64}")
_RECORD_SUFFIX = ".json"
SAFETENSORS_SUFFIX = ".safetensors"
_HOW_TO_PROCEED = (
    "Connect to the internet and try again, set HF_ENDPOINT to a reachable Hugging Face mirror, "
    "or use a checkpoint file you already have: pass it with --checkpoint, or choose "
    "\"Open checkpoint...\" in the studio."
)


class DownloadError(XYTokenizerError):
    """A checkpoint that could not be fetched or verified; the message says how to go on."""


def hub_model(variant: str) -> HubModel:
    """The released checkpoint for a short name ("16k") or a variant name ("xy_tokenizer_16k")."""
    for model in VARIANTS.values():
        if variant in (model.name, model.variant):
            return model
    raise DownloadError(f"unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}")


def default_info_path() -> Path:
    """``default.json`` beside the default model: variant, source and sha256 of that model."""
    return _record_path(paths.default_checkpoint())


def download_variant(variant: str = DEFAULT_VARIANT, *, dest_dir: Path | None = None,
                     make_default: bool = True, force: bool = False,
                     progress: ProgressFn | None = None, cancel: CancelFn | None = None,
                     endpoint: str | None = None, revision: str | None = None) -> Path:
    """Download a released checkpoint, verify its sha256 and install it; return its path.

    The file lands in ``dest_dir`` (default :func:`paths.models_dir`) as ``<variant>.ckpt``
    with a ``<variant>.json`` record; with ``make_default`` it also becomes the default model.
    An installed variant is reused without network access unless ``force``.

    ``progress(done_bytes, total_bytes)`` is called as bytes arrive; ``cancel()`` returning
    True stops the download with :class:`Cancelled`. ``endpoint`` defaults to ``HF_ENDPOINT``
    (read now), else huggingface.co; ``revision`` to the repository's main branch. No token is
    sent: the checkpoints are public and a mirror must not receive credentials.

    Raises :class:`DownloadError` when offline (``HF_HUB_OFFLINE``), when the endpoint cannot
    be reached or refuses the request, or when the sha256 differs from the one the Hub
    publishes; nothing is installed then.
    """
    model = hub_model(variant)
    folder = Path(dest_dir) if dest_dir is not None else paths.models_dir()
    target = folder / f"{model.variant}.ckpt"
    record = _read_record(_record_path(target))
    if not force and target.is_file() and record is not None:
        if make_default:
            _make_default(target, record)
        return target
    if _offline():
        raise DownloadError(
            f"cannot download {model.repo_id}/{model.filename}: offline mode is on "
            f"({OFFLINE_ENV} is set) and the {model.name} model is not installed in {folder}. "
            f"Unset {OFFLINE_ENV} to go online. " + _HOW_TO_PROCEED
        )
    _check_cancel(cancel)
    base = _endpoint(endpoint)
    paths.cache_dir().mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="download-", dir=paths.cache_dir()))
    try:
        downloaded, sha256, commit = _fetch(model, base, revision, staging, progress, cancel)
        _check_cancel(cancel)
        record = {"variant": model.variant, "repo_id": model.repo_id, "filename": model.filename,
                  "revision": commit, "endpoint": base, "sha256": sha256,
                  "size": downloaded.stat().st_size}
        _place(downloaded, target, record, link=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if make_default:
        _make_default(target, record)
    return target


def install_checkpoint(path: str | Path, *, make_default: bool = True) -> Path:
    """Install a checkpoint file the user already has; return the installed copy.

    The file is read with :func:`xy_tokenizer.checkpoint.read_state_dict` (a
    :class:`CheckpointError` if it cannot be loaded) and copied into :func:`paths.models_dir`
    as ``<stem>-<sha256[:12]><suffix>``, so equal names never collide and installing the same
    file twice copies it once. A ``.safetensors`` file is stored as a torch ``.ckpt`` holding
    the same tensors, because the default model is read as one. With ``make_default`` the copy
    becomes the default model. Its record names the released variant the weights match
    (``None``: none, so loading it needs its config), the source file and the sha256.
    """
    source = Path(path)
    if not source.is_file():
        raise CheckpointError(f"{source} is not a file; choose a checkpoint file (.ckpt, .pt, .safetensors)")
    from xy_tokenizer.io.checkpoint import read_state_dict

    state = read_state_dict(source)
    record = {"variant": _released_variant(state, source), "source": str(source.resolve())}
    if source.suffix != SAFETENSORS_SUFFIX:
        return _install_local(source, record, make_default, link=False)
    import torch

    paths.cache_dir().mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="convert-", dir=paths.cache_dir()) as folder:
        converted = Path(folder) / f"{source.stem}.ckpt"
        torch.save(state, converted)
        return _install_local(converted, record, make_default, link=True)


def _install_local(file: Path, record: dict, make_default: bool, *, link: bool) -> Path:
    sha256 = sha256_file(file)
    target = paths.models_dir() / f"{file.stem}-{sha256[:12]}{file.suffix}"
    record = {**record, "sha256": sha256, "size": file.stat().st_size}
    if not target.is_file() or _read_record(_record_path(target)) is None:
        _place(file, target, record, link=link)
    if make_default:
        _make_default(target, record)
    return target


def _released_variant(state: dict, source: Path) -> str | None:
    """Name of the released variant whose keys and shapes ``state`` has, else None."""
    from xy_tokenizer.codecs.xy.model import resolve_config

    try:
        config, _ = resolve_config(state, None, str(source))
    except CheckpointError:
        return None
    return config.variant_name()


def _fetch(model: HubModel, endpoint: str, revision: str | None, staging: Path,
           progress: ProgressFn | None, cancel: CancelFn | None) -> tuple[Path, str, str]:
    """Download ``model`` into ``staging``; return (file, verified sha256, commit)."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url

    where = f"{model.repo_id}/{model.filename} from {endpoint}"
    with _network_errors(where):
        url = hf_hub_url(model.repo_id, model.filename, revision=revision, endpoint=endpoint)
        meta = get_hf_file_metadata(url, token=False, endpoint=endpoint)
    if meta.commit_hash is None:
        raise DownloadError(
            f"{endpoint} did not answer like the Hugging Face Hub for {model.repo_id} (no commit "
            "header); check that HF_ENDPOINT names a Hub mirror. " + _HOW_TO_PROCEED
        )
    expected = meta.etag
    if expected is None or not _SHA256.fullmatch(expected):
        raise DownloadError(
            f"{endpoint} does not publish a sha256 for {model.repo_id}/{model.filename}, so the "
            "download cannot be verified. Use huggingface.co or another mirror, or download the "
            "file yourself and pass it with --checkpoint (\"Open checkpoint...\" in the studio)."
        )
    bar = _progress_bar_class(progress, cancel, meta.size or 0)
    with _network_errors(where):
        # Pinned to the commit the metadata came from, so the file cannot change in between.
        local = hf_hub_download(model.repo_id, model.filename, revision=meta.commit_hash,
                                cache_dir=staging, endpoint=endpoint, token=False,
                                tqdm_class=bar)
    downloaded = Path(local).resolve()
    actual = sha256_file(downloaded)
    if actual != expected:
        raise DownloadError(
            f"{model.filename} from {model.repo_id} is corrupt: its sha256 is {actual} but {endpoint} "
            f"publishes {expected}. Nothing was installed; try again, and if it happens again the "
            "mirror serves a different file. " + _HOW_TO_PROCEED
        )
    return downloaded, actual, meta.commit_hash


@contextlib.contextmanager
def _network_errors(where: str) -> Iterator[None]:
    """Turn the errors of ``huggingface_hub`` and its HTTP client into :class:`DownloadError`."""
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled
    from huggingface_hub.utils import httpx

    try:
        yield
    except OfflineModeIsEnabled as exc:
        raise DownloadError(f"cannot download {where}: offline mode is on ({OFFLINE_ENV}). "
                            + _HOW_TO_PROCEED) from exc
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else "no status"
        raise DownloadError(
            f"the server refused {where} (HTTP {status}); if HF_ENDPOINT is set, check that it "
            "names a Hugging Face mirror. " + _HOW_TO_PROCEED
        ) from exc
    except (httpx.HTTPError, OSError) as exc:
        raise DownloadError(f"cannot download {where} ({exc}). " + _HOW_TO_PROCEED) from exc


def _progress_bar_class(progress: ProgressFn | None, cancel: CancelFn | None, total: int) -> type:
    """A silent tqdm class for ``hf_hub_download(tqdm_class=...)`` that reports to callbacks.

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
            if progress is not None:
                progress(self.bytes_done, int(self.total or total))

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


def _record_path(checkpoint: Path) -> Path:
    """``<stem>.json`` beside a checkpoint: ``default.ckpt`` -> ``default.json``."""
    return checkpoint.with_name(checkpoint.stem + _RECORD_SUFFIX)


def _read_record(path: Path) -> dict | None:
    """The JSON record at ``path``, or None when missing or unreadable (reinstall then)."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and "sha256" in record else None


def _make_default(installed: Path, record: dict) -> None:
    _place(installed, paths.default_checkpoint(), record, link=True)


def _place(source: Path, target: Path, record: dict, *, link: bool) -> None:
    """Put ``source``'s bytes at ``target`` and ``record`` beside it, atomically, replacing both.

    With ``link`` a hard link is tried first (no second copy on disk); it falls back to a copy
    across file systems or where links are not supported.
    """
    with atomic_write_group([_record_path(target), target], overwrite=True) as (tmp_record, tmp_target):
        tmp_record.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        if not (link and _hard_link(source, tmp_target)):
            shutil.copyfile(source, tmp_target)


def _hard_link(source: Path, tmp: Path) -> bool:
    """Replace the empty temporary ``tmp`` with a hard link to ``source``; False if impossible."""
    try:
        tmp.unlink()
        os.link(source, tmp)
    except OSError:
        return False
    return True
