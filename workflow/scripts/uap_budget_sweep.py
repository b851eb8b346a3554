"""Rule uap_budget_sweep: the data-driven perturbation at each sweep budget, on its victim."""

from advtail.stages.uap_evaluation import uap_budget_sweep
from advtail.workflow.logs import rule_log

with rule_log(snakemake.log[0]):
    uap_budget_sweep(
        snakemake.input.perturbations,
        snakemake.input.metas,
        snakemake.params.budgets,
        snakemake.params.victims,
        snakemake.input.victims,
        snakemake.input.test,
        snakemake.output.table,
        snakemake.output.figure,
        seed=snakemake.params.seed,
        device=snakemake.config["device"],
        threads=snakemake.threads,
    )
