"""The workflow on a real single-node Slurm cluster (tests/slurm/cluster.sh), through
profiles/slurm: the README's cluster command, each job a Slurm job, with accounting.

Skips, saying why, only where Slurm cannot be installed (not root, no apt-get, no
package registry); anything failing after the cluster is up is a failure.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import REPO, copy_workflow

pytestmark = pytest.mark.slurm

CLUSTER = REPO / "tests" / "slurm" / "cluster.sh"
# the command of the README's cluster section
COMMAND = ["--profile", "profiles/slurm", "--configfile", "config/slurm_smoke.yaml"]
RULES = {"prepare_dataset", "make_subset", "train_classifier", "evaluate_classifier"}


def _cluster(action: str, timeout: int) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["timeout", "-k", "10", str(timeout), str(CLUSTER), action],
        capture_output=True,
        text=True,
    )


@pytest.fixture(scope="module")
def cluster():
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip("Slurm cannot be installed here: needs root and apt-get (Debian)")
    installed = _cluster("install", 600)
    if installed.returncode != 0:
        pytest.skip(f"Slurm cannot be installed here: {installed.stderr.strip()[-500:]}")
    started = _cluster("start", 180)
    record = Path(os.environ.get("ADVTAIL_SLURM_STATE", "/var/tmp/advtail-slurm")) / "started"
    daemons = record.read_text().split() if record.is_file() else []
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        yield
    finally:
        _cluster("stop", 120)
    # every daemon start started is gone again
    names, pids = daemons[0::2], [int(p) for p in daemons[1::2]]
    assert "slurmctld" in names and "slurmd" in names, daemons
    alive = [(n, p) for n, p in zip(names, pids, strict=True) if Path(f"/proc/{p}").exists()]
    assert not alive, f"left running after stop: {alive}"


def test_workflow_slice_runs_as_slurm_jobs(cluster, tmp_path):
    copy_workflow(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"  # jobs find this snakemake
    started = subprocess.run(
        ["date", "+%Y-%m-%dT%H:%M:%S"], capture_output=True, text=True, check=True
    ).stdout.strip()
    # its own process group: whatever happens, nothing of this run keeps polling after it
    process = subprocess.Popen(
        [sys.executable, "-m", "snakemake", *COMMAND],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=900)
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()
    result = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    metrics = tmp_path / "results/classifiers/digits/lt20/ce_lt20/metrics.json"
    assert metrics.is_file()
    table = pd.read_csv(tmp_path / "results/tables/classifiers.csv")
    assert table.loc[0, "classifier"] == "ce_lt20" and 0.1 < table.loc[0, "accuracy"] <= 1.0

    # every job of the slice ran as a Slurm job, recorded by accounting, and completed
    accounting = subprocess.run(
        ["sacct", "-n", "-X", "-P", "-S", started, "--format=JobID,Submit,State,Comment%200"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = [line.split("|") for line in accounting.strip().splitlines()]
    jobs = [(state, comment) for _, submit, state, comment in rows if submit >= started]
    ran = {comment.split("_wildcards_")[0].removeprefix("rule_") for _, comment in jobs}
    assert RULES <= ran, accounting
    # the table and its report page are local rules: made here, never submitted
    assert (tmp_path / "results/tables/classifiers.html").is_file()
    assert not {"classifier_table", "table_view"} & ran, accounting
    assert all(state == "COMPLETED" for state, _ in jobs), accounting


def test_readme_cluster_section_is_what_the_test_runs():
    readme = (REPO / "README.md").read_text()
    assert "\n" + " ".join(["snakemake", *COMMAND]) + "\n" in readme
