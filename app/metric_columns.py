"""How the quality metrics appear in tables: short headers, tooltips and number formats.

The values are those of :func:`xy_tokenizer.metrics.compute_metrics`; columns follow the
order of :data:`~xy_tokenizer.metrics.METRIC_NAMES`.
"""
from __future__ import annotations

import math

from xy_tokenizer.analysis.metrics import METRIC_LABELS

#: Column header per metric (the full label with its direction is the header's tooltip).
METRIC_HEADERS = {
    "log_mel_distance": "LMD",
    "mrstft_distance": "MRSTFT",
    "si_sdr": "SI-SDR",
    "stoi": "STOI",
    "pesq_wb": "PESQ-WB",
    "pesq_nb": "PESQ-NB",
    "f0_corr": "F0 corr",
}
#: Decimals shown per metric.
METRIC_DECIMALS = {
    "log_mel_distance": 3,
    "mrstft_distance": 3,
    "si_sdr": 1,
    "stoi": 3,
    "pesq_wb": 2,
    "pesq_nb": 2,
    "f0_corr": 3,
}
#: Shown for a metric that could not be computed (NaN).
NOT_AVAILABLE = "\u2014"


def metric_tooltip(name: str) -> str:
    """Header tooltip: the metric's label with unit and better direction (see METRIC_LABELS)."""
    return f"{METRIC_LABELS[name]} (original and reconstruction at 16 kHz, aligned)"


def format_metric(name: str, value: float | None) -> str:
    """Text of a value: fixed decimals per metric, :data:`NOT_AVAILABLE` for NaN, "" for None."""
    if value is None:
        return ""
    if math.isnan(value):
        return NOT_AVAILABLE
    return f"{value:.{METRIC_DECIMALS[name]}f}"
