"""A results table as a web page, for the report (Snakemake's report shows a CSV only as
a download; an HTML file it shows inline).

Numbers are rounded to four significant digits (the CSV keeps them whole), numeric
columns are right-aligned, and the header row and the first column stay in view while
a wide table scrolls.
"""

from __future__ import annotations

import html
import math

import pandas as pd

STYLE = """
body { font: 13px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 8px; color: #222; }
h1 { font-size: 15px; margin: 0 0 4px; }
p.about { margin: 0 0 8px; color: #555; }
div.scroll { overflow: auto; max-height: 88vh; border: 1px solid #ccc; }
table { border-collapse: collapse; }
th, td { padding: 3px 8px; white-space: nowrap; border-bottom: 1px solid #e4e4e4; }
th { position: sticky; top: 0; background: #eef1f5; text-align: left; z-index: 1; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr:nth-child(even) td { background: #fafafa; }
th:first-child, td:first-child { position: sticky; left: 0; background: #f6f7f9; z-index: 2; }
th:first-child { z-index: 3; }
"""


def format_cell(value) -> str:
    """A cell as text: empty for a missing value, four significant digits for a float."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else f"{value:.4g}"
    return str(value)


def table_html(frame: pd.DataFrame, title: str, about: str = "") -> str:
    """``frame`` as a standalone HTML page with ``title`` and a line ``about`` it."""
    numeric = [pd.api.types.is_numeric_dtype(frame[c]) for c in frame.columns]
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for record in frame.itertuples(index=False):
        cells = "".join(
            f'<td class="num">{html.escape(format_cell(v))}</td>'
            if is_num
            else f"<td>{html.escape(format_cell(v))}</td>"
            for v, is_num in zip(record, numeric, strict=True)
        )
        rows.append(f"<tr>{cells}</tr>")
    about = about or f"{len(frame)} rows, {len(frame.columns)} columns"
    return (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p class='about'>{html.escape(about)}</p>"
        f"<div class='scroll'><table><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div></body></html>\n"
    )
