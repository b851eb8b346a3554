"""Rule table_view: one results table as a page of the report."""

from advtail.stages.table_views import write_table_view
from advtail.workflow.logs import rule_log

with rule_log(snakemake.log[0]):
    write_table_view(snakemake.input.table, snakemake.output[0], snakemake.params.title)
