"""Rule evaluate_robustness: one classifier under one threat model, every attack of it."""

from advtail.stages.evaluate_robustness import evaluate_robustness
from advtail.workflow.logs import rule_log

with rule_log(snakemake.log[0]):
    evaluate_robustness(
        snakemake.input.model,
        snakemake.input.test,
        snakemake.output.metrics,
        snakemake.output.examples,
        snakemake.wildcards.threat,
        snakemake.params.threat,
        device=snakemake.config["device"],
        threads=snakemake.threads,
    )
