"""Rule fid_reference_stats: the annotator's feature statistics of a real split, cached."""

from advtail.stages.fid_reference_stats import annotator_reference_statistics
from advtail.workflow.logs import rule_log

with rule_log(snakemake.log[0]):
    annotator_reference_statistics(
        snakemake.input.split,
        snakemake.output.stats,
        snakemake.input.classifier,
        device=snakemake.config["device"],
        threads=snakemake.threads,
    )
