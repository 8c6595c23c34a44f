"""Images rendered in worker processes, in their order: every image has its own RNG stream (population.stream_rng),
so the bytes written do not depend on the number of workers."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

BLOCK = 2048  # items handed out at a time: bounds the results held in memory to one block's
_TASK: Callable[[Any], Any] | None = None  # the function forked workers call (inherited, never pickled)


def _call(item: Any) -> Any:
    return _TASK(item)  # type: ignore[misc]


def ordered_map(fn: Callable[[Any], Any], items: Sequence[Any], workers: int) -> Iterator[Any]:
    """fn(item) for every item, in order, computed in `workers` forked processes (in this one when workers is 1)."""
    if workers <= 1 or len(items) < 2:
        yield from map(fn, items)
        return
    global _TASK
    _TASK = fn
    chunk = max(1, min(64, len(items) // (4 * workers)))
    try:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            for start in range(0, len(items), BLOCK):
                yield from pool.map(_call, items[start:start + BLOCK], chunksize=chunk)
    finally:
        _TASK = None
