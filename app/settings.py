"""User settings of the studio, persisted as JSON in the user config folder.

Loading tolerates a missing, unreadable or corrupt file (defaults are used and the problem is
logged); saving is atomic (a temporary file in the same folder, then a rename).
"""
from __future__ import annotations

import dataclasses
import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xy_tokenizer import registry
from xy_tokenizer.errors import ConfigError, XYTokenizerError
from xy_tokenizer.io import paths
from xy_tokenizer.io.fsutil import atomic_write

log = logging.getLogger(__name__)

SETTINGS_FILE = "settings.json"
MAX_RECENT_FILES = 10
DEVICES = ("auto", "cpu", "cuda", "mps")
DTYPES = ("float32", "bfloat16", "float16")
DEFAULT_BATCH_SIZE = 4
MAX_BATCH_SIZE = 256


@dataclass
class Settings:
    """Everything the studio remembers between runs.

    ``checkpoint``/``config`` are paths as strings ("" = none: the default model in the user
    data folder is used when installed). ``geometry``/``window_state`` are base64 strings of
    ``QMainWindow.saveGeometry()``/``saveState()``, ``splitter_state`` of the file list /
    views splitter's ``saveState()``. ``overlap`` is the encoder window overlap in seconds for
    families that window (None: the model's default); the model checks it (see Preferences).
    ``model_family`` is the family of the model last loaded: its rules check the overlap
    while no model is loaded.
    """

    checkpoint: str = ""
    config: str = ""
    device: str = "auto"
    dtype: str = "float32"
    output_dir: str = ""
    overlap: float | None = None
    model_family: str = ""
    batch_size: int = DEFAULT_BATCH_SIZE
    recent_files: list[str] = field(default_factory=list)
    geometry: str = ""
    window_state: str = ""
    splitter_state: str = ""
    last_dir: str = ""

    def add_recent(self, path: str | Path) -> None:
        """Put ``path`` first in the recent files (no duplicates, at most MAX_RECENT_FILES)."""
        text = str(path)
        self.recent_files = [text] + [p for p in self.recent_files if p != text]
        del self.recent_files[MAX_RECENT_FILES:]

    def model_source(self) -> tuple[Path | None, Path | None]:
        """The configured (checkpoint, config) paths; ``None`` where not set."""
        return (Path(self.checkpoint) if self.checkpoint else None,
                Path(self.config) if self.config else None)


def check_overlap(overlap: float | None, codec: Any = None, family: str = "") -> None:
    """Raise :class:`~xy_tokenizer.errors.XYTokenizerError` (its message says why) when the
    model refuses this encoder window overlap: the loaded ``codec`` decides, else the rules of
    ``family`` (the registry's first family when empty or unknown), without loading a model."""
    if overlap is None:
        return
    if codec is not None:
        codec.check_encode_options(overlap=overlap)
        return
    try:
        spec = registry.family(family) if family else registry.families()[0]
    except ConfigError:
        spec = registry.families()[0]
    spec.check_encode_options(overlap=overlap)


def settings_path() -> Path:
    """Where the settings file lives."""
    return paths.config_dir() / SETTINGS_FILE


def _clean(raw: dict) -> Settings:
    """Build Settings from decoded JSON, keeping only known keys with usable values."""
    defaults = Settings()
    values = {}
    for f in dataclasses.fields(Settings):
        if f.name not in raw:
            continue
        value, default = raw[f.name], getattr(defaults, f.name)
        if f.name == "overlap":
            if value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)
                                 and math.isfinite(value) and value >= 0):
                values[f.name] = None if value is None else float(value)
            else:
                log.warning("settings: ignoring overlap=%r (expected seconds >= 0, or null for the "
                            "model's default)", value)
        elif isinstance(default, str) and isinstance(value, str):
            values[f.name] = value
        elif isinstance(default, list) and isinstance(value, list):
            values[f.name] = [str(v) for v in value if isinstance(v, str)][:MAX_RECENT_FILES]
        elif isinstance(default, (int, float)) and isinstance(value, (int, float)) \
                and not isinstance(value, bool):
            values[f.name] = type(default)(value)
        else:
            log.warning("settings: ignoring %s=%r (expected %s)", f.name, value, type(default).__name__)
    settings = Settings(**values)
    if settings.device not in DEVICES:
        log.warning("settings: unknown device %r, using auto", settings.device)
        settings.device = "auto"
    if settings.dtype not in DTYPES:
        log.warning("settings: unknown precision %r, using float32", settings.dtype)
        settings.dtype = "float32"
    if not 1 <= settings.batch_size <= MAX_BATCH_SIZE:
        settings.batch_size = defaults.batch_size
    try:
        check_overlap(settings.overlap, family=settings.model_family)
    except XYTokenizerError as exc:
        log.warning("settings: %s; using the model's default overlap (change it in Preferences)", exc)
        settings.overlap = defaults.overlap
    return settings


def load_settings(path: Path | None = None) -> Settings:
    """Read the settings file; defaults when it is missing, unreadable or corrupt."""
    path = path or settings_path()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Settings()
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        log.warning("settings file %s is unreadable (%s); using defaults", path, exc)
        return Settings()
    if not isinstance(raw, dict):
        log.warning("settings file %s does not hold an object; using defaults", path)
        return Settings()
    return _clean(raw)


def save_settings(settings: Settings, path: Path | None = None) -> Path:
    """Write the settings atomically; returns the file written."""
    path = path or settings_path()
    text = json.dumps(dataclasses.asdict(settings), indent=2, sort_keys=True)
    with atomic_write(path, overwrite=True) as tmp:
        tmp.write_text(text + "\n", encoding="utf-8")
    return path
