"""Rule gan_table: every GAN's sample metrics and CAS in one CSV, and per method."""

from advtail.stages.tables import gan_table
from advtail.workflow.logs import rule_log

with rule_log(snakemake.log[0]):
    gan_table(
        snakemake.input.metrics,
        snakemake.input.meta,
        snakemake.output[0],
        snakemake.params.experiment,
        cas_paths=snakemake.input.cas,
        subsets=snakemake.params.subsets,
        replicates=snakemake.params.replicates,
        out_summary=snakemake.output.summary,
    )
