"""Batch jobs shared by the CLI and the studio: find inputs, encode/decode/reconstruct, export.

:mod:`.events` holds what a job is made of, :mod:`.inputs` expands files and folders into items,
:mod:`.runner` runs them through a codec (a generator of :class:`JobEvent`).
"""
from xy_tokenizer.jobs.events import MODES, EventKind, FileResult, JobEvent, JobItem, JobOptions, JobSummary, Mode
from xy_tokenizer.jobs.inputs import INPUT_KINDS, collect_inputs, shard_of
from xy_tokenizer.jobs.runner import (
    AUDIO_SUFFIX, SKIP_HINT, decode_stream, export_results, planned_outputs, run_job,
)

__all__ = [
    "MODES", "Mode", "EventKind", "FileResult", "JobEvent", "JobItem", "JobOptions", "JobSummary",
    "INPUT_KINDS", "collect_inputs", "shard_of", "AUDIO_SUFFIX", "SKIP_HINT", "decode_stream", "export_results",
    "planned_outputs", "run_job",
]
