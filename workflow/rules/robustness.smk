# Robustness stage: each classifier under each threat model of config `robustness`, the
# table of every attack, and its figures (each a target of its own).


rule evaluate_robustness:
    input:
        lib=lib_sources("evaluate_robustness.py"),
        model=rules.train_classifier.output.model,
        test=rules.prepare_dataset.output.test,
        test_meta=rules.prepare_dataset.output.test_meta,
    output:
        metrics="results/robustness/{dataset}/{subset}/{classifier}/{threat}.json",
        examples="results/robustness/{dataset}/{subset}/{classifier}/{threat}_examples.npz",
    log:
        "results/logs/evaluate_robustness/{dataset}/{subset}/{classifier}/{threat}.log",
    conda:
        ENV
    threads: NET_THREADS
    resources:
        gpu=GPU,
        mem_mb=4000,
        runtime=240,
    params:
        threat=threat_config,
    script:
        "../scripts/evaluate_robustness.py"


rule robustness_table:
    input:
        lib=lib_sources("robustness_table.py"),
        metrics=robustness_files(),
    output:
        report(
            "results/tables/robustness.csv",
            caption="../report/robustness.rst",
            category="Tables (CSV)",
            subcategory="Robustness",
        ),
        summary=report(
            "results/tables/robustness_summary.csv",
            caption="../report/robustness_summary.rst",
            category="Tables (CSV)",
            subcategory="Robustness",
        ),
        # a RobustBench-format card per classifier and threat, and the table of them
        cards=directory("results/model_cards"),
        cards_table=report(
            "results/tables/model_cards.csv",
            caption="../report/model_cards.rst",
            category="Tables (CSV)",
            subcategory="Robustness",
        ),
    log:
        "results/logs/robustness_table.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        experiment=config["experiment"],
        replicates=canonical(REPLICATES["classifiers"]),
        # the cards' training recipes
        recipes=canonical(
            {
                name: config["classifiers"][name]
                for threat in THREATS
                for name in ROBUSTNESS["threats"][threat]["classifiers"]
            }
        ),
    script:
        "../scripts/robustness_table.py"


rule figure_robust_accuracy_groups:
    input:
        lib=lib_sources("robustness_figure.py"),
        table=rules.robustness_table.output[0],
    output:
        report(
            "results/figures/robust_accuracy_groups.png",
            caption="../report/robust_accuracy_groups.rst",
            category="Robustness",
        ),
    log:
        "results/logs/figures/robust_accuracy_groups.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        figure="robust_accuracy_groups",
        threat=FIGURE_THREAT,
        attack=FIGURE_ATTACK,
        labels={},
    script:
        "../scripts/robustness_figure.py"


use rule figure_robust_accuracy_groups as figure_adversarial_predictions with:
    output:
        report(
            "results/figures/adversarial_predictions.png",
            caption="../report/adversarial_predictions.rst",
            category="Robustness",
        ),
    log:
        "results/logs/figures/adversarial_predictions.log",
    params:
        figure="adversarial_predictions",
        threat=FIGURE_THREAT,
        attack=FIGURE_ATTACK,
        labels={},


use rule figure_robust_accuracy_groups as figure_accuracy_against_eps with:
    output:
        report(
            "results/figures/accuracy_against_eps.png",
            caption="../report/accuracy_against_eps.rst",
            category="Robustness",
        ),
    log:
        "results/logs/figures/accuracy_against_eps.log",
    params:
        figure="accuracy_against_eps",
        threat=FIGURE_THREAT,
        attack=FIGURE_ATTACK,
        labels={},


use rule figure_robust_accuracy_groups as figure_adversarial_examples with:
    input:
        lib=lib_sources("robustness_figure.py"),
        table=rules.robustness_table.output[0],
        examples=[example_file(name) for name in EXAMPLE_CLASSIFIERS],
    output:
        report(
            "results/figures/adversarial_examples.png",
            caption="../report/adversarial_examples.rst",
            category="Robustness",
        ),
    log:
        "results/logs/figures/adversarial_examples.log",
    params:
        figure="adversarial_examples",
        threat=FIGURE_THREAT,
        attack=FIGURE_ATTACK,
        labels={"examples": EXAMPLE_CLASSIFIERS},
