"""Rule sample_prior_gan: crafting images from a UAP prior GAN's last-cycle generators."""

from advtail.stages.sample_prior_gan import sample_prior_gan
from advtail.workflow.logs import rule_log

with rule_log(snakemake.log[0]):
    sample_prior_gan(
        snakemake.input.snapshots,
        snakemake.input.victim,
        snakemake.params.samples,
        int(snakemake.wildcards.seed),
        snakemake.output.samples,
        device=snakemake.config["device"],
        threads=snakemake.threads,
    )
