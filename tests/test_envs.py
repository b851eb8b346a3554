"""Conda environments: every rule names one that exists and parses, with pinned major
versions, the package's dependencies, and advtail installed from the checkout."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib.metadata import requires

import yaml
from conftest import REPO

# PyPI names of pyproject.toml's dependencies -> conda-forge names
CONDA_NAMES = {"torch": "pytorch", "matplotlib": "matplotlib-base", "snakemake": None}


def rule_envs() -> dict[str, str]:
    """Rule name -> the env file its conda: directive names (through ENV in common.smk)."""
    common = (REPO / "workflow/rules/common.smk").read_text()
    env = re.search(r'^ENV = "(.+)"$', common, re.M).group(1)
    envs, derived_rules = {}, []
    for path in sorted((REPO / "workflow/rules").glob("*.smk")):
        for body in re.split(r"\n(?=rule )", path.read_text())[1:]:
            name = body.split(":")[0].removeprefix("rule ")
            match = re.search(r"\n    conda:\n        (.+)\n", body)
            assert match, f"rule {name} ({path.name}) names no conda environment"
            value = match.group(1).strip()
            envs[name] = env if value == "ENV" else value.strip('"')
        derived_rules += re.findall(r"^use rule (\w+) as (\w+) with:", path.read_text(), re.M)
    # `use rule base as derived with:` keeps the base rule's conda environment (the base
    # may be in another file: uaps.smk derives from gans.smk's train_gan)
    for base, derived in derived_rules:
        envs[derived] = envs[base]
    return envs


def test_every_rule_names_an_existing_env():
    envs = rule_envs()
    assert len(envs) >= 15
    for rule, env in envs.items():
        # conda: paths are relative to the rule file's folder
        assert (REPO / "workflow/rules" / env).resolve().is_file(), (rule, env)


def test_envs_parse_with_pinned_major_versions_and_the_package():
    runtime = [r for r in requires("advtail") if "extra ==" not in r]  # pyproject.toml's
    wanted = set()
    for requirement in runtime:
        name = re.match(r"[A-Za-z0-9_.-]+", requirement).group(0).lower()
        conda = CONDA_NAMES.get(name, name)
        if conda:
            wanted.add(conda)
    files = sorted((REPO / "envs").glob("*.yaml"))
    assert files
    for path in files:
        env = yaml.safe_load(path.read_text())
        assert env["channels"][0] == "conda-forge", path
        conda = [d for d in env["dependencies"] if isinstance(d, str)]
        pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
        for dep in conda:
            assert re.fullmatch(r"[a-z0-9_.-]+=\d+(\.\d+)?", dep), f"{path.name}: {dep} not pinned"
        names = {dep.split("=")[0] for dep in conda} | {p.split("==")[0] for p in pip}
        assert wanted <= names, f"{path.name} lacks {sorted(wanted - names)}"
        assert "--editable ${ADVTAIL_ROOT}" in pip, path


def test_pip_expands_the_checkout_path(tmp_path):
    """The pip line of the env, as conda hands it to pip, installs this checkout."""
    env = yaml.safe_load((REPO / "envs/advtail.yaml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    (tmp_path / "requirements.txt").write_text(
        "\n".join(p for p in pip if "ADVTAIL_ROOT" in p) + "\n"
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--no-deps",
            "-q",
            "--report",
            str(tmp_path / "report.json"),
            "-r",
            str(tmp_path / "requirements.txt"),
        ],
        env={"ADVTAIL_ROOT": str(REPO), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    report = yaml.safe_load((tmp_path / "report.json").read_text())
    assert [item["metadata"]["name"] for item in report["install"]] == ["advtail"]
