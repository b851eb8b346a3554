# Evaluation of generated samples: reference statistics, FID/IS/KL, CAS, the GAN table.


rule fid_reference_stats:
    input:
        lib=lib_sources("fid_reference_stats.py"),
        split="results/datasets/{dataset}/{split}.npz",
        split_meta="results/datasets/{dataset}/{split}.json",
        classifier=lambda wildcards: classifier_model(wildcards.classifier),
    output:
        stats="results/fid_stats/{dataset}/{split}/classifier-{classifier}.npz",
    log:
        "results/logs/fid_reference_stats/{dataset}/{split}/classifier-{classifier}.log",
    conda:
        ENV
    threads: NET_THREADS
    resources:
        gpu=GPU,
        mem_mb=8000,
        runtime=60,
    script:
        "../scripts/fid_reference_stats.py"


# A rule of its own: editing the Inception code reruns no GAN validated on the
# annotator's statistics.
rule inception_reference_stats:
    input:
        lib=lib_sources("inception_reference_stats.py"),
        split="results/datasets/{dataset}/{split}.npz",
        split_meta="results/datasets/{dataset}/{split}.json",
        weights=lambda wildcards: FID_BACKBONE.weights or [],
    output:
        stats="results/fid_stats/{dataset}/{split}/inception.npz",
    log:
        "results/logs/inception_reference_stats/{dataset}/{split}.log",
    conda:
        ENV
    threads: NET_THREADS
    resources:
        gpu=GPU,
        mem_mb=8000,
        runtime=60,
    params:
        batch_size=EVALUATION["batch_size"],
    script:
        "../scripts/inception_reference_stats.py"


rule evaluate_samples:
    input:
        unpack(evaluation_inputs),
        lib=lib_sources("evaluate_samples.py"),
        samples=rules.generate_samples.output.samples,
        samples_meta=rules.generate_samples.output.meta,
    output:
        metrics="results/samples/{dataset}/{subset}/{gan}/metrics.json",
    log:
        "results/logs/evaluate_samples/{dataset}/{subset}/{gan}.log",
    conda:
        ENV
    threads: NET_THREADS
    resources:
        gpu=GPU,
        mem_mb=8000,
        runtime=60,
    params:
        batch_size=EVALUATION["batch_size"],
    script:
        "../scripts/evaluate_samples.py"


rule classification_accuracy_score:
    input:
        lib=lib_sources("classification_accuracy_score.py"),
        samples=rules.generate_samples.output.samples,
        samples_meta=rules.generate_samples.output.meta,
        val=rules.prepare_dataset.output.val,
        val_meta=rules.prepare_dataset.output.val_meta,
        test=rules.prepare_dataset.output.test,
        test_meta=rules.prepare_dataset.output.test_meta,
    output:
        model="results/samples/{dataset}/{subset}/{gan}/cas/model.pt",
        log_csv="results/samples/{dataset}/{subset}/{gan}/cas/log.csv",
        meta="results/samples/{dataset}/{subset}/{gan}/cas/meta.json",
        metrics="results/samples/{dataset}/{subset}/{gan}/cas/metrics.json",
        confusion="results/samples/{dataset}/{subset}/{gan}/cas/confusion.csv",
    log:
        "results/logs/classification_accuracy_score/{dataset}/{subset}/{gan}.log",
    conda:
        ENV
    threads: NET_THREADS
    resources:
        gpu=GPU,
        mem_mb=8000,
        runtime=720,
    params:
        cas=gan_cas_config,
        checkpoint="results/checkpoints/cas/{dataset}/{subset}/{gan}/last.pt",
    script:
        "../scripts/classification_accuracy_score.py"


rule gan_table:
    input:
        lib=lib_sources("gan_table.py"),
        metrics=sample_files("metrics.json"),
        meta=gan_files("meta.json"),
        cas=sample_files("cas/metrics.json", cas_gans()),
    output:
        report(
            "results/tables/gan_metrics.csv",
            caption="../report/gan_metrics.rst",
            category="Tables (CSV)",
            subcategory="GANs",
        ),
        summary=report(
            "results/tables/gan_metrics_summary.csv",
            caption="../report/gan_metrics_summary.rst",
            category="Tables (CSV)",
            subcategory="GANs",
        ),
    log:
        "results/logs/gan_table.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        experiment=config["experiment"],
        subsets=canonical(config["subsets"]),
        replicates=canonical(REPLICATES["gans"]),
    script:
        "../scripts/gan_table.py"
