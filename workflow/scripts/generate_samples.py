"""Rule generate_samples: samples of one trained GAN, labelled, and a grid by class."""

from advtail.stages.generate_samples import generate_samples
from advtail.workflow.logs import rule_log

with rule_log(snakemake.log[0]):
    generate_samples(
        snakemake.input.generator,
        snakemake.params.samples["count"],
        snakemake.output.samples,
        snakemake.output.grid,
        seed=snakemake.params.samples["seed"],
        labeller_path=snakemake.input.labeller or None,
        device=snakemake.config["device"],
        threads=snakemake.threads,
    )
