"""Tables as a reader sees them: every cell formatted (fixed decimals, no "-0.00", no scientific notation, "—" for
a missing value), no pandas index, and wrapped in a container that scrolls on its own when it is wider than the page.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

MISSING = "—"


def format_number(value: object, decimals: int = 2) -> str:
    """A cell value as text: fixed decimals for floats (never '-0.00' nor scientific notation), '—' for NaN/None."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA or value is pd.NaT:
        return MISSING
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        if math.isinf(value):
            return "∞" if value > 0 else "−∞"
        text = f"{float(value):.{decimals}f}"
        if float(text) == 0.0:  # -0.00 and values rounding to zero read as 0
            text = f"{0.0:.{decimals}f}"
        return text.replace("-", "−")
    return str(value)


def _decimals_for(column: str, decimals: Mapping[str, int], default: int) -> int:
    """Decimals of a column: an exact name in `decimals`, else the first key that the name contains, else default."""
    if column in decimals:
        return decimals[column]
    return next((d for key, d in decimals.items() if key in column), default)


def formatted(frame: pd.DataFrame, decimals: Mapping[str, int] | None = None, default: int = 2) -> pd.DataFrame:
    """A copy of `frame` with every cell as display text (see `format_number`); the index is dropped."""
    decimals = dict(decimals or {})
    frame = frame.reset_index(drop=True)
    return pd.DataFrame(
        {str(c): [format_number(v, _decimals_for(str(c), decimals, default)) for v in frame[c]] for c in frame.columns}
    )


LONG_CELL = 40  # characters: longer text cells wrap (at a readable width), shorter ones never do


def table_html(frame: pd.DataFrame, decimals: Mapping[str, int] | None = None, default: int = 2) -> str:
    """The frame as an HTML table (formatted cells, numeric columns right-aligned) inside a scrolling container;
    text cells longer than LONG_CELL are marked `long` (they wrap; the stylesheet keeps them readably wide)."""
    text = formatted(frame, decimals, default)
    numeric = [pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
               for c in frame.columns]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in text.columns)
    rows = []
    for values in text.itertuples(index=False):
        cells = "".join(
            f'<td class="num">{html.escape(v)}</td>' if is_num
            else f'<td class="long">{html.escape(v)}</td>' if len(v) > LONG_CELL else f"<td>{html.escape(v)}</td>"
            for v, is_num in zip(values, numeric, strict=True)
        )
        rows.append(f"<tr>{cells}</tr>")
    body = "".join(rows) if rows else f'<tr><td colspan="{max(1, len(text.columns))}">(no rows)</td></tr>'
    return f'<div class="table-scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'
