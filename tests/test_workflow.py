"""The workflow itself, run with Snakemake on a copy of the repository."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO, copy_workflow, workflow_env

pytestmark = pytest.mark.workflow


def snakemake(
    cwd: Path, *args: str, check: bool = True, timeout: int = 600
) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", *args],
        cwd=cwd,
        env=workflow_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
        )
    return result


def planned_jobs(result: subprocess.CompletedProcess) -> dict[str, int]:
    """Rule -> job count from the 'Job stats' table of a dry run (empty: nothing to do)."""
    text = result.stdout + result.stderr
    match = re.search(r"Job stats:\njob\s+count\n[- ]+\n(.*?)\ntotal", text, re.S)
    if not match:
        assert "Nothing to be done" in text, text
        return {}
    rows = (line.split() for line in match.group(1).strip().splitlines())
    return {name: int(count) for name, count in rows}


def fast(config: dict) -> dict:
    """The default experiment, shrunk: 8 px images and two-epoch classifiers, same names."""
    config["datasets"]["digits"]["image_size"] = 8
    for cfg in config.get("classifiers", {}).values():
        cfg.update(epochs=2, schedule={})
        if "arch" in cfg:  # a fine-tuned discriminator has its GAN's
            cfg["arch"]["width"] = 4
        if cfg.get("reweighting", {}).get("name") == "drw":
            cfg["reweighting"]["start_epoch"] = 1
        if cfg.get("adversarial"):
            cfg["adversarial"] = {**cfg["adversarial"], "steps": 2, "validation_steps": 2}
    for cfg in config.get("gans", {}).values():
        cfg.update(
            steps=4,
            cycle_steps=2,
            checkpoint_every=2,
            log_every=1,
            validate_every=2,
            validation_samples=16,
            samples={"count": 20, "seed": 0},
            ema={"decay": 0.9, "start": 0},
            batch_size=8,
        )
        cfg["arch"].update(g_width=4, d_width=4, latent_dim=8)
        if (cfg.get("robust") or {}).get("attack") == "pgd":
            cfg["robust"] = {**cfg["robust"], "steps": 2}
    for threat in (config.get("robustness") or {}).get("threats", {}).values():
        threat["autoattack"] = {"images": 20, "apgd_iterations": 5, "square_queries": 10}
    if config.get("uaps"):
        config["datasets"]["patches"].update(image_size=8, count=60)
        uaps = config["uaps"]
        uaps["prior_gan"].update(
            steps=4, cycle_steps=2, snapshots=2, checkpoint_every=2, log_every=1, batch_size=8
        )
        uaps["prior_gan"]["arch"].update(g_width=4, d_width=4, latent_dim=8)
        uaps.update(samples=30)
        uaps["gap"].update(steps=4, width=4, blocks=1, batch_size=16)
        uaps["deepfool"].update(images=10, max_epochs=1)
    return config


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """A copy of the workflow (with the fast default config) that has run once."""
    root = copy_workflow(tmp_path_factory.mktemp("workflow"))
    config = fast(yaml.safe_load((REPO / "config/config.yaml").read_text()))
    (root / "config/config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    # 170 s alone on the developers' 2 cores, 340 s beside the other workers; a machine
    # several times slower must not fail on the guard
    snakemake(root, "--cores", "2", timeout=3600)
    return root


FIGURE_JOBS = {
    f"figure_{name}": 1
    for name in ("class_distribution", "fid_kl", "validation_fid", "sample_grids")
}
# the comparison of AC-GAN, Rob-GAN and Fast-RobGAN
ROBUST_GAN_JOBS = {"robust_gan_table": 1, "figure_robust_gan_fid": 1}
GAN_JOBS = {
    "train_gan": 6,
    "generate_samples": 6,
    "evaluate_samples": 6,
    "classification_accuracy_score": 6,
    "gan_table": 1,
    **FIGURE_JOBS,
    **ROBUST_GAN_JOBS,
}
ADVERSARIAL_JOBS = {"adversarial_training_table": 1, "figure_adversarial_training_predictions": 1}
ROBUSTNESS_JOBS = {
    # 3 classifiers under 3 threat models, the 4 adversarially trained ones under linf16;
    # the 2 fine-tuned discriminators and PGD-AT of their network under linf16_pgd and the
    # 2 sweep threats
    "evaluate_robustness": 22,
    "robustness_table": 1,
    **ADVERSARIAL_JOBS,
    **{
        f"figure_{name}": 1
        for name in (
            "robust_accuracy_groups",
            "adversarial_predictions",
            "accuracy_against_eps",
            "adversarial_examples",
            "robust_gan_accuracy_against_eps",
        )
    },
}
UAP_METHODS = ("data_free", "entropy_only", "prior_images", "data_driven", "deepfool", "random")
UAP_JOBS = {
    # regularized (data-free) and entropy only, each victim in the loop of its own pair
    "train_prior_gan": 4,
    "sample_prior_gan": 4,
    **{f"craft_uap_{method}": 2 for method in UAP_METHODS},  # against 2 victims
    "uap_table": 1,
    **{f"figure_uap_{name}": 1 for name in ("perturbations", "fooling_rate", "transfer")},
}
CLASSIFIER_JOBS = {
    **ROBUSTNESS_JOBS,
    "train_classifier": 11,
    "finetune_discriminator": 2,
    "evaluate_classifier": 13,
    "classifier_table": 1,
    "fid_reference_stats": 2,  # the annotator's statistics of train (validation) and test
    **GAN_JOBS,
}  # every GAN reads a classifier (in-loop, labeller, annotator)


# the claims read every table but the classifiers' own (rule claims, its forest plot)
CLAIM_JOBS = {"claims": 1, "figure_claims": 1}


def edit(path: Path) -> None:
    """Change a module's content (Snakemake 9 ignores a newer mtime whose checksum is
    unchanged, so a bare ``touch`` is not an edit)."""
    with open(path, "a") as handle:
        handle.write(f"\n# edited {time.time()}\n")


def test_default_experiment_builds_data_and_subsets(workdir):
    for split in ("train", "val", "test"):
        assert (workdir / f"results/datasets/digits/{split}.npz").is_file()
        assert (workdir / f"results/datasets/digits/{split}.json").is_file()
    counts = pd.read_csv(workdir / "results/subsets/digits/lt20/counts.csv")
    assert counts["count"].tolist() == [120, 86, 61, 44, 31, 22, 16, 11, 8, 6]
    for subset in ("lt20", "step20", "balanced_lt20", "full", "lt20_label10"):
        folder = workdir / "results/subsets/digits" / subset
        assert {"subset.npz", "subset.json", "counts.csv", "counts.png"} <= {
            p.name for p in folder.iterdir()
        }
    balanced = pd.read_csv(workdir / "results/subsets/digits/balanced_lt20/counts.csv")
    assert balanced["count"].sum() == counts["count"].sum()
    assert (workdir / "results/logs/make_subset/digits/lt20.log").is_file()


def test_second_run_has_nothing_to_do(workdir):
    assert planned_jobs(snakemake(workdir, "-n")) == {}


def built_copy(workdir: Path, tmp_path: Path) -> Path:
    """A copy of the built workflow (results and Snakemake's records, times kept), to plan
    reruns on: the pipeline runs once per session, edits are judged by dry runs."""
    copy = tmp_path / "built"
    shutil.copytree(workdir, copy, symlinks=True)
    return copy


def test_touching_a_subset_only_module_reruns_subsets_and_descendants(workdir, tmp_path):
    copy = built_copy(workdir, tmp_path)
    edit(copy / "lib/advtail/data/subsets.py")
    # the five digits subsets and the UAP prior's
    assert planned_jobs(snakemake(copy, "-n")) == {
        "make_subset": 6,
        **CLASSIFIER_JOBS,
        **UAP_JOBS,
        **CLAIM_JOBS,
        "table_view": 14,  # every table's report page
        "all": 1,
    }
    # the original, unedited, still has nothing to do
    assert planned_jobs(snakemake(workdir, "-n")) == {}


def test_touching_a_source_module_reruns_everything_below_it(workdir, tmp_path):
    copy = built_copy(workdir, tmp_path)
    edit(copy / "lib/advtail/data/sources.py")
    assert planned_jobs(snakemake(copy, "-n")) == {
        "prepare_dataset": 2,  # the digits and the UAP prior's patches
        "make_subset": 6,
        **CLASSIFIER_JOBS,
        **UAP_JOBS,
        **CLAIM_JOBS,
        "table_view": 14,  # every table's report page
        "all": 1,
    }


TRAINING_RULES = ("train_classifier", "train_gan", "classification_accuracy_score")


def test_restyling_sample_grids_retrains_no_gan(workdir, tmp_path):
    copy = built_copy(workdir, tmp_path)
    edit(copy / "lib/advtail/plots/grids.py")
    planned = planned_jobs(snakemake(copy, "-n"))
    assert "train_gan" not in planned and "train_classifier" not in planned
    assert planned["generate_samples"] == 6  # the grids are drawn there


def test_editing_the_gan_networks_retrains_no_classifier(workdir, tmp_path):
    copy = built_copy(workdir, tmp_path)
    edit(copy / "lib/advtail/nets/gans.py")
    planned = planned_jobs(snakemake(copy, "-n"))
    assert "train_classifier" not in planned
    assert planned["train_gan"] == 6 and planned["generate_samples"] == 6
    # only the discriminators fine-tuned with their generators' images are evaluated again
    assert planned["evaluate_classifier"] == 2
    # and the discriminators fine-tuned with their generators' images
    assert planned["finetune_discriminator"] == 2
    # the UAP prior GANs and what is crafted from their samples, nothing else
    assert planned["train_prior_gan"] == 4 and planned["craft_uap_data_free"] == 2
    assert not {"craft_uap_data_driven", "craft_uap_deepfool", "craft_uap_random"} & set(planned)


def test_editing_a_metrics_only_module_plans_no_training(workdir, tmp_path):
    copy = built_copy(workdir, tmp_path)
    edit(copy / "lib/advtail/metrics/inception.py")
    planned = planned_jobs(snakemake(copy, "-n"))
    assert not set(TRAINING_RULES) & set(planned), planned
    # the annotator's reference statistics (which GAN validation reads) do not rerun
    assert planned["evaluate_samples"] == 6 and "fid_reference_stats" not in planned


def default_with(tmp_path: Path, mutate) -> Path:
    """A config file: the default config changed by ``mutate``."""
    config = fast(yaml.safe_load((REPO / "config/config.yaml").read_text()))
    mutate(config)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_changed_subset_params_rerun_that_subset(workdir, tmp_path):
    config = default_with(tmp_path, lambda c: c["subsets"]["lt20"].update(imbalance_ratio=15))
    result = snakemake(workdir, "-n", "--configfile", str(config))
    # lt20 changed; lt20_label10 and balanced_lt20 refer to it, so their params changed
    # too; the nine classifiers and six GANs on lt20 and the one on balanced_lt20
    # retrain (and the two discriminators fine-tune), the annotator (on full) does not,
    # nor its reference statistics
    assert planned_jobs(result) == {
        "make_subset": 3,
        "train_classifier": 10,
        "finetune_discriminator": 2,
        "evaluate_classifier": 12,
        "classifier_table": 1,
        **GAN_JOBS,
        **ROBUSTNESS_JOBS,  # every evaluated classifier is on lt20 or balanced_lt20
        **UAP_JOBS,  # every victim is on lt20
        **CLAIM_JOBS,
        "table_view": 14,
        "all": 1,
    }


def test_changed_gan_params_rerun_that_gan_only(workdir, tmp_path):
    config = default_with(tmp_path, lambda c: c["gans"]["acgan"].update(class_loss={"weight": 0.5}))
    assert planned_jobs(snakemake(workdir, "-n", "--configfile", str(config))) == {
        "train_gan": 1,
        "generate_samples": 1,
        "evaluate_samples": 1,
        "classification_accuracy_score": 1,
        "gan_table": 1,
        **FIGURE_JOBS,
        **ROBUST_GAN_JOBS,  # AC-GAN is the robust GANs' baseline
        **CLAIM_JOBS,
        "table_view": 6,  # the pages of the tables, their summaries and the claims
        "all": 1,
    }


def test_gan_outputs(workdir):
    folder = workdir / "results/gans/digits/lt20/sndcgan_cb"
    assert {"generator.pt", "log.csv", "cycles.csv", "meta.json"} <= {
        p.name for p in folder.iterdir()
    }
    cycles = pd.read_csv(folder / "cycles.csv")
    assert len(cycles) == 2 and "N_9" in cycles.columns
    for gan in ("sndcgan", "sndcgan_cb", "cgan", "acgan"):
        samples = workdir / f"results/samples/digits/lt20/{gan}"
        assert {"samples.npz", "samples.json", "grid.png", "metrics.json"} <= {
            p.name for p in samples.iterdir()
        }
    table = pd.read_csv(workdir / "results/tables/gan_metrics.csv")
    assert sorted(table["gan"]) == [
        "acgan",
        "cgan",
        "fastrobgan",
        "robgan",
        "sndcgan",
        "sndcgan_cb",
    ]
    assert (table["method"] == table["gan"]).all() and set(table["seed"]) == {0}
    summary = pd.read_csv(workdir / "results/tables/gan_metrics_summary.csv")
    assert sorted(summary["method"]) == sorted(table["gan"]) and set(summary["n_seeds"]) == {1}
    by_method = summary.set_index("method")["kl_uniform_mean"]
    assert by_method.to_dict() == pytest.approx(table.set_index("gan")["kl_uniform"].to_dict())
    assert set(table["fid_backbone"]) == {"annotator"}  # no Inception weights here
    assert (table["fid"] == table["fid_annotator"]).all() and (table["fid"] > 0).all()
    assert table["cas_accuracy"].between(0, 1).all() and set(table["imbalance_ratio"]) == {20}
    assert (table["inception_score"] >= 1).all()
    shares = table[[f"share_{k}" for k in range(10)]].sum(axis=1)
    assert shares.to_numpy() == pytest.approx(1.0)
    stats = workdir / "results/fid_stats/digits"
    assert {p.name for p in stats.rglob("*.npz")} == {"classifier-annotator.npz"}
    assert {p.parent.name for p in stats.rglob("*.npz")} == {"train", "test"}
    for figure in FIGURE_JOBS:
        png = workdir / f"results/figures/{figure.removeprefix('figure_')}.png"
        assert png.read_bytes()[:4] == b"\x89PNG"


def test_report_holds_every_figure_and_table(workdir):
    snakemake(workdir, "--report", "report.html")
    html = (workdir / "report.html").read_text(errors="replace")
    for name in (
        "class_distribution.png",
        "fid_kl.png",
        "validation_fid.png",
        "gan_metrics.csv",
        "robustness.csv",
        "robust_accuracy_groups.png",
        "adversarial_predictions.png",
        "accuracy_against_eps.png",
        "adversarial_examples.png",
        "robust_gans.csv",
        "robust_gan_fid.png",
        "robust_gan_accuracy_against_eps.png",
        "uap.csv",
        "uap_summary.csv",
        "uap_perturbations.png",
        "uap_fooling_rate.png",
        "uap_transfer.png",
        "claims.csv",
        "claims.png",
    ):
        assert name in html
    assert "fid_annotator" in html  # a caption says which FID it is
    for table in ("classifiers", "gan_metrics_summary", "uap"):
        assert f"{table}.html" in html  # each table as a page of the report


APT_LOCK = "/tmp/advtail-tests-apt.lock"  # tests/slurm/cluster.sh takes it too


@pytest.fixture(scope="module")
def browser_check():
    """tests/report/check_report.py, once Chromium and its driver are there (installed
    from Debian's packages where this runs as root, as the Slurm test installs Slurm)."""
    sys.path.insert(0, str(REPO / "tests" / "report"))
    import check_report

    if check_report.find_browser() is None and os.geteuid() == 0 and shutil.which("apt-get"):
        # the Slurm test may install at the same time: one apt at a time (its lock file)
        for step in (
            ["flock", "-w", "900", APT_LOCK, "apt-get", "update", "-qq"],
            ["flock", "-w", "900", APT_LOCK, "apt-get", "install", "-y", "-qq"]
            + ["chromium", "chromium-driver"],
        ):
            subprocess.run(step, capture_output=True, timeout=900)
    if check_report.find_browser() is None:
        pytest.skip("headless Chromium cannot be installed here (needs root and apt-get)")
    return check_report


def test_report_reads_well_in_a_headless_browser(workdir, browser_check, tmp_path):
    report = workdir / "report.html"
    if not report.is_file():
        snakemake(workdir, "--report", "report.html")
    problems, seen = browser_check.check_report(report, tmp_path / "shots", root=workdir)
    assert not problems, "\n".join(problems)
    # every figure and table page of the default experiment was opened
    assert seen["figures"] >= 21 and seen["tables"] == 14, seen
    assert (tmp_path / "shots/front_page.png").stat().st_size > 10_000


def test_robustness_outputs(workdir):
    table = pd.read_csv(workdir / "results/tables/robustness.csv")
    models = ["ce_lt20", "drw_lt20", "ldam_drw_lt20", *ADVERSARIAL]
    main = table[table["threat"] == "linf16"]
    assert sorted(main["classifier"].unique()) == sorted(models)
    attacks = ["clean", "fgsm", "pgd20", "pgd100", "cw100", "deepfool", "autoattack", "worst_case"]
    for model in models:
        assert main.loc[main["classifier"] == model, "attack"].tolist() == attacks
    sweep = table[table["threat"] != "linf16"]
    # clean and PGD-20: six classifiers at two budgets, the robust GANs' three at 16/255
    assert len(sweep) == (6 * 2 + 3) * 2
    auto = main[main["attack"] == "autoattack"]
    assert (auto["num_attacked"] == 20).all() and auto["note"].str.contains("subset").all()
    assert auto["library"].str.startswith("pyautoattack").all()  # the standard version
    assert auto["settings"].str.contains("square_queries=10").all()
    assert (main.loc[main["attack"] == "pgd20", "num_attacked"] == 450).all()
    # the default's strongest attacks on a class-stratified subset (threat key images)
    strong = main[main["attack"].isin(["pgd100", "cw100"])]
    assert (strong["num_attacked"] == 150).all() and strong["note"].str.contains("subset").all()
    # accuracy never rises with eps under PGD-20, per model
    pgd = table[table["attack"] == "pgd20"].sort_values("eps")
    for _, rows in pgd.groupby("classifier"):
        assert (rows["accuracy"].diff().dropna() <= 1e-9).all()
    summary = pd.read_csv(workdir / "results/tables/robustness_summary.csv")
    assert set(summary["n_seeds"]) == {1} and len(summary) == len(table)
    # a RobustBench-format card per classifier and threat; AutoAttack's where it ran
    cards = pd.read_csv(workdir / "results/tables/model_cards.csv")
    assert len(cards) == len(table.groupby(["classifier", "threat"]))
    assert set(cards["threat_model"]) == {"Linf"}
    main_cards = cards[cards["threat"] == "linf16"]
    assert main_cards["autoattack_acc"].notna().all()
    assert (main_cards["headline_attack"] == "autoattack").all()
    assert len(list((workdir / "results/model_cards").glob("*.json"))) == len(cards)
    for name in (
        "robust_accuracy_groups",
        "adversarial_predictions",
        "accuracy_against_eps",
        "adversarial_examples",
    ):
        assert (workdir / f"results/figures/{name}.png").read_bytes()[:4] == b"\x89PNG"
    folder = workdir / "results/robustness/digits/lt20/ce_lt20"
    assert {p.name for p in folder.iterdir()} == {
        f"{t}{s}" for t in ("linf4", "linf16", "linf32") for s in (".json", "_examples.npz")
    }


ADVERSARIAL = ["pgdat_lt20", "pgdat_bsl_lt20", "reat_lt20", "pgdat_balanced_lt20"]


def test_robust_gan_outputs(workdir):
    table = pd.read_csv(workdir / "results/tables/robust_gans.csv").set_index("gan")
    assert sorted(table.index) == ["acgan", "fastrobgan", "robgan"]
    assert table["robust"].to_dict() == {"acgan": "none", "fastrobgan": "free", "robgan": "pgd"}
    # passes through D per generator step: AC-GAN real + fake; Rob-GAN 2 D steps x (the
    # fast config's 2 PGD steps + real + fake); Fast-RobGAN M = 2 x (real + fake)
    assert table["d_forward_per_step"].to_dict() == {"acgan": 2, "fastrobgan": 4, "robgan": 8}
    assert (table["d_backward_per_step"] == table["d_forward_per_step"]).all()
    assert (table["seconds_per_step"] > 0).all() and table["best_val_fid"].notna().all()
    # one seed: the FID all three reached is the worst best, and each reached it in time
    assert (table["common_val_fid"] == table["best_val_fid"].max()).all()
    assert (table["seconds_to_common_fid"] > 0).all()
    folder = workdir / "results/gans/digits/lt20/robgan"
    assert (folder / "discriminator.pt").is_file()
    # the fine-tuned discriminators are classifiers, evaluated like every other
    robustness = pd.read_csv(workdir / "results/tables/robustness.csv")
    tuned = robustness[robustness["classifier"] == "robgan_ft_lt20"]
    assert set(tuned["threat"]) == {"linf4", "linf16_pgd", "linf32"}
    meta = json.loads(
        (workdir / "results/classifiers/digits/lt20/robgan_ft_lt20/meta.json").read_text()
    )
    assert meta["arch"]["name"] == "gan_discriminator" and meta["arch"]["resolution"] == 8
    for figure in ("robust_gan_fid", "robust_gan_accuracy_against_eps"):
        assert (workdir / f"results/figures/{figure}.png").read_bytes()[:4] == b"\x89PNG"


def test_uap_outputs(workdir):
    # each victim's data-free perturbation is crafted from the prior GANs of its own loop
    prior = workdir / "results/uaps/prior_gans/seed0/ce_lt20"
    for victim in ("ce_lt20", "pgdat_lt20"):
        samples = json.loads((prior.parent / victim / "regularized/samples.json").read_text())
        assert f"/{victim}/model.pt" in samples["labelled_by"]
    for gan in ("regularized", "entropy_only"):
        assert {"generator.pt", "snapshots.pt", "cycles.csv", "samples.npz", "samples.json"} <= {
            p.name for p in (prior / gan).iterdir()
        }
        samples = json.loads((prior / gan / "samples.json").read_text())
        # 30 samples from the generators of the last 2 cycles, labelled by the victim
        assert samples["num_images"] == 30 and samples["snapshot_steps"] == [2, 4]
        assert samples["classes_covered"] == sum(c > 0 for c in samples["class_counts"])
        cycles = pd.read_csv(prior / gan / "cycles.csv")
        assert "classes_covered" in cycles.columns
    regularized = pd.read_csv(prior / "regularized/cycles.csv")
    assert "N_9" in regularized.columns  # the class-balancing regularizer's frequencies
    table = pd.read_csv(workdir / "results/tables/uap.csv")
    assert len(table) == 6 * 2 * 2  # methods x crafted against x applied to, one seed
    assert set(table["method"]) == set(UAP_METHODS)
    assert (table["transfer"] == (table["crafted_on"] != table["evaluated_on"])).all()
    assert table["fooling_rate"].between(0, 1).all()
    # a changed prediction on a correct image costs accuracy: the drop is at most the rate
    drop = table["clean_accuracy"] - table["accuracy"]
    assert (drop <= table["fooling_rate"] + 1e-9).all()
    assert table.loc[table["method"] == "random", "classes_covered"].isna().all()
    fed = table[table["method"].isin(["data_free", "entropy_only"])]
    assert (fed["prior_in_loop"] == fed["crafted_on"]).all()
    assert table.loc[~table.index.isin(fed.index), "prior_in_loop"].isna().all()
    per_class = pd.read_csv(workdir / "results/tables/uap_per_class.csv")
    assert len(per_class) == len(table) * 10
    for method in UAP_METHODS:
        folder = workdir / f"results/uaps/seed0/ce_lt20/{method}"
        delta = np.load(folder / "perturbation.npy")
        meta = json.loads((folder / "meta.json").read_text())
        assert delta.shape == (8, 8, 1) and np.abs(delta).max() <= 32 / 255 + 1e-6
        assert meta["method"] in ("gap", "deepfool", "random")
    for figure in ("perturbations", "fooling_rate", "transfer"):
        png = workdir / f"results/figures/uap_{figure}.png"
        assert png.read_bytes()[:4] == b"\x89PNG"


def test_adversarial_training_outputs(workdir):
    folder = workdir / "results/classifiers/digits/lt20/reat_lt20"
    log = pd.read_csv(folder / "log.csv")
    predicted = log[[f"adversarial_predicted_{k}" for k in range(10)]].to_numpy()
    meta = json.loads((folder / "meta.json").read_text())
    # every training image attacked once per epoch (none in a batch of one)
    assert (predicted.sum(1) == meta["train_images"]).all()
    assert {"val_pgd_balanced_accuracy", "inner_weight_9", "adversarial_prediction_kl"} <= set(
        log.columns
    )
    standard = pd.read_csv(workdir / "results/classifiers/digits/lt20/ce_lt20/log.csv")
    assert not any(c.startswith("adversarial_") for c in standard.columns)
    table = pd.read_csv(workdir / "results/tables/adversarial_training.csv")
    assert set(table["threat"]) == {"linf16"}
    trained = table[table["training"] == "adversarial"]
    assert sorted(trained["classifier"].unique()) == sorted(ADVERSARIAL)
    assert trained["train_adversarial_kl_last"].notna().all()
    assert set(table.loc[table["training"] == "standard", "classifier"]) == {
        "ce_lt20",
        "drw_lt20",
        "ldam_drw_lt20",
    }
    figure = workdir / "results/figures/adversarial_training_predictions.png"
    assert figure.read_bytes()[:4] == b"\x89PNG"


def test_adding_a_classifier_to_a_threat_evaluates_only_it(workdir, tmp_path):
    copy = built_copy(workdir, tmp_path)
    config = yaml.safe_load((copy / "config/config.yaml").read_text())
    threat = config["robustness"]["threats"]["linf4"]  # its list is shared (YAML anchor)
    threat["classifiers"] = [*threat["classifiers"], "annotator"]
    (copy / "config/config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    result = snakemake(copy, "-n", "--printshellcmds")
    planned = planned_jobs(result)
    assert planned["evaluate_robustness"] == 1, planned
    assert "results/robustness/digits/full/annotator/linf4.json" in result.stdout + result.stderr
    assert not {"train_classifier", "train_gan"} & set(planned)


def test_classifier_outputs(workdir):
    folder = workdir / "results/classifiers/digits/lt20/inloop_lt20"
    assert {"model.pt", "log.csv", "meta.json", "metrics.json", "confusion.csv"} <= {
        p.name for p in folder.iterdir()
    }
    assert (workdir / "results/checkpoints/classifiers/digits/lt20/inloop_lt20/last.pt").exists()
    table = pd.read_csv(workdir / "results/tables/classifiers.csv")
    assert set(table["experiment"]) == {"digits-default"}
    assert sorted(table["classifier"]) == sorted(
        ["annotator", "inloop_lt20", "ce_lt20", "drw_lt20", "ldam_drw_lt20", "cas_lt20"]
        + ADVERSARIAL
        + ["pgdat_disc_lt20", "robgan_ft_lt20", "fastrobgan_ft_lt20"]
    )
    assert {"head_accuracy", "body_accuracy", "tail_accuracy", "balanced_accuracy"} <= set(
        table.columns
    )


BAD = {
    "ratio": (
        "datasets:\n  digits: {source: digits}\nsubsets:\n  lt20:\n    dataset: digits\n"
        "    profile: exponential\n    imbalance_ratio: 0.5\n",
        "subsets.lt20.imbalance_ratio",
    ),
    "dataset": (
        "datasets:\n  digits: {source: digits}\nsubsets:\n  s: {dataset: mnist, profile: full}\n",
        "subsets.s.dataset",
    ),
    "typo": (
        "datasets:\n  digits: {source: digits, imagesize: 8}\nsubsets:\n"
        "  s: {dataset: digits, profile: full}\n",
        "datasets.digits.imagesize",
    ),
}


@pytest.mark.bad_input
@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_config_stops_before_any_job(workdir, tmp_path, case):
    text, key = BAD[case]
    config = tmp_path / "bad.yaml"
    config.write_text(text)
    before = {p: p.stat().st_mtime for p in (workdir / "results").rglob("*")}
    result = snakemake(workdir, "--cores", "1", "--configfile", str(config), check=False)
    assert result.returncode == 1
    errors = [
        line for line in (result.stdout + result.stderr).splitlines() if "error" in line.lower()
    ]
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"Config error: config key '{key}'")
    after = {p: p.stat().st_mtime for p in (workdir / "results").rglob("*")}
    assert after == before


@pytest.mark.bad_input
def test_corrupt_dataset_file_fails_the_subset_job_with_its_name(workdir, tmp_path):
    # on a copy: the forced job deletes its outputs, which the shared tree must keep
    root = built_copy(workdir, tmp_path)
    train = root / "results/datasets/digits/train.npz"
    mtime = os.path.getmtime(train)
    train.write_bytes(b"broken")
    os.utime(train, (mtime, mtime))
    result = snakemake(
        root,
        "--cores",
        "1",
        "--forcerun",
        "make_subset",
        "results/subsets/digits/lt20/subset.npz",
        check=False,
    )
    assert result.returncode != 0
    assert "results/datasets/digits/train.npz: sha256" in result.stdout + result.stderr


def test_claims_outputs(workdir):
    config = yaml.safe_load((workdir / "config/config.yaml").read_text())
    claims = pd.read_csv(workdir / "results/tables/claims.csv")
    assert claims["claim"].tolist() == sorted(config["claims"])  # by id
    # one seed: no claim is evidence either way (unless its premise already fails)
    assert set(claims["verdict"]) <= {"one seed: not evidence", "premise not met"}
    assert (claims["n_seeds"] == 1).all()
    pairs = pd.read_csv(workdir / "results/tables/claims_pairs.csv")
    # one pair per claim, two for the UAP claims (one per victim)
    expected = {name: 2 if c["table"] == "uap" else 1 for name, c in config["claims"].items()}
    assert pairs.groupby("claim").size().to_dict() == expected
    assert (workdir / "results/figures/claims.png").stat().st_size > 10_000
