"""Rule robustness_table: every classifier's robust accuracy per threat and attack."""

from advtail.stages.tables import robustness_table
from advtail.workflow.logs import rule_log

with rule_log(snakemake.log[0]):
    robustness_table(
        snakemake.input.metrics,
        snakemake.output[0],
        snakemake.params.experiment,
        replicates=snakemake.params.replicates,
        out_summary=snakemake.output.summary,
        recipes=snakemake.params.recipes,
        out_cards=snakemake.output.cards,
        out_cards_table=snakemake.output.cards_table,
    )
