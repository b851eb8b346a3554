"""Rule robust_gan_table: cost (discriminator passes, seconds per generator step) and
validation FID of the GANs with a class head (AC-GAN, Rob-GAN, Fast-RobGAN)."""

from advtail.stages.tables import robust_gan_table
from advtail.workflow.logs import rule_log

with rule_log(snakemake.log[0]):
    robust_gan_table(
        snakemake.input.logs,
        snakemake.input.metas,
        snakemake.output[0],
        snakemake.params.experiment,
        replicates=snakemake.params.replicates,
        out_summary=snakemake.output.summary,
    )
