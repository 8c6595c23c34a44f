"""How this package's processes end: without the interpreter's final garbage collections.

When Python exits it clears its modules and runs the cyclic garbage collector over every object still alive. With
torch (or Snakemake) loaded that is hundreds of thousands of objects and costs 0.4-0.9 CPU-s per process, for memory
the operating system takes back anyway (docs/timings.md, "Process exit"). `gc.freeze()` as the last exit handler moves
them out of the collector's reach; reference counting still frees what it frees, every other exit handler (logging's
flush, weakref finalizers, temporary folders) still runs, and the standard streams are still flushed. Nothing this
package writes depends on a collection at exit: outputs are written atomically and closed before the command returns.
"""

from __future__ import annotations

import atexit
import gc

_registered: list[bool] = []


def skip_final_collection() -> None:
    """Freeze the garbage collector's objects at interpreter exit, once per process (exit handlers run last-in,
    first-out, so the ones registered before this still run after it)."""
    if not _registered:
        atexit.register(gc.freeze)
        _registered.append(True)
