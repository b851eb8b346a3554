"""Rule prepare_dataset: canonical train / val / test files of one dataset."""

from advtail.data.sources import SPLITS
from advtail.stages.prepare_dataset import prepare_dataset
from advtail.workflow.logs import rule_log

with rule_log(snakemake.log[0]):
    prepare_dataset(
        snakemake.wildcards.dataset,
        snakemake.params.cfg,
        {split: snakemake.output[split] for split in SPLITS},
    )
