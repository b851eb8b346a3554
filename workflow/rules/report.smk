# Figures of the GAN experiments: each results/figures/<name>.png is a target on its own.
# One rule draws fid_kl; the others reuse it with their own inputs (use rule ... with:).
# And rule table_view: each results table as a page the report shows inline.


rule table_view:
    input:
        lib=lib_sources("table_view.py"),
        table="results/tables/{table}.csv",
    output:
        report(
            "results/tables/{table}.html",
            caption="../report/table_view.rst",
            category=lambda wildcards: REPORT_TABLES[wildcards.table],
        ),
    log:
        "results/logs/tables/{table}.log",
    wildcard_constraints:
        table="|".join(REPORT_TABLES),
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        title=lambda wildcards: f"{wildcards.table}.csv",
        # the CSV's own caption (its rst file), shown above the table in the report
        caption=lambda wildcards: (
            Path(workflow.basedir) / "workflow" / "report" / f"{wildcards.table}.rst"
        ).read_text(),
    script:
        "../scripts/table_view.py"


rule figure_fid_kl:
    input:
        lib=lib_sources("gan_figure.py"),
        table=rules.gan_table.output[0],
    output:
        report(
            "results/figures/fid_kl.png",
            caption="../report/fid_kl.rst",
            category="Figures",
        ),
    log:
        "results/logs/figures/fid_kl.log",
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


use rule figure_fid_kl as figure_class_distribution with:
    input:
        lib=lib_sources("gan_figure.py"),
        table=rules.gan_table.output[0],
        counts=[subset_files(s, ("counts.csv",))[0] for s in gan_subsets()],
    output:
        report(
            "results/figures/class_distribution.png",
            caption="../report/class_distribution.rst",
            category="Figures",
        ),
    log:
        "results/logs/figures/class_distribution.log",
    params:
        figure="class_distribution",
        labels={"counts": gan_subsets()},
        replicates=canonical(REPLICATES["gans"]),


use rule figure_fid_kl as figure_validation_fid with:
    input:
        lib=lib_sources("gan_figure.py"),
        logs=gan_files("log.csv", validated_gans()),
        meta=gan_files("meta.json", validated_gans()),
    output:
        report(
            "results/figures/validation_fid.png",
            caption="../report/validation_fid.rst",
            category="Figures",
        ),
    log:
        "results/logs/figures/validation_fid.log",
    params:
        figure="validation_fid",
        labels={"logs": validated_gans(), "meta": validated_gans()},
        replicates=canonical(REPLICATES["gans"]),


use rule figure_fid_kl as figure_sample_grids with:
    input:
        lib=lib_sources("gan_figure.py"),
        samples=sample_files("samples.npz"),
        sidecars=sample_files("samples.json"),
    output:
        report(
            "results/figures/sample_grids.png",
            caption="../report/sample_grids.rst",
            category="Figures",
        ),
    log:
        "results/logs/figures/sample_grids.log",
    params:
        figure="sample_grids",
        labels={"samples": GANS},
        replicates=canonical(REPLICATES["gans"]),
