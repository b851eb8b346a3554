"""Where a workflow's jobs run, as far as it can be told while the Snakefile is read."""

from __future__ import annotations


def jobs_run_here(workflow) -> bool:
    """Whether jobs run on this machine (so its devices and memory are theirs).

    Snakemake sets the executor only after reading the Snakefile, but a run that submits
    jobs (e.g. ``--profile profiles/slurm``) has ``--jobs`` (``nodes``), which a local
    run turns into ``--cores``; a job on a cluster node reads the Snakefile in remote
    mode, and CPU-only jobs run there too.
    """
    if workflow.remote_exec:
        return False
    if workflow.executor_plugin is not None:
        return workflow.local_exec
    return workflow.resource_settings.nodes is None
