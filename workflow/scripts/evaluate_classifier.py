"""Rule evaluate_classifier: test-split metrics and confusion matrix of one classifier."""

from advtail.stages.evaluate_classifier import evaluate_classifier
from advtail.workflow.logs import rule_log

with rule_log(snakemake.log[0]):
    evaluate_classifier(
        snakemake.input.model,
        snakemake.input.test,
        snakemake.output.metrics,
        snakemake.output.confusion,
        device=snakemake.config["device"],
        threads=snakemake.threads,
    )
