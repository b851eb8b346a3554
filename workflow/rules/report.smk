# Figures of the GAN experiments: each results/figures/<name>.png is a target on its own.

FIGURE_LOG = "results/logs/figures/{}.log"


rule figure_class_distribution:
    input:
        lib_sources("gan_figure.py"),
        table="results/tables/gan_metrics.csv",
        counts=[subset_files(s, ("counts.csv",))[0] for s in gan_subsets()],
    output:
        report(
            "results/figures/class_distribution.png",
            caption="../report/class_distribution.rst",
            category="Figures",
        ),
    log:
        FIGURE_LOG.format("class_distribution"),
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        figure="class_distribution",
        labels={"counts": gan_subsets()},
        replicates=canonical(REPLICATES["gans"]),
    script:
        "../scripts/gan_figure.py"


rule figure_fid_kl:
    input:
        lib_sources("gan_figure.py"),
        table="results/tables/gan_metrics.csv",
    output:
        report(
            "results/figures/fid_kl.png",
            caption="../report/fid_kl.rst",
            category="Figures",
        ),
    log:
        FIGURE_LOG.format("fid_kl"),
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        figure="fid_kl",
        labels={},
        replicates=canonical(REPLICATES["gans"]),
    script:
        "../scripts/gan_figure.py"


rule figure_validation_fid:
    input:
        lib_sources("gan_figure.py"),
        logs=gan_files("log.csv", validated_gans()),
    output:
        report(
            "results/figures/validation_fid.png",
            caption="../report/validation_fid.rst",
            category="Figures",
        ),
    log:
        FIGURE_LOG.format("validation_fid"),
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        figure="validation_fid",
        labels={"logs": validated_gans()},
        replicates=canonical(REPLICATES["gans"]),
    script:
        "../scripts/gan_figure.py"


rule figure_sample_grids:
    input:
        lib_sources("gan_figure.py"),
        grids=sample_files("grid.png"),
    output:
        report(
            "results/figures/sample_grids.png",
            caption="../report/sample_grids.rst",
            category="Figures",
        ),
    log:
        FIGURE_LOG.format("sample_grids"),
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        figure="sample_grids",
        labels={"grids": GANS},
        replicates=canonical(REPLICATES["gans"]),
    script:
        "../scripts/gan_figure.py"
