# Classifier stage: train (resumable), evaluate on the test split, gather the table.


rule train_classifier:
    input:
        lib=lib_sources("train_classifier.py"),
        train=classifier_subset_file,
        train_meta=sidecar(classifier_subset_file),
        val=rules.prepare_dataset.output.val,
        val_meta=rules.prepare_dataset.output.val_meta,
    output:
        model="results/classifiers/{dataset}/{subset}/{classifier}/model.pt",
        log_csv="results/classifiers/{dataset}/{subset}/{classifier}/log.csv",
        meta="results/classifiers/{dataset}/{subset}/{classifier}/meta.json",
    log:
        "results/logs/train_classifier/{dataset}/{subset}/{classifier}.log",
    wildcard_constraints:
        # the others are fine-tuned discriminators (rule finetune_discriminator)
        classifier=names_pattern(TRAINED),
    conda:
        ENV
    threads: NET_THREADS
    resources:
        gpu=GPU,
        mem_mb=8000,
        runtime=720,
    params:
        cfg=classifier_config,
        # outside the outputs: a failed or interrupted job keeps it, a rerun resumes
        checkpoint="results/checkpoints/classifiers/{dataset}/{subset}/{classifier}/last.pt",
    script:
        "../scripts/train_classifier.py"


rule evaluate_classifier:
    input:
        lib=lib_sources("evaluate_classifier.py"),
        model=rules.train_classifier.output.model,
        test=rules.prepare_dataset.output.test,
        test_meta=rules.prepare_dataset.output.test_meta,
    output:
        metrics="results/classifiers/{dataset}/{subset}/{classifier}/metrics.json",
        confusion="results/classifiers/{dataset}/{subset}/{classifier}/confusion.csv",
    log:
        "results/logs/evaluate_classifier/{dataset}/{subset}/{classifier}.log",
    conda:
        ENV
    threads: NET_THREADS
    resources:
        gpu=GPU,
        mem_mb=4000,
        runtime=30,
    script:
        "../scripts/evaluate_classifier.py"


rule classifier_table:
    input:
        lib=lib_sources("classifier_table.py"),
        metrics=classifier_files("metrics.json"),
    output:
        report(
            "results/tables/classifiers.csv",
            caption="../report/classifiers.rst",
            category="Tables (CSV)",
            subcategory="Classifiers",
        ),
        summary=report(
            "results/tables/classifiers_summary.csv",
            caption="../report/classifiers_summary.rst",
            category="Tables (CSV)",
            subcategory="Classifiers",
        ),
    log:
        "results/logs/classifier_table.log",
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
        "../scripts/classifier_table.py"
