"""Rule evaluate_samples: KL to uniform, class shares, FID and IS of a GAN's samples."""

from advtail.stages.evaluate_samples import evaluate_samples
from advtail.workflow.logs import rule_log

with rule_log(snakemake.log[0]):
    evaluate_samples(
        snakemake.input.samples,
        snakemake.input.annotator,
        snakemake.input.annotator_stats,
        snakemake.output.metrics,
        inception_weights=snakemake.input.get("weights"),
        inception_stats=snakemake.input.get("inception_stats"),
        device=snakemake.config["device"],
        threads=snakemake.threads,
        batch_size=snakemake.params.batch_size,
    )
