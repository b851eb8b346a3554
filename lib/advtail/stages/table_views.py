"""Rule table_view: a results CSV as a web page the report shows inline."""

from __future__ import annotations

from pathlib import Path

from advtail.plots.tables import table_html
from advtail.stages.tables import read_table


def write_table_view(table_path, out_html, title: str | None = None) -> int:
    """Write the table at ``table_path`` as an HTML page; returns its row count."""
    frame = read_table(table_path)
    title = title or Path(table_path).name
    Path(out_html).parent.mkdir(parents=True, exist_ok=True)
    Path(out_html).write_text(
        table_html(
            frame,
            title,
            f"{Path(table_path).name}: "
            f"{len(frame)} rows, {len(frame.columns)} columns; "
            "numbers rounded to 4 significant digits here",
        )
    )
    return len(frame)
