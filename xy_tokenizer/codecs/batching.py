"""What every family's windowed ``encode``/``decode`` shares: clip lists and the batch walk
that reports progress per window and checks the cancel flag between batches."""
from __future__ import annotations

from typing import Any, Iterable, Iterator, Sequence, TypeVar

from xy_tokenizer.codecs.base import CancelFn, ProgressFn
from xy_tokenizer.errors import Cancelled

Item = TypeVar("Item")


def as_list(items: Any) -> list:
    """A list or tuple as a list; anything else (one array) as a list of one."""
    return list(items) if isinstance(items, (list, tuple)) else [items]


def walk(batches: Sequence[Sequence[Item]], progress: ProgressFn | None, cancel: CancelFn | None,
         what: str = "cancelled by request") -> Iterator[Sequence[Item]]:
    """Yield ``batches`` in order; ``progress(done, total)`` counts windows (0 first, then after
    each batch); ``cancel()`` is checked before each batch and raises :class:`Cancelled`."""
    total = sum(len(b) for b in batches)
    done = 0
    if progress is not None:
        progress(0, total)
    for batch in batches:
        if cancel is not None and cancel():
            raise Cancelled(what)
        yield batch
        done += len(batch)
        if progress is not None:
            progress(done, total)


def flatten(groups: Iterable[Iterable[Item]]) -> list[Item]:
    return [item for group in groups for item in group]
