"""Rule train_classifier: train one configured classifier, resuming from its checkpoint."""

from advtail.stages.train_classifier import train_classifier
from advtail.workflow.logs import rule_log

with rule_log(snakemake.log[0]):
    train_classifier(
        snakemake.wildcards.classifier,
        snakemake.params.cfg,
        snakemake.input.train,
        snakemake.input.val,
        snakemake.output.model,
        snakemake.output.log_csv,
        snakemake.output.meta,
        snakemake.params.checkpoint,
        device=snakemake.config["device"],
        threads=snakemake.threads,
        # the checkpoint resumes unless one of these (the rule's lib inputs) changed
        code_files=snakemake.input.lib,
    )
