"""Rule figure_claims: the claims' forest plot."""

from advtail.stages.claim_figures import claims_figure
from advtail.workflow.logs import rule_log

with rule_log(snakemake.log[0]):
    claims_figure(snakemake.input.claims, snakemake.input.pairs, snakemake.output[0])
