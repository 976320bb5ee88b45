"""Token files: ``<stem>.npy`` holding codes ``(k, T)`` plus a ``<stem>.json`` sidecar.

The array is written as int16 (codes are 0..1023, so this halves the size of int32 and is
what ``np.load(allow_pickle=False)`` reads anywhere); :func:`load_tokens` accepts any integer
dtype and returns int64. The sidecar records where the tokens came from (see
:func:`build_token_meta`). Both files are written atomically and together.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ._version import __version__
from .constants import CODEBOOK_SIZE, DEFAULT_OVERLAP_SECONDS, NUM_QUANTIZERS, TOKEN_FORMAT_VERSION
from .errors import TokenFileError
from .fsutil import atomic_write_group

#: dtype of the arrays :func:`save_tokens` writes.
TOKEN_DTYPE = np.int16
TOKEN_SUFFIX = ".npy"
SIDECAR_SUFFIX = ".json"


def sidecar_path(npy_path: Path) -> Path:
    """The ``<stem>.json`` beside a ``<stem>.npy``."""
    return Path(npy_path).with_suffix(SIDECAR_SUFFIX)


def check_codes(codes: np.ndarray, name: str, codebook_size: int = CODEBOOK_SIZE,
                max_levels: int = NUM_QUANTIZERS) -> np.ndarray:
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


def check_layout(codes: np.ndarray, name: str, max_levels: int = NUM_QUANTIZERS) -> None:
    """Dtype and shape of codes, without reading their values (works on a memory map).

    Raises :class:`TokenFileError` for a non-integer dtype or a shape other than ``(k, T)``
    with ``1 <= k <= max_levels`` and ``T >= 1``.
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
    if not 1 <= levels <= max_levels:
        raise TokenFileError(
            f"{name}: has {levels} levels (shape {codes.shape}); expected (k, T) with 1 <= k <= "
            f"{max_levels}. A (T, k) array must be transposed first"
        )
    if frames == 0:
        raise TokenFileError(f"{name}: holds no frames (shape {codes.shape})")


def build_token_meta(codec: Any, codes: np.ndarray, *, source: Path | str | None = None,
                     source_info: Any = None,
                     overlap: float | None = DEFAULT_OVERLAP_SECONDS) -> dict:
    """Sidecar content for ``codes: (k, T)`` produced by ``codec`` from ``source``.

    ``source_info`` is the source's :class:`~xy_tokenizer.audio.AudioInfo` (or None);
    ``overlap`` the encoder's window overlap in seconds (None when not known).
    """
    return {
        "format_version": TOKEN_FORMAT_VERSION,
        "variant": codec.variant,
        "checkpoint_sha256": codec.checkpoint_sha256,
        "source": None if source is None else str(source),
        "source_sample_rate": None if source_info is None else int(source_info.sample_rate),
        "source_duration": None if source_info is None else float(source_info.duration),
        "frame_rate": float(codec.frame_rate),
        "num_quantizers": int(codes.shape[0]),
        "codebook_size": int(codec.codebook_size),
        "num_frames": int(codes.shape[1]),
        "overlap_seconds": None if overlap is None else float(overlap),
        "package_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def save_tokens(npy_path: Path, codes: np.ndarray, meta: dict, *,
                overwrite: bool = False) -> tuple[Path, Path]:
    """Write ``codes: (k, T)`` to ``npy_path`` (int16) and ``meta`` to its ``.json`` sidecar.

    Both files appear together or not at all. Returns ``(npy_path, json_path)``. Raises
    :class:`TokenFileError` for invalid codes, ``OutputExistsError`` when either file exists
    and not ``overwrite``.
    """
    npy_path = Path(npy_path)
    if npy_path.suffix != TOKEN_SUFFIX:
        raise TokenFileError(f"{npy_path}: token files must end in {TOKEN_SUFFIX}")
    codes = check_codes(np.asarray(codes), str(npy_path))
    json_path = sidecar_path(npy_path)
    text = json.dumps(meta, indent=2, sort_keys=True) + "\n"
    # Sidecar first: a reader that sees the .npy can count on its .json.
    with atomic_write_group([json_path, npy_path], overwrite=overwrite) as (json_tmp, npy_tmp):
        json_tmp.write_text(text, encoding="utf-8")
        np.save(npy_tmp, codes.astype(TOKEN_DTYPE), allow_pickle=False)
    return npy_path, json_path


def load_token_meta(npy_path: Path) -> dict | None:
    """The sidecar of a token file, or None if there is none. Raises :class:`TokenFileError`."""
    path = sidecar_path(npy_path)
    if not path.is_file():
        return None
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TokenFileError(f"{path}: the sidecar cannot be read ({exc}); fix or delete it") from exc
    if not isinstance(meta, dict):
        raise TokenFileError(f"{path}: the sidecar must hold a JSON object; fix or delete it")
    version = meta.get("format_version", TOKEN_FORMAT_VERSION)
    if not isinstance(version, int) or version > TOKEN_FORMAT_VERSION:
        raise TokenFileError(
            f"{path}: token format version {version!r} is newer than this program reads "
            f"({TOKEN_FORMAT_VERSION}); upgrade xy-tokenizer-studio"
        )
    return meta


def load_tokens(path: Path, codebook_size: int = CODEBOOK_SIZE,
                max_levels: int = NUM_QUANTIZERS) -> tuple[np.ndarray, dict | None]:
    """Read and validate a token file: returns ``(codes: (k, T) int64, sidecar dict or None)``.

    Raises :class:`TokenFileError` naming the file for anything that is not a plain ``.npy``
    integer array of shape ``(k, T)``, ``1 <= k <= max_levels``, values in
    ``0..codebook_size-1``, or whose sidecar is unreadable or of a newer format.
    """
    path = Path(path)
    if not path.is_file():
        raise TokenFileError(f"{path}: token file not found")
    try:
        codes = np.load(path, allow_pickle=False)
    except ValueError as exc:
        # Object arrays, files that are no .npy at all and damaged .npy files end up here.
        raise TokenFileError(f"{path}: not a .npy array of integer codes ({exc})") from exc
    except (OSError, EOFError) as exc:
        raise TokenFileError(f"{path}: cannot be read as a .npy file ({exc})") from exc
    if not isinstance(codes, np.ndarray):
        codes.close()
        raise TokenFileError(f"{path}: is an .npz archive; expected a single .npy array (k, T)")
    codes = check_codes(codes, str(path), codebook_size, max_levels)
    return codes, load_token_meta(path)
