"""The index page and a rendered notebook load in headless Chromium with the network off, every image intact."""

from __future__ import annotations

import base64
import json
import re
import subprocess
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from x2softmax.report.index import build_index
from x2softmax.report.render import render_html

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is absent (apt-get install chromium)"),
]
CHECKER = """<script>
window.addEventListener("load", () => {
  const imgs = Array.from(document.images);
  const broken = imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src.slice(0, 80));
  document.body.setAttribute("data-image-check", JSON.stringify({total: imgs.length, broken: broken}));
});
</script>"""


def _chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess:
    """Run headless Chromium with the network disabled."""
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}",
             "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9", "--hide-scrollbars"]
    return subprocess.run([str(CHROMIUM), *flags, *args], capture_output=True, text=True, timeout=120, check=False)


def _check_page(page: Path, tmp_path: Path) -> dict:
    """Screenshot the page, then dump the DOM of a copy with the image checker appended; return the check."""
    shot = tmp_path / f"{page.stem}.png"
    _chromium(["--window-size=1280,1600", f"--screenshot={shot}", page.as_uri()], tmp_path / "profile")
    assert shot.is_file() and shot.stat().st_size > 5000, f"no screenshot of {page}"
    probe = page.with_name(f"probe_{page.name}")
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", CHECKER + "</body>"), encoding="utf-8")
    done = _chromium(["--virtual-time-budget=5000", "--dump-dom", probe.as_uri()], tmp_path / "profile")
    found = re.search(r'data-image-check="([^"]+)"', done.stdout)
    assert found, f"the checker did not run on {page}: {done.stderr[-500:]}"
    return json.loads(found.group(1).replace("&quot;", '"'))


def test_index_page_images_load(fake_tree, populate_reports, tmp_path):
    root, _ = fake_tree
    reports = tmp_path / "reports"
    populate_reports(reports)
    index = build_index(reports, reports / "index.html", config={"synthetic": True, "preset": "browser"},
                        results_dir=root / "results")
    check = _check_page(index, tmp_path)
    assert check["total"] >= 10 and check["broken"] == []


def test_rendered_notebook_images_load(tiny_png, tmp_path):
    png = base64.b64encode(tiny_png).decode()
    book = new_notebook(cells=[
        new_markdown_cell("# A report page"),
        new_code_cell("show()", outputs=[new_output("display_data", data={"image/png": png, "text/plain": "<img>"})]),
    ])
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    book.metadata["language_info"] = {"name": "python"}
    nbformat.write(book, tmp_path / "page.ipynb")
    page = render_html(tmp_path / "page.ipynb", tmp_path / "site" / "page.html")
    check = _check_page(page, tmp_path)
    assert check["total"] == 1 and check["broken"] == []


WIDTH_PROBE = """<script>
window.addEventListener("load", () => {
  document.body.setAttribute("data-width-check", JSON.stringify({
    scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth}));
});
</script>"""


def _probe(page: Path, tmp_path: Path, script: str, attribute: str) -> dict:
    """Load `page` with `script` appended in headless Chromium (1280-pixel window) and read back the JSON the script
    sets on the body's `attribute`."""
    probe = page.with_name(f"{attribute}_{page.name}")
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", script + "</body>"), encoding="utf-8")
    done = _chromium(["--window-size=1280,1600", "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()],
                     tmp_path / "profile")
    found = re.search(rf'{attribute}="([^"]+)"', done.stdout)
    assert found, f"the {attribute} probe did not run on {page}: {done.stderr[-500:]}"
    return json.loads(found.group(1).replace("&quot;", '"'))


def page_width(page: Path, tmp_path: Path) -> dict:
    """scrollWidth and clientWidth of a page in headless Chromium with a 1280-pixel window."""
    return _probe(page, tmp_path, WIDTH_PROBE, "data-width-check")


@pytest.mark.e2e
@pytest.mark.parametrize("nb", ["03_verification", "04_ijb", "06_ablations", "07_geometry"])
def test_pages_are_no_wider_than_the_window(fake_tree, executed_notebook, nb, tmp_path):
    """The widest pages (long tables, many runs), rendered from the fake tree, fit a 1280-pixel window: wide tables
    scroll inside their own container."""
    from x2softmax.report.style import write_stylesheet

    root, _ = fake_tree
    site = root / "reports"
    write_stylesheet(site / "style.css")
    page = render_html(executed_notebook(nb), site / f"{nb}.html")
    width = page_width(page, tmp_path)
    assert width["scroll"] <= 1280 and width["scroll"] <= width["client"] + 1, width


def test_the_width_check_catches_a_planted_wide_table(tmp_path):
    from x2softmax.report.style import write_stylesheet

    write_stylesheet(tmp_path / "style.css")
    cells = "".join(f"<td>column_{i}_with_a_long_value</td>" for i in range(60))
    page = tmp_path / "wide.html"
    page.write_text(f'<html><head><link rel="stylesheet" href="style.css"></head><body><table><tr>{cells}</tr>'
                    "</table></body></html>")
    assert page_width(page, tmp_path)["scroll"] > 1280
    contained = tmp_path / "contained.html"
    contained.write_text(page.read_text().replace("<table>", '<div class="table-scroll"><table>')
                         .replace("</table>", "</table></div>"))
    assert page_width(contained, tmp_path)["scroll"] <= 1280


def test_the_index_is_no_wider_than_the_window(fake_tree, populate_reports, tmp_path):
    """The index's tables (protocols, runs, software) wrap their text: the page fits a 1280-pixel window."""
    from x2softmax.report.style import write_stylesheet

    root, _ = fake_tree
    reports = tmp_path / "reports"
    populate_reports(reports)
    write_stylesheet(reports / "style.css")
    index = build_index(reports, reports / "index.html", config={"synthetic": True, "preset": "browser"},
                        results_dir=root / "results")
    assert page_width(index, tmp_path)["scroll"] <= 1280
    planted = index.with_name("planted.html")  # the same page with its tables not wrapping is too wide
    planted.write_text(index.read_text(encoding="utf-8").replace('class="wrap"', ""), encoding="utf-8")
    assert page_width(planted, tmp_path)["scroll"] > 1280


KEY_PROBE = """<script>
window.addEventListener("load", () => {
  const box = document.querySelector(".table-scroll");
  box.scrollLeft = box.scrollWidth;
  const key = document.querySelector(".table-scroll td").getBoundingClientRect();
  document.body.setAttribute("data-key-check", JSON.stringify({
    key_left: key.left, box_left: box.getBoundingClientRect().left, scrolled: box.scrollLeft}));
});
</script>"""


def _key_column_after_scrolling(page: Path, tmp_path: Path) -> dict:
    """Where the first cell of a scrolling table sits once its container is scrolled all the way right."""
    return _probe(page, tmp_path, KEY_PROBE, "data-key-check")


def test_a_wide_table_keeps_its_identifying_column_visible(tmp_path):
    """Scrolled to its last column, a wide table still shows its first (identifying) column; a stylesheet without
    the fixed column loses it."""
    import pandas as pd

    from x2softmax.report.style import CSS, write_stylesheet
    from x2softmax.report.tables import table_html

    frame = pd.DataFrame({"run": ["x2softmax", "arcface"], **{f"benchmark_{i} 10fold": [90.0, 91.0] for i in range(40)}})
    write_stylesheet(tmp_path / "style.css")
    page = tmp_path / "wide.html"
    page.write_text(f'<html><head><link rel="stylesheet" href="style.css"></head><body>{table_html(frame)}</body>'
                    "</html>")
    kept = _key_column_after_scrolling(page, tmp_path)
    assert kept["scrolled"] > 1000 and kept["key_left"] >= kept["box_left"] - 1, kept
    (tmp_path / "style.css").write_text(CSS.replace("position: sticky; left: 0;", ""), encoding="utf-8")
    lost = _key_column_after_scrolling(page, tmp_path)
    assert lost["key_left"] < lost["box_left"] - 100, lost
