"""Rule table_view: a results CSV as a web page the report shows inline."""

from __future__ import annotations

from pathlib import Path

from advtail.plots.tables import table_html
from advtail.stages.tables import read_table

# The tables the report shows as pages (rule table_view), with the report category of
# each; a table's caption is workflow/report/<name>.rst.
REPORT_TABLES = {
    "classifiers": "Classifiers",
    "classifiers_summary": "Classifiers",
    "gan_metrics": "GANs",
    "gan_metrics_summary": "GANs",
    "robustness": "Robustness",
    "robustness_summary": "Robustness",
    "adversarial_training": "Adversarial training",
    "adversarial_training_summary": "Adversarial training",
    "robust_gans": "Robust GANs",
    "robust_gans_summary": "Robust GANs",
    "uap": "Universal perturbations",
    "uap_summary": "Universal perturbations",
}


def report_table_pages(targets) -> list[str]:
    """The report pages of the tables among ``targets`` and of their summaries."""
    pages = []
    for target in targets:
        path = Path(target)
        if path.parent.as_posix() == "results/tables" and path.stem in REPORT_TABLES:
            pages += [
                f"results/tables/{name}.html"
                for name in (path.stem, f"{path.stem}_summary")
                if name in REPORT_TABLES
            ]
    return pages


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
