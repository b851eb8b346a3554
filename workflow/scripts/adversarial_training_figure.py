"""Rule figure_adversarial_training_predictions: where each method's training adversarial
examples are predicted, epoch by epoch (REAT Fig. 1)."""

from advtail.stages.robustness_figures import adversarial_training_figure
from advtail.workflow.logs import rule_log

with rule_log(snakemake.log[0]):
    adversarial_training_figure(
        snakemake.input.logs,
        snakemake.input.metas,
        snakemake.output[0],
        snakemake.params.methods,
    )
