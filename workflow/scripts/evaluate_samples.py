"""Rule evaluate_samples: annotator KL to uniform, class shares and annotator FID."""

from advtail.metrics.generation import evaluate_samples
from advtail.workflow.logs import rule_log

with rule_log(snakemake.log[0]):
    evaluate_samples(
        snakemake.input.samples,
        snakemake.input.annotator,
        snakemake.input.reference,
        snakemake.output.metrics,
        device=snakemake.config["device"],
        threads=snakemake.threads,
    )
