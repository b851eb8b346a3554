"""Rule make_subset: one subset of a dataset's train split, its counts table and chart."""

from advtail.stages.make_subset import make_subset
from advtail.workflow.logs import rule_log

with rule_log(snakemake.log[0]):
    make_subset(
        snakemake.wildcards.subset,
        snakemake.params.subsets,
        snakemake.input.train,
        snakemake.output.npz,
        snakemake.output.counts,
        snakemake.output.plot,
    )
