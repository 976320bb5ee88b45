"""Token files: ``<stem>.npy`` holding codes ``(levels, T)`` plus a ``<stem>.json`` sidecar.

Pickle-free and versioned. The array is written with the smallest integer dtype that holds the
codec's codes (:func:`token_dtype`: int16 up to 32768 codes, else int32), which
``np.load(allow_pickle=False)`` reads anywhere; :func:`load_tokens` accepts any integer dtype
and returns int64. The sidecar (format :data:`TOKEN_FORMAT_VERSION`) records the codec family,
variant, frame rate, codebook size, levels, the levels a reconstruction decoded with, and the
source (see :func:`build_token_meta`). Format 1 sidecars (XY-Tokenizer only) still load: they
are upgraded in memory. Both files are written atomically and together.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from xy_tokenizer._version import __version__
from xy_tokenizer.errors import TokenFileError
from xy_tokenizer.io.fsutil import atomic_write_group

#: Version of the sidecar this program writes; it reads this one and every older one.
TOKEN_FORMAT_VERSION = 2
TOKEN_SUFFIX = ".npy"
SIDECAR_SUFFIX = ".json"
#: The largest codebook int16 holds (codes 0..32767).
INT16_CODES = 1 << 15
#: Codes are never larger than this without a sidecar saying so (int32).
MAX_CODES = 1 << 31
#: The first bytes of every .npy file.
NPY_MAGIC = b"\x93NUMPY"
#: Format 1 files were all made by XY-Tokenizer.
_V1_FAMILY = "xy_tokenizer"


def token_dtype(codebook_size: int) -> np.dtype:
    """The smallest signed dtype for codes ``0..codebook_size-1``: int16 or int32."""
    return np.dtype(np.int16 if codebook_size <= INT16_CODES else np.int32)


def sidecar_path(npy_path: Path) -> Path:
    """The ``<stem>.json`` beside a ``<stem>.npy``."""
    return Path(npy_path).with_suffix(SIDECAR_SUFFIX)


def check_codes(codes: np.ndarray, name: str, codebook_size: int = MAX_CODES,
                max_levels: int | None = None) -> np.ndarray:
    """Validate codes ``(k, T)`` and return them as int64; ``name`` starts every message.

    Raises :class:`TokenFileError` for what :func:`check_layout` refuses, or values outside
    ``0..codebook_size-1``.
    """
    check_layout(codes, name, max_levels)
    bad = (codes < 0) | (codes >= codebook_size)
    if bad.any():
        level, frame = (int(i) for i in np.argwhere(bad)[0])
        raise TokenFileError(
            f"{name}: code {int(codes[level, frame])} at level {level}, frame {frame} is outside "
            f"0..{codebook_size - 1} (values range {int(codes.min())}..{int(codes.max())})"
        )
    return codes.astype(np.int64, copy=False)


def check_layout(codes: np.ndarray, name: str, max_levels: int | None = None) -> None:
    """Dtype and shape of codes, without reading their values (works on a memory map).

    Raises :class:`TokenFileError` for a non-integer dtype or a shape other than ``(k, T)``
    with ``1 <= k <= max_levels`` (any k when None) and ``T >= 1``.
    """
    if codes.dtype == object or not np.issubdtype(codes.dtype, np.integer):
        raise TokenFileError(
            f"{name}: tokens must be an integer array, got dtype {codes.dtype}; "
            "token files hold integer codes (k, T)"
        )
    if codes.ndim != 2:
        raise TokenFileError(
            f"{name}: expected a 2-D array of shape (levels k, frames T), got shape {codes.shape}"
        )
    levels, frames = codes.shape
    if levels < 1 or (max_levels is not None and levels > max_levels):
        raise TokenFileError(
            f"{name}: has {levels} levels (shape {codes.shape}); expected (k, T) with 1 <= k <= "
            f"{max_levels}. A (T, k) array must be transposed first"
        )
    if frames == 0:
        raise TokenFileError(f"{name}: holds no frames (shape {codes.shape})")


def build_token_meta(codec: Any, codes: np.ndarray, *, source: Path | str | None = None,
                     source_info: Any = None, encode_options: Mapping[str, Any] | None = None,
                     decode_levels: int | None = None) -> dict:
    """Sidecar content for ``codes: (levels, T)`` produced by ``codec`` from ``source``.

    ``source_info`` is the source's :class:`~xy_tokenizer.io.audio.AudioInfo` (or None);
    ``encode_options`` the family options the encoder ran with (e.g. ``{"overlap": 10.0}``);
    ``decode_levels`` the levels a reconstruction decoded with (None: not decoded here).
    """
    facts = codec.facts()
    options = {k: v for k, v in (encode_options or {}).items() if v is not None}
    return {
        "format_version": TOKEN_FORMAT_VERSION,
        **facts,
        "checkpoint_sha256": codec.checkpoint_sha256,
        "levels": int(codes.shape[0]),
        "num_frames": int(codes.shape[1]),
        "decode_levels": None if decode_levels is None else int(decode_levels),
        "encode_options": options,
        "source": None if source is None else str(source),
        "source_sample_rate": None if source_info is None else int(source_info.sample_rate),
        "source_duration": None if source_info is None else float(source_info.duration),
        "package_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def save_tokens(npy_path: Path, codes: np.ndarray, meta: dict, *,
                overwrite: bool = False) -> tuple[Path, Path]:
    """Write ``codes: (levels, T)`` to ``npy_path`` and ``meta`` to its ``.json`` sidecar.

    The dtype is :func:`token_dtype` of ``meta["codebook_size"]``. Both files appear together or
    not at all. Returns ``(npy_path, json_path)``. Raises :class:`TokenFileError` for invalid
    codes, ``OutputExistsError`` when either file exists and not ``overwrite``.
    """
    npy_path = Path(npy_path)
    json_path = sidecar_path(npy_path)
    array, text = token_payload(npy_path, codes, meta)
    # Sidecar first: a reader that sees the .npy can count on its .json.
    with atomic_write_group([json_path, npy_path], overwrite=overwrite) as (json_tmp, npy_tmp):
        write_token_payload(npy_tmp, json_tmp, array, text)
    return npy_path, json_path


def token_payload(npy_path: Path, codes: np.ndarray, meta: dict) -> tuple[np.ndarray, str]:
    """What :func:`save_tokens` writes for ``npy_path``: the checked array in its file dtype and
    the sidecar text. Raises :class:`TokenFileError` for a wrong suffix or invalid codes."""
    npy_path = Path(npy_path)
    if npy_path.suffix != TOKEN_SUFFIX:
        raise TokenFileError(f"{npy_path}: token files must end in {TOKEN_SUFFIX}")
    codes = np.asarray(codes)
    recorded = meta.get("codebook_size")
    size = int(recorded) if isinstance(recorded, int) and recorded > 0 else _size_for(codes)
    check_codes(codes, str(npy_path), size)
    return codes.astype(token_dtype(size), copy=False), json.dumps(meta, indent=2, sort_keys=True) + "\n"


def write_token_payload(npy_tmp: Path, json_tmp: Path, array: np.ndarray, text: str) -> None:
    """Write :func:`token_payload`'s array and sidecar text into two temporaries of an atomic group."""
    Path(json_tmp).write_text(text, encoding="utf-8")
    np.save(npy_tmp, array, allow_pickle=False)


def token_file_problem(npy_path: Path) -> str | None:
    """Why ``npy_path`` is not a complete token output (None: it is): the ``.npy`` or its sidecar
    missing, either unreadable, or the two disagreeing. Reads the array's header only (a memory
    map), not its codes; a job's skip check uses it so that a rerun redoes a half-written set."""
    npy_path = Path(npy_path)
    if not npy_path.is_file():
        return f"{npy_path} is missing"
    if not sidecar_path(npy_path).is_file():
        return f"its sidecar {sidecar_path(npy_path)} is missing"
    try:
        meta = load_token_meta(npy_path)
        codes = np.load(npy_path, mmap_mode="r", allow_pickle=False)
        if not isinstance(codes, np.ndarray):
            return f"{npy_path} is not a .npy array"
        check_layout(codes, str(npy_path))
        _check_against_sidecar(codes, meta or {}, npy_path)
    except (TokenFileError, OSError, ValueError, EOFError) as exc:
        return str(exc)
    return None


def _size_for(codes: np.ndarray) -> int:
    """A codebook size that holds ``codes`` (their largest value + 1), for files saved without one."""
    return int(codes.max()) + 1 if codes.size and np.issubdtype(codes.dtype, np.integer) else 1


def _upgrade(meta: dict) -> dict:
    """A format 1 sidecar in format 2 terms (in memory; the file is not rewritten)."""
    out = dict(meta)
    out.setdefault("family", _V1_FAMILY)
    if "levels" not in out and "num_quantizers" in out:
        out["levels"] = out["num_quantizers"]
    overlap = out.get("overlap_seconds")
    out.setdefault("encode_options", {} if overlap is None else {"overlap": overlap})
    out.setdefault("decode_levels", None)
    return out


def load_token_meta(npy_path: Path) -> dict | None:
    """The sidecar of a token file (format 1 upgraded), or None if there is none.

    Raises :class:`TokenFileError` for an unreadable sidecar or a format this program does not read.
    """
    path = sidecar_path(npy_path)
    if not path.is_file():
        return None
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TokenFileError(f"{path}: the sidecar cannot be read ({exc}); fix or delete it") from exc
    if not isinstance(meta, dict):
        raise TokenFileError(f"{path}: the sidecar must hold a JSON object; fix or delete it")
    version = meta.get("format_version", 1)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise TokenFileError(
            f"{path}: format_version must be a whole number (got {version!r}); the sidecar is damaged: "
            "fix or delete it")
    if version > TOKEN_FORMAT_VERSION:
        raise TokenFileError(
            f"{path}: token format version {version} is newer than this program reads "
            f"({TOKEN_FORMAT_VERSION}); upgrade xy-tokenizer-studio"
        )
    return _upgrade(meta) if version < 2 else meta


def _check_against_sidecar(codes: np.ndarray, meta: dict, path: Path) -> None:
    """The sidecar must describe its array: same levels and frames, codes below its codebook size."""
    problems = []
    levels, frames = codes.shape
    if isinstance(meta.get("levels"), int) and meta["levels"] != levels:
        problems.append(f"{meta['levels']} levels (the array has {levels})")
    if isinstance(meta.get("num_frames"), int) and meta["num_frames"] != frames:
        problems.append(f"{meta['num_frames']} frames (the array has {frames})")
    if problems:
        raise TokenFileError(
            f"{path}: the sidecar {sidecar_path(path).name} says {' and '.join(problems)}; the two files do "
            "not belong together: re-export them, or delete the .json to decode the array alone")


def load_tokens(path: Path, codebook_size: int | None = None,
                max_levels: int | None = None) -> tuple[np.ndarray, dict | None]:
    """Read and validate a token file: returns ``(codes: (levels, T) int64, sidecar dict or None)``.

    ``codebook_size`` defaults to the sidecar's (values must be below it); ``max_levels`` to any.
    Raises :class:`TokenFileError` naming the file for anything that is not a plain ``.npy``
    integer array of shape ``(levels, T)`` with valid values, a sidecar that is unreadable, of a
    newer format, or contradicts its array.
    """
    path = Path(path)
    if path.exists() and not path.is_file():
        kind = "a folder" if path.is_dir() else "not a regular file (a pipe, device or socket)"
        raise TokenFileError(f"{path}: is {kind}; token files are .npy files")
    if not path.is_file():
        raise TokenFileError(f"{path}: token file not found")
    try:
        with open(path, "rb") as handle:
            magic = handle.read(len(NPY_MAGIC))
    except OSError as exc:
        raise TokenFileError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    if magic != NPY_MAGIC and not magic.startswith(b"PK"):
        raise TokenFileError(f"{path}: not a .npy file (it does not start with the .npy header); token files "
                             "are integer arrays (levels, T) saved with numpy.save")
    try:
        codes = np.load(path, allow_pickle=False)
    except ValueError as exc:
        # Object arrays, files that are no .npy at all and damaged .npy files end up here.
        text = str(exc)
        if "pickle" in text:
            raise TokenFileError(f"{path}: holds Python objects, not an integer array; token files are "
                                 "plain integer .npy arrays (levels, T)") from None
        raise TokenFileError(f"{path}: not a .npy array of integer codes ({text.splitlines()[0][:160]})") from None
    except (OSError, EOFError) as exc:
        raise TokenFileError(f"{path}: cannot be read as a .npy file ({exc})") from exc
    if not isinstance(codes, np.ndarray):
        codes.close()
        raise TokenFileError(f"{path}: is an .npz archive; expected a single .npy array (levels, T)")
    meta = load_token_meta(path)
    if codebook_size is None:
        size = meta.get("codebook_size") if meta else None
        codebook_size = size if isinstance(size, int) and size > 0 else MAX_CODES
    codes = check_codes(codes, str(path), codebook_size, max_levels)
    if meta is not None:
        _check_against_sidecar(codes, meta, path)
    return codes, meta
