"""Rule finetune_discriminator: a robust GAN's discriminator fine-tuned into a classifier."""

from advtail.stages.finetune_discriminator import finetune_discriminator
from advtail.workflow.logs import rule_log

with rule_log(snakemake.log[0]):
    finetune_discriminator(
        snakemake.wildcards.classifier,
        snakemake.params.cfg,
        snakemake.input.train,
        snakemake.input.val,
        snakemake.input.discriminator,
        snakemake.input.generator,
        snakemake.output.model,
        snakemake.output.log_csv,
        snakemake.output.meta,
        snakemake.params.checkpoint,
        device=snakemake.config["device"],
        threads=snakemake.threads,
        # the checkpoint resumes unless one of these (the rule's lib inputs) changed
        code_files=snakemake.input.lib,
    )
