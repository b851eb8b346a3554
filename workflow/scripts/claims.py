"""Rule claims: the configured claims computed from the results tables over seeds."""

from advtail.stages.claims import claims
from advtail.workflow.logs import rule_log

with rule_log(snakemake.log[0]):
    claims(
        dict(zip(snakemake.params.tables, snakemake.input.tables, strict=True)),
        snakemake.params.claims,
        snakemake.output[0],
        snakemake.output.pairs,
        snakemake.params.experiment,
    )
