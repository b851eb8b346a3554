"""Rules figure_uap_*: the universal-perturbation figures."""

from advtail.stages.uap_evaluation import uap_figure
from advtail.workflow.logs import rule_log

with rule_log(snakemake.log[0]):
    uap_figure(
        snakemake.params.figure,
        snakemake.input,
        snakemake.output[0],
        {key: snakemake.params.get(key) for key in ("methods", "victim", "eps")},
    )
