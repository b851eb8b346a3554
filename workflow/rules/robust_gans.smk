# Robust GANs (Rob-GAN, Fast-RobGAN): they train in rule train_gan like every GAN; here
# their discriminators are fine-tuned into classifiers (which rule evaluate_robustness
# attacks like every other), and their cost and validation FID are compared.


rule finetune_discriminator:
    input:
        lib=lib_sources("finetune_discriminator.py"),
        train=classifier_subset_file,
        train_meta=sidecar(classifier_subset_file),
        val=rules.prepare_dataset.output.val,
        val_meta=rules.prepare_dataset.output.val_meta,
        discriminator=finetuned_gan_file("discriminator.pt"),
        generator=finetuned_gan_file("generator.pt"),
    output:
        model="results/classifiers/{dataset}/{subset}/{classifier}/model.pt",
        log_csv="results/classifiers/{dataset}/{subset}/{classifier}/log.csv",
        meta="results/classifiers/{dataset}/{subset}/{classifier}/meta.json",
    log:
        "results/logs/finetune_discriminator/{dataset}/{subset}/{classifier}.log",
    wildcard_constraints:
        classifier=names_pattern(FINETUNED),
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
        "../scripts/finetune_discriminator.py"


rule robust_gan_table:
    input:
        lib=lib_sources("robust_gan_table.py"),
        logs=gan_files("log.csv", ROBUST_GAN_COMPARISON),
        metas=gan_files("meta.json", ROBUST_GAN_COMPARISON),
    output:
        report(
            "results/tables/robust_gans.csv",
            caption="../report/robust_gans.rst",
            category="Tables (CSV)",
            subcategory="Robust GANs",
        ),
        summary=report(
            "results/tables/robust_gans_summary.csv",
            caption="../report/robust_gans_summary.rst",
            category="Tables (CSV)",
            subcategory="Robust GANs",
        ),
    log:
        "results/logs/robust_gan_table.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        experiment=config["experiment"],
        replicates=canonical(REPLICATES["gans"]),
    script:
        "../scripts/robust_gan_table.py"


use rule figure_fid_kl as figure_robust_gan_fid with:
    input:
        lib=lib_sources("gan_figure.py"),
        logs=gan_files("log.csv", ROBUST_GAN_COMPARISON),
        meta=gan_files("meta.json", ROBUST_GAN_COMPARISON),
    output:
        report(
            "results/figures/robust_gan_fid.png",
            caption="../report/robust_gan_fid.rst",
            category="Robust GANs",
        ),
    log:
        "results/logs/figures/robust_gan_fid.log",
    params:
        figure="validation_fid",
        labels={"logs": ROBUST_GAN_COMPARISON, "meta": ROBUST_GAN_COMPARISON},
        replicates=canonical(REPLICATES["gans"]),


use rule figure_robust_accuracy_groups as figure_robust_gan_accuracy_against_eps with:
    output:
        report(
            "results/figures/robust_gan_accuracy_against_eps.png",
            caption="../report/robust_gan_accuracy_against_eps.rst",
            category="Robust GANs",
        ),
    log:
        "results/logs/figures/robust_gan_accuracy_against_eps.log",
    params:
        figure="accuracy_against_eps",
        threat=FIGURE_THREAT,
        attack=FIGURE_ATTACK,
        labels={"methods": DISCRIMINATOR_METHODS},
