"""Where the application keeps its files (platformdirs).

``XYTOK_HOME`` overrides every location with sub-folders of one directory; tests and
portable installs use it.
"""
from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "xy-tokenizer-studio"
HOME_ENV = "XYTOK_HOME"
#: File name of the default model inside :func:`models_dir`.
DEFAULT_MODEL_NAME = "default.ckpt"


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
    """Path of the default model (it may not exist yet)."""
    return models_dir() / DEFAULT_MODEL_NAME


def find_default_checkpoint() -> Path | None:
    """The default model if one is installed, else ``None``."""
    path = default_checkpoint()
    return path if path.is_file() else None
