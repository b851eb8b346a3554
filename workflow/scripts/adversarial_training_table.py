"""Rule adversarial_training_table: robust accuracy by group of the adversarially trained
classifiers (and the others of their threat), with where their adversarial examples land."""

from advtail.stages.tables import adversarial_training_table
from advtail.workflow.logs import rule_log

with rule_log(snakemake.log[0]):
    adversarial_training_table(
        snakemake.input.metrics,
        snakemake.input.logs,
        snakemake.output[0],
        snakemake.params.experiment,
        replicates=snakemake.params.replicates,
        out_summary=snakemake.output.summary,
    )
