"""Where the application keeps its files (platformdirs), and which model is the default.

``XYTOK_HOME`` overrides every location with sub-folders of one directory; tests and
portable installs use it.

The default model is named by a record, :func:`default_record_path` (``models/default.json``),
whose ``"path"`` (relative to :func:`models_dir`) is what :func:`xy_tokenizer.load` accepts: a
checkpoint file or a folder holding one (with its ``config.json``). :mod:`xy_tokenizer.hub` writes
it. Before records had a ``"path"``, the default model was the file ``models/default.ckpt``
(:func:`default_checkpoint`); such an install, or a file put there by hand, is still used when
no record names a model.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import platformdirs

APP_NAME = "xy-tokenizer-studio"
HOME_ENV = "XYTOK_HOME"
#: File name of the default model inside :func:`models_dir` before the record named it (still read).
DEFAULT_MODEL_NAME = "default.ckpt"
#: File name of the default-model record inside :func:`models_dir`.
DEFAULT_RECORD_NAME = "default.json"


def _base(kind: str) -> Path:
    home = os.environ.get(HOME_ENV)
    if home:
        return Path(home) / kind
    if kind == "data":
        return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
    if kind == "config":
        return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))
    if kind == "log":
        return Path(platformdirs.user_log_dir(APP_NAME, appauthor=False))
    if kind == "cache":
        return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))
    raise ValueError(f"unknown folder kind {kind!r}")


def data_dir() -> Path:
    """User data folder (models live here)."""
    return _base("data")


def config_dir() -> Path:
    """User config folder (settings file)."""
    return _base("config")


def log_dir() -> Path:
    """User log folder (crash logs)."""
    return _base("log")


def cache_dir() -> Path:
    """User cache folder (partial downloads)."""
    return _base("cache")


def models_dir() -> Path:
    """Folder holding downloaded or installed checkpoints."""
    return data_dir() / "models"


def default_checkpoint() -> Path:
    """Path of the single-file default model of earlier installs (``models/default.ckpt``).

    It may not exist; :func:`find_default_checkpoint` is what to load.
    """
    return models_dir() / DEFAULT_MODEL_NAME


def default_record_path() -> Path:
    """``models/default.json``: which installed model is the default, and what it is."""
    return models_dir() / DEFAULT_RECORD_NAME


def read_default_record() -> dict | None:
    """The default-model record, or ``None`` when there is none or it cannot be read."""
    try:
        record = json.loads(default_record_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def find_default_checkpoint() -> Path | None:
    """The default model (a checkpoint file or a model folder) if one is installed, else ``None``.

    What it returns is what :func:`xy_tokenizer.load` accepts. The record's ``"path"`` wins; a
    record without one (written by earlier versions) or a missing record falls back to
    ``models/default.ckpt``.
    """
    record = read_default_record()
    relative = record.get("path") if record is not None else None
    if isinstance(relative, str) and relative:
        path = models_dir() / relative
        if path.exists():
            return path
    legacy = default_checkpoint()
    return legacy if legacy.is_file() else None
