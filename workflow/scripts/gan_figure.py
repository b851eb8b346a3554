"""Rules of results/figures/*.png: one figure of the GAN experiments each."""

from advtail.stages.figures import figure_from_files
from advtail.workflow.logs import rule_log

with rule_log(snakemake.log[0]):
    figure_from_files(
        snakemake.params.figure,
        {key: snakemake.input[key] for key in snakemake.input.keys()},
        snakemake.output[0],
        labels=snakemake.params.labels,
        replicates=snakemake.params.replicates,
    )
