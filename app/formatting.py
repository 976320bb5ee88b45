"""Small text formatting helpers shared by the widgets."""
from __future__ import annotations


def format_duration(seconds: float) -> str:
    """``m:ss.s`` below an hour, ``h:mm:ss`` above (e.g. ``0:07.3``, ``1:02:03``)."""
    seconds = round(max(0.0, float(seconds)), 1)
    if seconds >= 3600:
        whole = int(round(seconds))
        return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"
    minutes = int(seconds // 60)
    return f"{minutes}:{seconds - 60 * minutes:04.1f}"


def format_position(seconds: float) -> str:
    """Playback position ``m:ss.cc`` (hundredths), hours when needed."""
    seconds = round(max(0.0, float(seconds)), 2)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours >= 1:
        return f"{int(hours)}:{int(minutes):02d}:{secs:05.2f}"
    return f"{int(minutes)}:{secs:05.2f}"
