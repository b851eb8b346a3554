"""Rule claims: each configured claim computed from the results tables over seeds
(``claims.csv``, and its per-seed pairs ``claims_pairs.csv``)."""

from __future__ import annotations

import logging

from advtail.errors import DataFileError
from advtail.metrics.claims import ClaimError, claims_table
from advtail.stages.tables import read_table, write_table

log = logging.getLogger(__name__)


def claims(tables: dict, claims_config: dict, out_csv, out_pairs, experiment: str):
    """Write ``claims.csv`` and ``claims_pairs.csv`` from the tables ``tables`` (name ->
    CSV path) for the claims of the config section ``claims``."""
    frames = {name: read_table(path) for name, path in tables.items()}
    try:
        table, pairs = claims_table(frames, claims_config, experiment)
    except ClaimError as err:
        raise DataFileError(tables[claims_config[err.claim]["table"]], str(err)) from None
    for row in table.itertuples():
        log.info(
            "claim %s: %s (held in %d of %d pairs, seeds %s)",
            row.claim,
            row.verdict,
            row.held,
            row.n_pairs,
            row.seeds,
        )
    write_table(table, out_csv)
    write_table(pairs, out_pairs)
    return table
