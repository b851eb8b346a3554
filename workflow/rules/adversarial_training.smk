# Adversarial training (PGD-AT, REAT): the classifiers train in rule train_classifier
# and are attacked in rule evaluate_robustness like every other; these rules gather
# what is particular to them, from their training logs.


rule adversarial_training_table:
    input:
        lib=lib_sources("adversarial_training_table.py"),
        metrics=adversarial_training_metrics,
        logs=[f"{classifier_dir(name)}/log.csv" for name in ADVERSARIAL],
    output:
        report(
            "results/tables/adversarial_training.csv",
            caption="../report/adversarial_training.rst",
            category="Tables (CSV)",
            subcategory="Adversarial training",
        ),
        summary=report(
            "results/tables/adversarial_training_summary.csv",
            caption="../report/adversarial_training_summary.rst",
            category="Tables (CSV)",
            subcategory="Adversarial training",
        ),
    log:
        "results/logs/adversarial_training_table.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        experiment=config["experiment"],
        replicates=canonical(REPLICATES["classifiers"]),
    script:
        "../scripts/adversarial_training_table.py"


rule figure_adversarial_training_predictions:
    input:
        lib=lib_sources("adversarial_training_figure.py"),
        logs=[f"{classifier_dir(name)}/log.csv" for name in ADVERSARIAL],
        metas=[f"{classifier_dir(name)}/meta.json" for name in ADVERSARIAL],
    output:
        report(
            "results/figures/adversarial_training_predictions.png",
            caption="../report/adversarial_training_predictions.rst",
            category="Adversarial training",
        ),
    log:
        "results/logs/figures/adversarial_training_predictions.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        methods=[REPLICATES["classifiers"][name]["method"] for name in ADVERSARIAL],
    script:
        "../scripts/adversarial_training_figure.py"
