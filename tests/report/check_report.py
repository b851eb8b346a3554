"""Open a Snakemake report in headless Chromium and check what a reader sees.

    python tests/report/check_report.py results/report.html [--screenshots DIR]

For the front page: the workflow description is shown. For every result: its caption
is shown in the result's information panel. For every table page (an HTML result):
the table renders inside the report with as many rows and columns as its CSV beside
it. For every figure: the smallest text in it, at the size the report shows the image
(the figure records its smallest text in its PNG; see advtail.plots.style), is at least
``MIN_TEXT_PX`` screen pixels. Prints one line per problem and exits 1 if there is one.

With ``--screenshots``, writes front_page.png and one screenshot of a table and of a
figure (README's report picture is the front page, taken this way).

Needs Chromium and its driver (Debian: ``apt-get install chromium chromium-driver``)
and the ``selenium`` package (the ``test`` extra).
"""

from __future__ import annotations

import argparse
import base64
import io
import shutil
import sys
import time
from pathlib import Path

# the smallest text a reader can make out, in CSS pixels at the report's size
MIN_TEXT_PX = 8.0
TITLE = "advtail: adversarial learning under class imbalance"
WINDOW = (1440, 960)


def find_browser() -> tuple[str, str] | None:
    """(chromium, chromedriver) paths, or None when either is missing."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return (chromium, driver) if chromium and driver else None


def open_browser(window=WINDOW):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    found = find_browser()
    if found is None:
        raise RuntimeError("needs chromium and chromedriver on the PATH")
    chromium, driver = found
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"):
        options.add_argument(flag)
    options.add_argument(f"--window-size={window[0]},{window[1]}")
    options.add_argument("--force-device-scale-factor=1")
    # the local driver: Selenium Manager would try to download one
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)


def _wait(browser, condition, timeout=30.0, what="the report"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = browser.execute_script(condition)
        if value:
            return value
        time.sleep(0.2)
    raise TimeoutError(f"{what} did not render within {timeout:.0f} s")


def _png_text_px(data_uri: str) -> float | None:
    from PIL import Image

    raw = base64.b64decode(data_uri.split(",", 1)[1])
    with Image.open(io.BytesIO(raw)) as png:
        value = png.info.get("advtail:min_font_px")
    return float(value) if value is not None else None


def _show(browser, path: str) -> None:
    browser.execute_script("new ToggleViewManager(app).handleSelectedResult(arguments[0]);", path)


def check_report(report: Path, screenshots: Path | None = None, root: Path | None = None):
    """Problems found in ``report`` (a list of lines; empty when it reads well).

    ``root``: where the report's result paths are relative to (its CSVs are read
    there); default the folder above ``results/``.
    """
    report = Path(report).resolve()
    root = Path(root) if root else report.parent.parent
    problems, seen = [], {"figures": 0, "tables": 0}
    browser = open_browser()
    try:
        browser.get(report.as_uri())
        _wait(browser, "return document.body && document.body.innerText.length > 200")
        front = browser.execute_script("return document.body.innerText")
        if TITLE not in front:
            problems.append("front page: the workflow description is not shown")
        if screenshots:
            screenshots.mkdir(parents=True, exist_ok=True)
            browser.save_screenshot(str(screenshots / "front_page.png"))
        results = browser.execute_script(
            "return Object.fromEntries(Object.entries(results).map("
            "([p, r]) => [p, {mime: r.mime_type, caption: r.caption || ''}]))"
        )
        categories = browser.execute_script("return categories")
        places = {
            path: (category, subcategory)
            for category, subcategories in categories.items()
            for subcategory, paths in subcategories.items()
            for path in paths
        }
        for path, result in sorted(results.items()):
            browser.execute_script("app.showResultInfo(arguments[0]);", path)
            info = _wait(browser, "return document.body.innerText", what=path)
            # the panel's heading is upper-cased by the report's style
            if not result["caption"].strip() or "description" not in info.lower():
                problems.append(f"{path}: no caption in its information panel")
            # then as a reader opens it: from its category's list of results
            category, subcategory = places[path]
            browser.execute_script(
                "app.setView({navbarMode: 'subcategory', category: arguments[0], "
                "subcategory: arguments[1]});",
                category,
                subcategory,
            )
            if result["mime"] == "image/png":
                seen["figures"] += 1
                problems += _check_figure(browser, path, screenshots)
            elif result["mime"] == "text/html":
                seen["tables"] += 1
                problems += _check_table(browser, path, root, screenshots)
        if not seen["figures"] or not seen["tables"]:
            problems.append(f"the report holds {seen['figures']} figures, {seen['tables']} tables")
    finally:
        browser.quit()
    return problems, seen


def _check_figure(browser, path, screenshots):
    _show(browser, path)
    size = _wait(
        browser,
        "const i = document.querySelector('img[src^=\"data:image/png\"]');"
        "return i && i.complete && i.naturalWidth ? [i.clientWidth, i.naturalWidth] : null;",
        what=path,
    )
    data_uri = browser.execute_script("return results[arguments[0]].data_uri", path)
    text_px = _png_text_px(data_uri)
    if text_px is None:
        return [f"{path}: records no text size (not drawn by advtail.plots.style)"]
    shown = text_px * size[0] / size[1]
    if screenshots and path.endswith("sample_grids.png"):
        browser.save_screenshot(str(screenshots / "figure.png"))
    if shown < MIN_TEXT_PX:
        return [
            f"{path}: smallest text {shown:.1f} px as shown ({size[1]} px wide image shown "
            f"at {size[0]} px); at least {MIN_TEXT_PX:g} px needed"
        ]
    return []


def _check_table(browser, path, root, screenshots):
    import pandas as pd

    _show(browser, path)
    _wait(browser, "return document.querySelector('iframe')", what=path)
    browser.switch_to.frame(browser.find_element("css selector", "iframe"))
    try:
        shape = _wait(
            browser,
            "const t = document.querySelector('table');"
            "return t ? [t.tBodies[0].rows.length, t.tHead.rows[0].cells.length] : null;",
            what=path,
        )
        font = browser.execute_script(
            "return parseFloat(getComputedStyle(document.querySelector('td')"
            " || document.body).fontSize)"
        )
    finally:
        browser.switch_to.default_content()
    if screenshots and path.endswith("classifiers.html"):
        browser.save_screenshot(str(screenshots / "table.png"))
    csv = root / Path(path).with_suffix(".csv")
    problems = []
    if csv.is_file():
        frame = pd.read_csv(csv)
        if list(shape) != [len(frame), len(frame.columns)]:
            problems.append(
                f"{path}: shows {shape[0]} rows x {shape[1]} columns, its CSV has "
                f"{len(frame)} x {len(frame.columns)}"
            )
    else:
        problems.append(f"{path}: no CSV beside it ({csv})")
    if font < MIN_TEXT_PX:
        problems.append(f"{path}: table text {font:g} px")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("report", type=Path)
    parser.add_argument("--screenshots", type=Path)
    args = parser.parse_args(argv)
    problems, seen = check_report(args.report, args.screenshots)
    for line in problems:
        print(line)
    print(
        f"{args.report}: {seen['figures']} figures and {seen['tables']} tables checked, "
        f"{len(problems)} problems"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
