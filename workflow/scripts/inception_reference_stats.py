"""Rule inception_reference_stats: Inception feature statistics of a real split, cached."""

from advtail.stages.inception_reference_stats import inception_reference_statistics
from advtail.workflow.logs import rule_log

with rule_log(snakemake.log[0]):
    inception_reference_statistics(
        snakemake.input.split,
        snakemake.output.stats,
        snakemake.input.weights,
        device=snakemake.config["device"],
        threads=snakemake.threads,
        batch_size=snakemake.params.batch_size,
    )
