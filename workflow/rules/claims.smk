# Claims: each claim of the config's `claims` section computed from the results tables
# over seeds (paired by seed), with a verdict; and their forest plot.


rule claims:
    input:
        lib=lib_sources("claims.py"),
        tables=[f"results/tables/{name}.csv" for name in claim_tables(CLAIMS)],
    output:
        report(
            "results/tables/claims.csv",
            caption="../report/claims.rst",
            category="Tables (CSV)",
            subcategory="Claims",
        ),
        pairs=report(
            "results/tables/claims_pairs.csv",
            caption="../report/claims_pairs.rst",
            category="Tables (CSV)",
            subcategory="Claims",
        ),
    log:
        "results/logs/claims.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        tables=claim_tables(CLAIMS),
        claims=canonical(CLAIMS),
        experiment=config["experiment"],
    script:
        "../scripts/claims.py"


rule figure_claims:
    input:
        lib=lib_sources("claims_figure.py"),
        claims=rules.claims.output[0],
        pairs=rules.claims.output.pairs,
    output:
        report(
            "results/figures/claims.png",
            caption="../report/claims_figure.rst",
            category="Figures",
        ),
    log:
        "results/logs/figures/claims.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/claims_figure.py"
