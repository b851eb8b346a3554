"""Rules of the robustness figures: one figure each."""

from advtail.stages.robustness_figures import robustness_figure
from advtail.workflow.logs import rule_log

with rule_log(snakemake.log[0]):
    robustness_figure(
        snakemake.params.figure,
        {key: snakemake.input[key] for key in snakemake.input.keys()},
        snakemake.output[0],
        threat=snakemake.params.threat,
        attack=snakemake.params.attack,
        labels=snakemake.params.labels,
    )
