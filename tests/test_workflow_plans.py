"""Plans of the workflow, read from the repository or a copy without results: a dry run of
every config, the Slurm profile's resources of the full-scale configs, seeds and targets,
and the linters."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from conftest import REPO, copy_workflow
from test_workflow import UAP_METHODS, planned_jobs, snakemake

pytestmark = pytest.mark.workflow


def test_seeds_expand_into_one_job_per_seed(tmp_path):
    copy_workflow(tmp_path)
    planned = planned_jobs(snakemake(tmp_path, "-n", "--config", "seeds=[0,3]"))
    # every classifier and GAN twice; GAN seed s uses classifier seed s
    assert planned["train_classifier"] == 22 and planned["train_gan"] == 12
    assert planned["finetune_discriminator"] == 4
    assert planned["classifier_table"] == 1 and planned["gan_table"] == 1
    result = snakemake(tmp_path, "-n", "--config", "seeds=[0,3]", "--printshellcmds")
    text = result.stdout + result.stderr
    assert "results/gans/digits/lt20/sndcgan_cb_seed3/generator.pt" in text
    assert "results/classifiers/digits/lt20/inloop_lt20_seed3/model.pt" in text


def test_one_figure_builds_only_its_ancestors(tmp_path):
    copy_workflow(tmp_path)
    planned = planned_jobs(snakemake(tmp_path, "-n", "results/figures/validation_fid.png"))
    assert planned == {
        "prepare_dataset": 1,
        "make_subset": 2,  # lt20 (GANs, in-loop classifier) and full (annotator)
        "train_classifier": 2,  # annotator and inloop_lt20
        "fid_reference_stats": 1,  # the annotator's train statistics, for validation
        "train_gan": 6,
        "figure_validation_fid": 1,
    }


# configs the Slurm tests below dry-run (with the Slurm profile): not planned twice
PLANNED_ON_SLURM = {
    "cifar10_lt.yaml",
    "cifar100_lt.yaml",
    "lsun5_lt.yaml",
    "cifar10_lt_reat.yaml",
    "cifar100_lt_reat.yaml",
    "cifar10_robgan.yaml",
    "imagenet143_robgan.yaml",
    "cifar10_uap.yaml",
}
CONFIGS = sorted(p.name for p in (REPO / "config").glob("*.yaml"))


def test_every_config_is_dry_run_once():
    assert PLANNED_ON_SLURM <= set(CONFIGS)


@pytest.mark.parametrize("config", sorted(set(CONFIGS) - PLANNED_ON_SLURM))
def test_dry_run_of_every_config(config):
    snakemake(REPO, "-n", "--configfile", f"config/{config}")


def test_adversarial_training_table_without_a_threat_is_one_error(tmp_path):
    """Asked for with no threat that evaluates its classifiers, the table had no row and
    no word of why: now one error naming the key and the classifiers, before any job."""
    import yaml

    config = yaml.safe_load((REPO / "config/digits_reat_sweep.yaml").read_text())
    del config["robustness"]
    path = tmp_path / "no_threat.yaml"
    path.write_text(yaml.safe_dump(config))
    target = "results/tables/adversarial_training.csv"
    result = snakemake(REPO, "-n", target, "--configfile", str(path), check=False)
    assert result.returncode != 0
    text = result.stdout + result.stderr
    assert "config key 'robustness.threats'" in text and "pgdat_eps16, pgdat_eps32" in text


def test_lint_is_clean():
    result = snakemake(REPO, "--lint")
    assert "good condition" in result.stdout + result.stderr


def test_snakefmt_is_clean():
    result = subprocess.run(
        [sys.executable, "-m", "snakefmt", "--check", "."], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_is_clean():
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "."], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_rule_names_env_log_threads_and_resources():
    rules = "\n".join(p.read_text() for p in (REPO / "workflow/rules").glob("*.smk"))
    rules += (REPO / "Snakefile").read_text()
    bodies = re.split(r"\n(?=rule |checkpoint )", rules)[1:]
    assert bodies
    for body in bodies:
        name = body.split(":")[0]
        if name == "rule all":
            continue
        for directive in ("conda:", "log:", "threads:", "resources:"):
            assert f"\n    {directive}" in body, f"{name} lacks {directive}"
        # a rule without an action "completes" and leaves its outputs missing
        assert re.search(r"\n    (script|shell|run|wrapper):", body), f"{name} has no action"


NETWORK_RULES = {
    "train_prior_gan",
    "sample_prior_gan",
    "uap_table",
    *(f"craft_uap_{method}" for method in UAP_METHODS),
    "train_classifier",
    "evaluate_classifier",
    "fid_reference_stats",
    "train_gan",
    "generate_samples",
    "evaluate_samples",
    "classification_accuracy_score",
    "finetune_discriminator",
    "evaluate_robustness",
}


def job_resources(result: subprocess.CompletedProcess) -> list[tuple[str, dict]]:
    """(rule, resources) of every job a dry run lists."""
    jobs = []
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", result.stdout + result.stderr)[1:]:
        name = re.match(r"(?:local)?rule (\w+):", block).group(1)
        line = re.search(r"\n    resources: (.*)", block)
        pairs = (item.split("=", 1) for item in line.group(1).split(", ")) if line else ()
        jobs.append((name, dict(pairs)))
    return jobs


@pytest.mark.parametrize(
    "config, gans",
    [("cifar10_lt.yaml", 18), ("cifar100_lt.yaml", 12), ("lsun5_lt.yaml", 12)],
)
def test_full_scale_configs_plan_gpu_jobs_on_slurm(config, gans):
    result = snakemake(
        REPO, "-n", "--profile", "profiles/slurm", "--configfile", f"config/{config}"
    )
    planned = planned_jobs(result)
    assert planned["train_gan"] == gans and planned["classification_accuracy_score"] == gans
    assert planned["make_subset"] == 3 and planned["fid_reference_stats"] == 2
    jobs = job_resources(result)
    assert len(jobs) == sum(planned.values())  # rule all included (no resources)
    for name, resources in jobs:
        expected = "1" if name in NETWORK_RULES else "0"
        assert resources.get("gpu", "0") == expected, (name, resources)
        # the Slurm profile's default-resources reach every job (the local workflow
        # profile, profiles/default, must not replace them)
        assert name == "all" or "cpus_per_task" in resources, (name, resources)
    train = [r for name, r in jobs if name == "train_gan"]
    assert all(r["cpus_per_task"] == "2" and r["runtime"] == "2880" for r in train)


@pytest.mark.parametrize("config", ["cifar10_lt_reat.yaml", "cifar100_lt_reat.yaml"])
def test_reat_configs_plan_gpu_jobs_on_slurm(config):
    result = snakemake(
        REPO, "-n", "--profile", "profiles/slurm", "--configfile", f"config/{config}"
    )
    planned = planned_jobs(result)
    # PGD-AT, PGD-AT + BSL and REAT at three ratios, PGD-AT on one balanced-small subset
    assert planned["train_classifier"] == planned["evaluate_robustness"] == 10
    assert planned["adversarial_training_table"] == 1
    for name, resources in job_resources(result):
        if name in ("train_classifier", "evaluate_robustness"):
            assert resources["gpu"] == "1" and "cpus_per_task" in resources, (name, resources)


@pytest.mark.parametrize(
    "config, gans, finetuned",
    [("cifar10_robgan.yaml", 6, 4), ("imagenet143_robgan.yaml", 3, 2)],
)
def test_robust_gan_configs_plan_gpu_jobs_on_slurm(config, gans, finetuned):
    result = snakemake(
        REPO, "-n", "--profile", "profiles/slurm", "--configfile", f"config/{config}"
    )
    planned = planned_jobs(result)
    assert planned["train_gan"] == gans and planned["finetune_discriminator"] == finetuned
    assert planned["robust_gan_table"] == 1 and planned["figure_robust_gan_fid"] == 1
    # Rob-GAN Table 1: the fine-tuned discriminators and PGD-AT of the same network
    # (one per dataset) under PGD-20 at three budgets
    assert planned["evaluate_robustness"] == 3 * (finetuned + gans // 3)
    for name, resources in job_resources(result):
        if name in NETWORK_RULES:
            assert resources["gpu"] == "1" and "cpus_per_task" in resources, (name, resources)


def test_uap_config_plans_gpu_jobs_on_slurm():
    result = snakemake(
        REPO, "-n", "--profile", "profiles/slurm", "--configfile", "config/cifar10_uap.yaml"
    )
    planned = planned_jobs(result)
    # 3 seeds: 2 prior GANs per victim each; 6 methods x 3 victims each; one table, 3 figures
    assert planned["train_prior_gan"] == planned["sample_prior_gan"] == 18
    assert all(planned[f"craft_uap_{method}"] == 9 for method in UAP_METHODS)
    assert planned["train_classifier"] == 3 and planned["uap_table"] == 1
    for name, resources in job_resources(result):
        if name in NETWORK_RULES:
            assert resources["gpu"] == "1" and "cpus_per_task" in resources, (name, resources)
