"""Application resources (icon, desktop entry, AppStream metadata)."""
from pathlib import Path

RESOURCE_DIR = Path(__file__).resolve().parent


def resource_path(name: str) -> Path:
    """Absolute path of a file shipped in ``resources/``."""
    return RESOURCE_DIR / name
