"""The reference's encoder windowing rule, in one place and free of torch (the CLI checks
``--overlap`` before it loads a model; the family's ``encode_rules``, so the studio checks its
Preferences with no model loaded)."""
from __future__ import annotations

from xy_tokenizer.codecs.xy.constants import DEFAULT_OVERLAP_SECONDS, INPUT_SAMPLE_RATE, SAMPLES_PER_TOKEN, WINDOW_SECONDS
from xy_tokenizer.errors import XYTokenizerError


def encode_step(overlap: float) -> int:
    """Samples between encoder windows for ``overlap`` seconds of overlap.

    Raises :class:`XYTokenizerError` unless 0 <= overlap < the window and the step is a whole
    number of tokens (overlap a multiple of 0.08 s).
    """
    if not 0 <= overlap < WINDOW_SECONDS:
        raise XYTokenizerError(f"overlap must be at least 0 and below {WINDOW_SECONDS} s, got {overlap:g}")
    tokens = (WINDOW_SECONDS - overlap) * INPUT_SAMPLE_RATE / SAMPLES_PER_TOKEN
    if abs(tokens - round(tokens)) > 1e-6:
        raise XYTokenizerError(
            f"overlap {overlap:g} s leaves a step that is not a whole number of tokens; use a multiple "
            f"of {SAMPLES_PER_TOKEN / INPUT_SAMPLE_RATE:g} s (one token)")
    return round(tokens) * SAMPLES_PER_TOKEN


#: The ``encode`` options XY-Tokenizer takes.
ENCODE_OPTION_NAMES = ("overlap",)


def check_encode_options(**options) -> None:
    """Raise :class:`XYTokenizerError` for options XY-Tokenizer does not take or values it
    refuses (the rule :meth:`XYTokenizerCodec.check_encode_options` applies)."""
    unknown = sorted(k for k, v in options.items() if v is not None and k not in ENCODE_OPTION_NAMES)
    if unknown:
        raise XYTokenizerError(f"xy_tokenizer does not take {', '.join(unknown)} (it takes "
                               f"{', '.join(ENCODE_OPTION_NAMES)})")
    if options.get("overlap") is not None:
        encode_step(options["overlap"])


#: An overlap that makes the encoder do this many times the work of windows that do not overlap
#: draws a warning.
OVERLAP_WARNING_FACTOR = 5.0


def overlap_cost_warning(overlap: float | None) -> str | None:
    """A warning when ``overlap`` makes encoding far slower than needed (None otherwise)."""
    if overlap is None or not 0 <= overlap < WINDOW_SECONDS:
        return None
    step = WINDOW_SECONDS - overlap
    factor = WINDOW_SECONDS / step
    if factor < OVERLAP_WARNING_FACTOR:
        return None
    return (f"warning: --overlap {overlap:g} moves the {WINDOW_SECONDS} s encoder window by only {step:.2f} s: "
            f"every second of audio is encoded about {factor:.0f} times ({factor:.0f}x the work of windows "
            f"that do not overlap); the default {DEFAULT_OVERLAP_SECONDS} s is "
            f"{WINDOW_SECONDS / (WINDOW_SECONDS - DEFAULT_OVERLAP_SECONDS):.1f}x")
