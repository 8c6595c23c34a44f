"""What an executed report notebook may show: page blocks and computed Markdown only (docs/architecture.md, "Report
pages"); anything else is a stray output the notebook tests name."""

from __future__ import annotations

import re
from typing import Any

# The only outputs a report notebook may show: HTML blocks of the page helpers and computed Markdown.
ALLOWED_HTML = re.compile(r'^<(figure class="x2-(figure|table)"|div class="(notice|computed)|section class="verdict")')


def stray_outputs(notebook: dict[str, Any]) -> list[str]:
    """Every output of an executed notebook other than a page block or Markdown (text, reprs, streams, errors,
    inline images), as 'cell N: what'."""
    found = []
    for index, cell in enumerate(notebook["cells"]):
        for output in cell.get("outputs", []):
            kind = output["output_type"]
            data = output.get("data", {})
            if kind == "display_data" and "text/markdown" in data:
                continue
            if kind == "display_data" and "text/html" in data and ALLOWED_HTML.match("".join(data["text/html"])):
                continue
            shown = "".join(output.get("text", "")) or "".join(data.get("text/plain", "")) or output.get("ename", "")
            found.append(f"cell {index}: {kind} {shown[:80]!r}")
    return found
