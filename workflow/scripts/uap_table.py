"""Rule uap_table: every perturbation on every victim's test split (the transfer matrix)."""

from advtail.stages.uap_evaluation import uap_tables
from advtail.workflow.logs import rule_log

with rule_log(snakemake.log[0]):
    uap_tables(
        snakemake.input.perturbations,
        snakemake.input.metas,
        snakemake.params.seeds,
        snakemake.params.victims,
        snakemake.params.methods,
        snakemake.input.victims,
        snakemake.input.test,
        snakemake.output[0],
        snakemake.output.per_class,
        snakemake.output.summary,
        device=snakemake.config["device"],
        threads=snakemake.threads,
        eps=snakemake.params.eps,
    )
