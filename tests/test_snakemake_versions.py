"""The Snakemake releases that pyproject's pin (snakemake>=9,<10) allows read the profiles.

Snakemake 9.0 to 9.18 look only for a profile's ``config.yaml`` (later releases also read
``profile.yaml``): each release below is installed beside the test environment (its own
dependencies in a target folder, numpy and pandas held at the environment's versions)
and dry-runs the default experiment with the workflow profile and with the Slurm
profile. The installed (newest) release is covered by every other workflow test.
"""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version

import pytest
from conftest import copy_workflow, workflow_env

pytestmark = [pytest.mark.workflow, pytest.mark.versions]

# the two ends of the range that reads only config.yaml from a profile folder, the
# first of them the lowest release the pin allows
VERSIONS = ["9.0.0", "9.18.2"]


@pytest.fixture(scope="module")
def workflow_copy(tmp_path_factory):
    return copy_workflow(tmp_path_factory.mktemp("versions"))


def install(release: str, target) -> None:
    held = [f"{name}=={version(name)}" for name in ("numpy", "pandas")]
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--target", str(target)]
        + [f"snakemake[reports]=={release}", "snakemake-executor-plugin-slurm", *held],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        pytest.fail(f"pip could not install snakemake {release}:\n{result.stderr[-3000:]}")


@pytest.mark.parametrize("release", VERSIONS)
def test_release_reads_the_profiles(release, workflow_copy, tmp_path):
    install(release, tmp_path / "site")
    env = workflow_env(PYTHONPATH=str(tmp_path / "site"))
    probe = subprocess.run(
        [sys.executable, "-c", "import snakemake; print(snakemake.__version__)"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert probe.stdout.strip() == release, probe.stderr
    for extra in ([], ["--profile", "profiles/slurm"]):
        result = subprocess.run(
            [sys.executable, "-m", "snakemake", "-n", *extra],
            cwd=workflow_copy,
            capture_output=True,
            text=True,
            env=env,
        )
        output = result.stdout + result.stderr
        assert result.returncode == 0, output[-3000:]
        assert "workflow specific profile profiles/default" in output
        if extra:
            assert "Using profiles profiles/slurm" in output
        assert "This was a dry-run" in output
        assert "rule train_gan:" in output
