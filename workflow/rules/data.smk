# Data stages: canonical dataset splits, then subsets of the train split.


rule prepare_dataset:
    input:
        lib=lib_sources("prepare_dataset.py"),
    output:
        train="results/datasets/{dataset}/train.npz",
        train_meta="results/datasets/{dataset}/train.json",
        val="results/datasets/{dataset}/val.npz",
        val_meta="results/datasets/{dataset}/val.json",
        test="results/datasets/{dataset}/test.npz",
        test_meta="results/datasets/{dataset}/test.json",
    log:
        "results/logs/prepare_dataset/{dataset}.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        cfg=dataset_config,
    script:
        "../scripts/prepare_dataset.py"


rule make_subset:
    input:
        lib=lib_sources("make_subset.py"),
        train=subset_train_split,
        train_meta=sidecar(subset_train_split),
    output:
        npz="results/subsets/{dataset}/{subset}/subset.npz",
        meta="results/subsets/{dataset}/{subset}/subset.json",
        counts="results/subsets/{dataset}/{subset}/counts.csv",
        plot=report(
            "results/subsets/{dataset}/{subset}/counts.png",
            caption="../report/counts.rst",
            category="Data",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "subset": "{subset}"},
        ),
    log:
        "results/logs/make_subset/{dataset}/{subset}.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        subsets=subset_configs,
    script:
        "../scripts/make_subset.py"
