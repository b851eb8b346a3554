"""Rule fid_reference_stats: feature mean and covariance of a real split, cached."""

from advtail.stages.fid_reference_stats import compute_reference_statistics
from advtail.workflow.logs import rule_log

with rule_log(snakemake.log[0]):
    backbone = snakemake.wildcards.backbone
    compute_reference_statistics(
        snakemake.input.split,
        snakemake.output.stats,
        "inception" if backbone == "inception" else "annotator",
        annotator_path=snakemake.input.get("classifier"),
        inception_weights=snakemake.input.get("weights"),
        device=snakemake.config["device"],
        threads=snakemake.threads,
        batch_size=snakemake.params.batch_size,
    )
