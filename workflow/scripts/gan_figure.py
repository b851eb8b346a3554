"""Rules of results/figures/*.png: one figure of the GAN experiments each.

Inputs that are lists (one file per GAN or subset) are paired with params.labels.
"""

from advtail.plots.gans import figure_from_files
from advtail.workflow.logs import rule_log

with rule_log(snakemake.log[0]):
    labels = snakemake.params.labels
    inputs = {
        key: dict(zip(labels[key], snakemake.input[key], strict=True))
        if key in labels
        else snakemake.input[key]
        for key in snakemake.input.keys()
    }
    figure_from_files(snakemake.params.figure, inputs, snakemake.output[0])
