# GAN stage: train (resumable), then draw samples from the chosen generator.


rule train_gan:
    input:
        lib=lib_sources("train_gan.py"),
        subset=gan_subset_file,
        subset_meta=sidecar(gan_subset_file),
        in_loop=gan_in_loop_model,
        annotator=gan_annotator_model,
        reference_stats=gan_validation_stats,
    output:
        generator="results/gans/{dataset}/{subset}/{gan}/generator.pt",
        discriminator="results/gans/{dataset}/{subset}/{gan}/discriminator.pt",
        log_csv="results/gans/{dataset}/{subset}/{gan}/log.csv",
        cycles="results/gans/{dataset}/{subset}/{gan}/cycles.csv",
        meta="results/gans/{dataset}/{subset}/{gan}/meta.json",
    log:
        "results/logs/train_gan/{dataset}/{subset}/{gan}.log",
    conda:
        ENV
    threads: NET_THREADS
    resources:
        gpu=GPU,
        mem_mb=8000,
        runtime=1440,
    params:
        cfg=gan_config,
        # outside the outputs: a failed or interrupted job keeps it, a rerun resumes
        checkpoint="results/checkpoints/gans/{dataset}/{subset}/{gan}/last.pt",
    script:
        "../scripts/train_gan.py"


rule generate_samples:
    input:
        lib=lib_sources("generate_samples.py"),
        generator=rules.train_gan.output.generator,
        labeller=gan_labeller_model,
    output:
        samples="results/samples/{dataset}/{subset}/{gan}/samples.npz",
        meta="results/samples/{dataset}/{subset}/{gan}/samples.json",
        grid=report(
            "results/samples/{dataset}/{subset}/{gan}/grid.png",
            caption="../report/grid.rst",
            category="Samples",
            labels={"gan": "{gan}", "subset": "{subset}"},
        ),
    log:
        "results/logs/generate_samples/{dataset}/{subset}/{gan}.log",
    conda:
        ENV
    threads: NET_THREADS
    resources:
        gpu=GPU,
        mem_mb=4000,
        runtime=60,
    params:
        samples=gan_samples_config,
    script:
        "../scripts/generate_samples.py"
