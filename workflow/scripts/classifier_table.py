"""Rule classifier_table: every classifier's test metrics in one CSV, and per method."""

from advtail.stages.tables import classifier_table
from advtail.workflow.logs import rule_log

with rule_log(snakemake.log[0]):
    classifier_table(
        snakemake.input.metrics,
        snakemake.output[0],
        snakemake.params.experiment,
        replicates=snakemake.params.replicates,
        out_summary=snakemake.output.summary,
    )
