# advtail: adversarial learning under class imbalance.
# Default experiment: `snakemake --cores all`. Layout and data flow: docs/architecture.md.
from snakemake.utils import min_version

# use rule ... with:, storage of rule outputs and the report layout as in Snakemake 9
min_version("9.0")


report: "workflow/report/workflow.rst"


# A config named with --configfile stands alone (a full-scale reproduction must not
# also run the default experiment); --config key=value still extends the default.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


include: "workflow/rules/common.smk"


wildcard_constraints:
    dataset="|".join(DATASETS),
    subset="|".join(SUBSETS),
    split="|".join(SPLITS),
    classifier="|".join(CLASSIFIERS) or "^$",
    gan="|".join(GANS) or "^$",
    threat="|".join(THREATS) or "^$",


include: "workflow/rules/data.smk"
include: "workflow/rules/classifiers.smk"
include: "workflow/rules/gans.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/robustness.smk"
include: "workflow/rules/adversarial_training.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/robust_gans.smk"
include: "workflow/rules/uaps.smk"
include: "workflow/rules/claims.smk"


rule all:
    default_target: True
    input:
        all_targets(),
        figure_targets(),


# Rules that only read tables and draw: they run where Snakemake runs, never as cluster
# jobs (a Slurm job per CSV would wait in the queue longer than it runs).
localrules:
    all,
    table_view,
    classifier_table,
    gan_table,
    robustness_table,
    adversarial_training_table,
    robust_gan_table,
    figure_fid_kl,
    figure_class_distribution,
    figure_validation_fid,
    figure_sample_grids,
    figure_robust_accuracy_groups,
    figure_adversarial_predictions,
    figure_accuracy_against_eps,
    figure_adversarial_examples,
    figure_adversarial_training_predictions,
    figure_robust_gan_fid,
    figure_robust_gan_accuracy_against_eps,
    figure_uap_fooling_rate,
    figure_uap_transfer,
    figure_uap_perturbations,
    claims,
    figure_claims,
