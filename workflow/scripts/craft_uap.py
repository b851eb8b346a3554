"""Rules craft_uap_*: one universal perturbation of one victim by one method."""

from advtail.stages.craft_uap import craft_uap
from advtail.workflow.logs import rule_log

with rule_log(snakemake.log[0]):
    craft_uap(
        snakemake.params.method,
        snakemake.params.cfg,
        snakemake.input.victim,
        snakemake.output.perturbation,
        snakemake.output.meta,
        crafting_path=snakemake.input.get("crafting"),
        seed=int(snakemake.wildcards.seed),
        device=snakemake.config["device"],
        threads=snakemake.threads,
    )
