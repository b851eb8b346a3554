"""Declared dependencies and conda environments: every package the code imports is in
pyproject; every rule names an environment that exists and pins, exactly, what the
jobs import."""

from __future__ import annotations

import ast
import json
import re
import socket
import subprocess
import sys
from importlib.metadata import packages_distributions, requires

import pytest
import yaml
from conftest import REPO
from packaging.requirements import Requirement


def registry_reachable(host: str = "pypi.org", port: int = 443) -> bool:
    """Whether the package registry answers (an offline machine skips what needs it)."""
    try:
        socket.create_connection((host, port), timeout=5).close()
    except OSError:
        return False
    return True


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


def third_party_imports(paths) -> set[str]:
    """Top-level modules the files import that are neither the standard library nor advtail."""
    names = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n != "advtail"}


def distributions(modules) -> dict[str, set[str]]:
    """Import name -> the installed distributions that provide it (lower-case)."""
    provided = packages_distributions()
    return {m: {d.lower() for d in provided.get(m, [])} for m in modules}


# the config layer (the config package, preflight.py) runs only in the process that runs
# the workflow; every other module of lib/ and the rule scripts run in jobs
HOST_ONLY = {"config", "preflight.py"}
# imported by a dependency without declaring it (ART's AutoAttack imports multiprocess)
UNDECLARED_BY_DEPENDENCIES = {"multiprocess"}


def job_sources():
    root = REPO / "lib/advtail"
    lib = [p for p in root.rglob("*.py") if p.relative_to(root).parts[0] not in HOST_ONLY]
    return lib + sorted((REPO / "workflow/scripts").glob("*.py"))


def test_every_directly_imported_package_is_declared():
    runtime = {
        re.match(r"[A-Za-z0-9_.-]+", r).group(0).lower().replace("_", "-")
        for r in requires("advtail")
        if "extra ==" not in r
    }
    sources = list((REPO / "lib/advtail").rglob("*.py")) + job_sources()
    for module, dists in distributions(third_party_imports(sources)).items():
        assert dists, f"{module} is imported but not installed"
        assert {d.replace("_", "-") for d in dists} & runtime, (
            f"{module} (from {sorted(dists)}) is imported but not in pyproject's dependencies"
        )


def env_pins(path) -> tuple[list, dict]:
    env = yaml.safe_load(path.read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    return conda, dict(line.split("==") for line in pip)


def test_envs_pin_exactly_what_jobs_import():
    files = sorted((REPO / "envs").glob("*.yaml"))
    assert files
    needed = distributions(third_party_imports(job_sources()))
    runtime = {
        Requirement(r).name.lower(): Requirement(r)
        for r in requires("advtail")
        if "extra ==" not in r
    }
    for path in files:
        env = yaml.safe_load(path.read_text())
        assert env["channels"][0] == "conda-forge", path
        conda, pip = env_pins(path)
        assert {c.split("=")[0] for c in conda} == {"python", "pip"}, conda
        for dep in conda:  # a patch release: the same interpreter next year
            assert re.fullmatch(r"[a-z]+=\d+\.\d+(\.\d+)?", dep), f"{path.name}: {dep}"
        for name, version in pip.items():
            assert re.fullmatch(r"[0-9][0-9a-z.]*", version), f"{path.name}: {name}=={version}"
            # within pyproject's bounds, where pyproject names the package
            if name in runtime:
                assert runtime[name].specifier.contains(version), (name, version)
        names = set(pip)
        for module, dists in needed.items():
            assert dists & names, f"{path.name} lacks {module} (imported by jobs)"
        assert {"multiprocess"} <= names | UNDECLARED_BY_DEPENDENCIES
        # neither Snakemake nor advtail itself goes into a job environment
        assert not {n for n in names if n.startswith("snakemake") or n == "advtail"}
        assert not any(line.startswith("-") for line in pip), pip


@pytest.mark.network
def test_pip_resolves_the_env_pins_together(tmp_path):
    """The pins are versions that exist and fit together (pip's resolver, no install)."""
    if not registry_reachable():
        pytest.skip("needs the network: pypi.org:443 does not answer (pip resolves the pins)")
    _, pip = env_pins(REPO / "envs/advtail.yaml")
    (tmp_path / "requirements.txt").write_text(
        "".join(f"{name}=={version}\n" for name, version in pip.items())
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--ignore-installed",
            "-q",
            "--report",
            str(tmp_path / "report.json"),
            "-r",
            str(tmp_path / "requirements.txt"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "report.json").read_text())
    resolved = {i["metadata"]["name"].lower(): i["metadata"]["version"] for i in report["install"]}
    # every package besides torch's own CUDA libraries is pinned in the file
    unpinned = {
        n for n in resolved if n not in pip and not n.startswith(("nvidia", "cuda-", "triton"))
    }
    assert not unpinned, f"resolved but not pinned: {sorted(unpinned)}"
    assert all(resolved[n] == v for n, v in pip.items()), resolved
