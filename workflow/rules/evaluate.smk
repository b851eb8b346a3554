# Evaluation of generated samples and the GAN table.


rule evaluate_samples:
    input:
        lib_sources("evaluate_samples.py"),
        samples="results/samples/{dataset}/{subset}/{gan}/samples.npz",
        annotator=gan_evaluation_annotator,
        reference="results/datasets/{dataset}/test.npz",
    output:
        metrics="results/samples/{dataset}/{subset}/{gan}/metrics.json",
    log:
        "results/logs/evaluate_samples/{dataset}/{subset}/{gan}.log",
    conda:
        ENV
    threads: 2
    resources:
        gpu=1,
        mem_mb=4000,
        runtime=60,
    script:
        "../scripts/evaluate_samples.py"


rule gan_table:
    input:
        lib_sources("gan_table.py"),
        metrics=sample_files("metrics.json"),
        meta=gan_files("meta.json"),
    output:
        report(
            "results/tables/gan_metrics.csv",
            caption="../report/gan_metrics.rst",
            category="GANs",
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
    script:
        "../scripts/gan_table.py"
