# Universal adversarial perturbations (CBGAN section 4.3): two prior GANs per victim,
# trained on images the victims never saw with that victim in the loop (rule train_gan's
# script, here with snapshots of the last cycles; uaps.in_loop: one pair for all), their
# samples, six crafting methods (each a rule), every perturbation evaluated on every
# victim (the transfer matrix), three figures.


use rule train_gan as train_prior_gan with:
    input:
        lib=lib_sources("train_gan.py"),
        subset=uap_prior_subset_file,
        subset_meta=sidecar(uap_prior_subset_file),
        in_loop=uap_in_loop_model,
        annotator=[],
        reference_stats=[],
    output:
        generator="results/uaps/prior_gans/seed{seed}/{in_loop}/{gan}/generator.pt",
        discriminator="results/uaps/prior_gans/seed{seed}/{in_loop}/{gan}/discriminator.pt",
        snapshots="results/uaps/prior_gans/seed{seed}/{in_loop}/{gan}/snapshots.pt",
        log_csv="results/uaps/prior_gans/seed{seed}/{in_loop}/{gan}/log.csv",
        cycles="results/uaps/prior_gans/seed{seed}/{in_loop}/{gan}/cycles.csv",
        meta="results/uaps/prior_gans/seed{seed}/{in_loop}/{gan}/meta.json",
    log:
        "results/logs/train_prior_gan/seed{seed}/{in_loop}/{gan}.log",
    wildcard_constraints:
        gan=names_pattern(UAP_PRIOR_GANS),
        in_loop=names_pattern(UAP_PRIOR_VICTIMS),
        seed=r"\d+",
    params:
        cfg=uap_prior_gan_cfg,
        checkpoint="results/checkpoints/uaps/prior_gans/seed{seed}/{in_loop}/{gan}/last.pt",
        prior=True,


rule sample_prior_gan:
    input:
        lib=lib_sources("sample_prior_gan.py"),
        snapshots=rules.train_prior_gan.output.snapshots,
        victim=uap_in_loop_model,
    output:
        samples="results/uaps/prior_gans/seed{seed}/{in_loop}/{gan}/samples.npz",
        meta="results/uaps/prior_gans/seed{seed}/{in_loop}/{gan}/samples.json",
    log:
        "results/logs/sample_prior_gan/seed{seed}/{in_loop}/{gan}.log",
    wildcard_constraints:
        gan=names_pattern(UAP_PRIOR_GANS),
        in_loop=names_pattern(UAP_PRIOR_VICTIMS),
        seed=r"\d+",
    conda:
        ENV
    threads: NET_THREADS
    resources:
        gpu=GPU,
        mem_mb=4000,
        runtime=60,
    params:
        samples=UAPS.get("samples"),
    script:
        "../scripts/sample_prior_gan.py"


# (1) data-free: GAP on the samples of the prior GAN with regularizer + entropy term
rule craft_uap_data_free:
    input:
        lib=lib_sources("craft_uap.py"),
        victim=uap_victim_model,
        crafting=uap_prior_samples("regularized"),
    output:
        perturbation="results/uaps/seed{seed}/{victim}/data_free/perturbation.npy",
        meta="results/uaps/seed{seed}/{victim}/data_free/meta.json",
    log:
        "results/logs/craft_uap/seed{seed}/{victim}/data_free.log",
    wildcard_constraints:
        victim=names_pattern(UAP_VICTIMS),
        seed=r"\d+",
    conda:
        ENV
    threads: NET_THREADS
    resources:
        gpu=GPU,
        mem_mb=4000,
        runtime=240,
    params:
        method="gap",
        cfg=uap_settings("gap"),
    script:
        "../scripts/craft_uap.py"


# (2) ablation: the prior GAN with the entropy term only
use rule craft_uap_data_free as craft_uap_entropy_only with:
    input:
        lib=lib_sources("craft_uap.py"),
        victim=uap_victim_model,
        crafting=uap_prior_samples("entropy_only"),
    output:
        perturbation="results/uaps/seed{seed}/{victim}/entropy_only/perturbation.npy",
        meta="results/uaps/seed{seed}/{victim}/entropy_only/meta.json",
    log:
        "results/logs/craft_uap/seed{seed}/{victim}/entropy_only.log",


# (3) GAP on the raw prior images
use rule craft_uap_data_free as craft_uap_prior_images with:
    input:
        lib=lib_sources("craft_uap.py"),
        victim=uap_victim_model,
        crafting=uap_prior_subset_file,
    output:
        perturbation="results/uaps/seed{seed}/{victim}/prior_images/perturbation.npy",
        meta="results/uaps/seed{seed}/{victim}/prior_images/meta.json",
    log:
        "results/logs/craft_uap/seed{seed}/{victim}/prior_images.log",


# (4) data-driven: GAP on the victim's own training subset
use rule craft_uap_data_free as craft_uap_data_driven with:
    input:
        lib=lib_sources("craft_uap.py"),
        victim=uap_victim_model,
        crafting=uap_victim_train_file,
    output:
        perturbation="results/uaps/seed{seed}/{victim}/data_driven/perturbation.npy",
        meta="results/uaps/seed{seed}/{victim}/data_driven/meta.json",
    log:
        "results/logs/craft_uap/seed{seed}/{victim}/data_driven.log",


# (5) Moosavi-Dezfooli et al.'s universal perturbation (DeepFool) on the training subset
use rule craft_uap_data_free as craft_uap_deepfool with:
    input:
        lib=lib_sources("craft_uap.py"),
        victim=uap_victim_model,
        crafting=uap_victim_train_file,
    output:
        perturbation="results/uaps/seed{seed}/{victim}/deepfool/perturbation.npy",
        meta="results/uaps/seed{seed}/{victim}/deepfool/meta.json",
    log:
        "results/logs/craft_uap/seed{seed}/{victim}/deepfool.log",
    params:
        method="deepfool",
        cfg=uap_settings("deepfool"),


# (6) random sign noise at the same budget
use rule craft_uap_data_free as craft_uap_random with:
    input:
        lib=lib_sources("craft_uap.py"),
        victim=uap_victim_model,
    output:
        perturbation="results/uaps/seed{seed}/{victim}/random/perturbation.npy",
        meta="results/uaps/seed{seed}/{victim}/random/meta.json",
    log:
        "results/logs/craft_uap/seed{seed}/{victim}/random.log",
    params:
        method="random",
        cfg=uap_settings(),


# the premise sweep of the perturbation claims (uaps.sweep): the data-driven perturbation
# at each budget, first seed
use rule craft_uap_data_driven as craft_uap_sweep with:
    output:
        perturbation="results/uaps/sweep/seed{seed}/eps{budget}/{victim}/data_driven/perturbation.npy",
        meta="results/uaps/sweep/seed{seed}/eps{budget}/{victim}/data_driven/meta.json",
    log:
        "results/logs/craft_uap/sweep/seed{seed}/eps{budget}/{victim}.log",
    wildcard_constraints:
        victim=names_pattern(UAP_VICTIMS),
        seed=r"\d+",
        budget=names_pattern(UAP_SWEEP),
    params:
        method="gap",
        cfg=lambda wildcards: {
            **uap_settings("gap"),
            "eps": UAP_SWEEP[wildcards.budget],
        },


rule uap_budget_sweep:
    input:
        lib=lib_sources("uap_budget_sweep.py"),
        perturbations=uap_sweep_files("perturbation.npy"),
        metas=uap_sweep_files("meta.json"),
        victims=[classifier_model(name) for name in UAP_VICTIMS],
        test=uap_test_file,
    output:
        table=report(
            "results/tables/uap_budget_sweep.csv",
            caption="../report/uap_budget_sweep.rst",
            category="Tables (CSV)",
            subcategory="Universal perturbations",
        ),
        figure=report(
            "results/figures/uap_budget_sweep.png",
            caption="../report/uap_budget_sweep_figure.rst",
            category="Universal perturbations",
        ),
    log:
        "results/logs/uap_budget_sweep.log",
    conda:
        ENV
    threads: NET_THREADS
    resources:
        gpu=GPU,
        mem_mb=4000,
        runtime=30,
    params:
        budgets=list(UAP_SWEEP.values()),
        victims=UAP_VICTIMS,
        seed=UAP_SEEDS[0] if UAP_SEEDS else 0,
    script:
        "../scripts/uap_budget_sweep.py"


rule uap_table:
    input:
        lib=lib_sources("uap_table.py"),
        perturbations=uap_files("perturbation.npy"),
        metas=uap_files("meta.json"),
        victims=[classifier_model(name) for name in UAP_VICTIMS],
        test=uap_test_file,
    output:
        report(
            "results/tables/uap.csv",
            caption="../report/uap.rst",
            category="Tables (CSV)",
            subcategory="Universal perturbations",
        ),
        per_class="results/tables/uap_per_class.csv",
        summary=report(
            "results/tables/uap_summary.csv",
            caption="../report/uap_summary.rst",
            category="Tables (CSV)",
            subcategory="Universal perturbations",
        ),
    log:
        "results/logs/uap_table.log",
    conda:
        ENV
    threads: NET_THREADS
    resources:
        gpu=GPU,
        mem_mb=4000,
        runtime=30,
    params:
        seeds=UAP_SEEDS,
        victims=UAP_VICTIMS,
        methods=list(UAP_METHODS),
        eps=UAPS.get("eps"),
    script:
        "../scripts/uap_table.py"


rule figure_uap_fooling_rate:
    input:
        lib=lib_sources("uap_figure.py"),
        summary=rules.uap_table.output.summary,
    output:
        report(
            "results/figures/uap_fooling_rate.png",
            caption="../report/uap_fooling_rate.rst",
            category="Universal perturbations",
        ),
    log:
        "results/logs/figures/uap_fooling_rate.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        figure="uap_fooling_rate",
    script:
        "../scripts/uap_figure.py"


use rule figure_uap_fooling_rate as figure_uap_transfer with:
    output:
        report(
            "results/figures/uap_transfer.png",
            caption="../report/uap_transfer.rst",
            category="Universal perturbations",
        ),
    log:
        "results/logs/figures/uap_transfer.log",
    params:
        figure="uap_transfer",


# the perturbations of the first seed against the first victim, on test images
use rule figure_uap_fooling_rate as figure_uap_perturbations with:
    input:
        lib=lib_sources("uap_figure.py"),
        perturbations=uap_files(
            "perturbation.npy", seeds=UAP_SEEDS[:1], victims=UAP_VICTIMS[:1]
        ),
        victim=[classifier_model(name) for name in UAP_VICTIMS[:1]],
        test=uap_test_file,
    output:
        report(
            "results/figures/uap_perturbations.png",
            caption="../report/uap_perturbations.rst",
            category="Universal perturbations",
        ),
    log:
        "results/logs/figures/uap_perturbations.log",
    params:
        figure="uap_perturbations",
        methods=list(UAP_METHODS),
        victim=UAP_VICTIMS[:1],
        eps=UAPS.get("eps"),
