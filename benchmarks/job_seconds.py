"""The default experiment's cost by rule: the sum of its jobs' own wall times.

Every job's log ends with ``advtail.job: finished in X s`` (``workflow.logs.rule_log``);
this sums those lines by rule (the first folder under ``results/logs``) for one or more
result folders, side by side, with the ratio of each to the first.

    python benchmarks/job_seconds.py results                 # one run
    python benchmarks/job_seconds.py before/results results  # two runs, ratio after/before
    python benchmarks/job_seconds.py --jobs results          # per job: seconds, peak memory
"""

from __future__ import annotations

import argparse
import re
from collections import defaultdict
from pathlib import Path

FINISHED = re.compile(r"advtail\.job: finished in ([0-9.]+) s(?:, peak memory ([0-9.]+) MiB)?")


def job_costs(results: Path) -> list[tuple[str, str, float, float | None]]:
    """(rule, job, seconds, peak MiB or None) of every finished job under ``results/logs``."""
    logs = results / "logs"
    if not logs.is_dir():
        raise SystemExit(f"{logs}: no such folder (run the workflow first)")
    costs = []
    for log in sorted(logs.rglob("*.log")):
        found = FINISHED.findall(log.read_text(errors="replace"))
        if found:  # a resumed job logs twice: its last run is the one that finished
            parts = log.relative_to(logs).parts  # logs/<rule>/... or logs/<rule>.log
            rule = parts[0] if len(parts) > 1 else log.stem
            seconds, peak = found[-1]
            job = str(log.relative_to(logs).with_suffix(""))
            costs.append((rule, job, float(seconds), float(peak) if peak else None))
    return costs


def job_seconds(results: Path) -> dict[str, tuple[int, float]]:
    """Rule -> (jobs, seconds) from the logs under ``results/logs``."""
    totals: dict[str, list] = defaultdict(lambda: [0, 0.0])
    for rule, _, seconds, _ in job_costs(results):
        totals[rule][0] += 1
        totals[rule][1] += seconds
    return {rule: (n, s) for rule, (n, s) in totals.items()}


def print_jobs(results: Path) -> None:
    """One CSV row per job: rule, job, seconds, peak memory (MiB)."""
    print("rule,job,seconds,peak_mib")
    for rule, job, seconds, peak in job_costs(results):
        print(f"{rule},{job},{seconds:.1f},{'' if peak is None else f'{peak:.0f}'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", type=Path, help="result folders (first: baseline)")
    parser.add_argument(
        "--jobs", action="store_true", help="one CSV row per job (time, peak memory) instead"
    )
    args = parser.parse_args()
    if args.jobs:
        for results in args.results:
            print_jobs(results)
        return
    runs = [job_seconds(r) for r in args.results]
    rules = sorted(set().union(*runs), key=lambda r: -max(run.get(r, (0, 0))[1] for run in runs))
    head = "".join(f"{str(r)[-28:]:>32}" for r in args.results)
    print(f"{'rule':<40}{head}")
    for rule in rules + ["total"]:
        cells = []
        for run in runs:
            if rule == "total":
                n, s = sum(v[0] for v in run.values()), sum(v[1] for v in run.values())
            else:
                n, s = run.get(rule, (0, 0.0))
            cells.append(f"{n:>6} jobs {s:>9.1f} s")
        print(f"{rule:<40}" + "".join(f"{c:>32}" for c in cells))
    if len(runs) > 1:
        base = sum(v[1] for v in runs[0].values())
        for path, run in zip(args.results[1:], runs[1:], strict=True):
            total = sum(v[1] for v in run.values())
            print(f"job-seconds of {path} / {args.results[0]}: {total / base:.3f}")


if __name__ == "__main__":
    main()
