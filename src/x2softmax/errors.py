"""One-line failures: the user-facing error handling shared by the `x2softmax` command and its torchrun workers."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable


def _user_errors() -> tuple[type[BaseException], ...]:
    """Exception types a user can cause or meet: bad input, missing or corrupt files, failed downloads (requests'
    errors are OSErrors), divergence (RuntimeError); anything else is a bug and keeps its traceback."""
    import pickle
    import tarfile
    import zipfile

    return (ValueError, OSError, KeyError, ImportError, EOFError, RuntimeError, pickle.UnpicklingError,
            tarfile.TarError, zipfile.BadZipFile)


def _one_line(err: BaseException) -> str:
    text = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return "; ".join(lines) or type(err).__name__


def report_failure(command: str, func: Callable[[], None]) -> None:
    """Run `func`; a failure a user can cause or meet exits with one line `x2softmax COMMAND: Type: message`
    (X2S_TRACEBACK=1 re-raises it); anything else is a bug and keeps its traceback."""
    try:
        func()
    except KeyboardInterrupt:
        sys.exit(f"x2softmax {command}: interrupted")
    except Exception as err:
        if os.environ.get("X2S_TRACEBACK") or not isinstance(err, _user_errors()):
            raise
        sys.exit(f"x2softmax {command}: {type(err).__name__}: {_one_line(err)}")
