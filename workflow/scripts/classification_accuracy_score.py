"""Rule classification_accuracy_score: train on a GAN's samples, test on real data."""

from pathlib import Path

from advtail.stages.classification_accuracy_score import classification_accuracy_score
from advtail.workflow.logs import rule_log

with rule_log(snakemake.log[0]):
    classification_accuracy_score(
        snakemake.params.cas["name"],
        snakemake.params.cas["recipe"],
        snakemake.input.samples,
        snakemake.input.val,
        snakemake.input.test,
        Path(snakemake.output.metrics).parent,
        snakemake.params.checkpoint,
        device=snakemake.config["device"],
        threads=snakemake.threads,
        # the checkpoint resumes unless one of these (the rule's lib inputs) changed
        code_files=snakemake.input.lib,
    )
