"""The names the rules are built from: methods, figures and report tables.

Torch-free, matplotlib-free and pandas-free on purpose: the Snakefile reads them on every
``snakemake`` call (a no-op, a dry run, a cluster submission), and reading the workflow
must cost nothing. The stages that make these outputs import their names from here.
"""

from __future__ import annotations

from pathlib import Path

# the universal perturbations' crafting methods (one rule each)
UAP_METHODS = ("data_free", "entropy_only", "prior_images", "data_driven", "deepfool", "random")
UAP_FIGURES = ("uap_perturbations", "uap_fooling_rate", "uap_transfer")
ROBUSTNESS_FIGURES = (
    "robust_accuracy_groups",
    "adversarial_predictions",
    "accuracy_against_eps",
    "adversarial_examples",
)

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
    "claims": "Claims",
    "claims_pairs": "Claims",
}


def report_table_pages(targets) -> list[str]:
    """The report pages of the tables among ``targets`` and of their companions (the
    tables named after them: ``<name>_summary``, ``claims_pairs``)."""
    pages = []
    for target in targets:
        path = Path(target)
        if path.parent.as_posix() == "results/tables" and path.stem in REPORT_TABLES:
            pages += [
                f"results/tables/{name}.html"
                for name in REPORT_TABLES
                if name == path.stem or name.startswith(f"{path.stem}_")
            ]
    return pages


def claim_premises(claim: dict) -> list[dict]:
    """A claim's premise conditions (its ``premise``: one, or a list)."""
    premise = claim.get("premise")
    if not premise:
        return []
    return list(premise) if isinstance(premise, list) else [premise]


def claim_tables(claims: dict) -> list[str]:
    """The results tables the claims read (their own and their premises')."""
    names = set()
    for claim in claims.values():
        names.add(claim["table"])
        names.update(p.get("table", claim["table"]) for p in claim_premises(claim))
    return sorted(names)
