"""Rule train_gan: train one configured GAN, resuming from its checkpoint."""

from advtail.stages.train_gan import train_gan
from advtail.workflow.logs import rule_log

with rule_log(snakemake.log[0]):
    train_gan(
        snakemake.wildcards.gan,
        snakemake.params.cfg,
        snakemake.input.subset,
        snakemake.input.reference_stats or None,
        snakemake.output.generator,
        snakemake.output.log_csv,
        snakemake.output.cycles,
        snakemake.output.meta,
        snakemake.params.checkpoint,
        out_discriminator=snakemake.output.discriminator,
        in_loop_path=snakemake.input.in_loop or None,
        annotator_path=snakemake.input.annotator or None,
        device=snakemake.config["device"],
        threads=snakemake.threads,
        # the checkpoint resumes unless one of these (the rule's lib inputs) changed
        code_files=snakemake.input.lib,
        # a UAP prior GAN (rule train_prior_gan): its in-loop classifier is the victim
        prior=snakemake.params.get("prior", False),
        out_snapshots=snakemake.output.get("snapshots"),
    )
