"""The import layers of lib/advtail: each layer imports only earlier ones (and itself),
and only ``stages`` imports ``plots``. Where code lives decides what reruns."""

from __future__ import annotations

from pathlib import Path

from advtail.workflow.imports import imported_names
from conftest import REPO, workflow_env
from conftest import write_source as write

# In import order. ``workflow`` (import graph, rule logs) is infrastructure beside
# ``errors``; ``config`` is read by the Snakefile and sits above everything.
LAYERS = (
    {"advtail", "errors", "workflow"},
    {"data"},
    {"nets"},
    {"losses", "attacks"},
    {"metrics"},
    {"plots"},
    {"training"},
    {"stages"},
    {"config", "preflight"},
)
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def part_of(module: str) -> str:
    """``advtail.nets.gans`` -> ``nets``; ``advtail`` -> ``advtail``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def layer_violations(lib_root: Path, top: str = "advtail") -> list[str]:
    """Every import in ``lib_root/top`` against the layer order, as readable lines."""
    problems = []
    for path in sorted((lib_root / top).rglob("*.py")):
        relative = path.relative_to(lib_root).with_suffix("")
        module = ".".join(relative.parts).removesuffix(".__init__")
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        own = part_of(module)
        if own not in RANK:
            problems.append(f"{module}: package '{own}' has no layer")
            continue
        reported = set()
        for name in sorted(imported_names(path, package)):
            if not name.startswith(top + "."):
                continue
            other = part_of(name)
            if other not in RANK or other in reported:
                continue  # an attribute of the package, or a layer already named
            reported.add(other)
            if RANK[other] > RANK[own]:
                problems.append(f"{module} imports {name} (layer '{other}' is above '{own}')")
            elif other == "plots" and own not in ("plots", "stages"):
                problems.append(f"{module} imports {name} (only stages import plots)")
    return problems


def test_lib_follows_the_layers():
    assert layer_violations(REPO / "lib") == []


def test_every_package_has_a_layer():
    packages = {p.name for p in (REPO / "lib/advtail").iterdir() if p.is_dir()}
    packages |= {p.stem for p in (REPO / "lib/advtail").glob("*.py") if p.stem != "__init__"}
    packages.discard("__pycache__")
    assert packages <= set(RANK), packages - set(RANK)


def test_the_checker_finds_upward_imports_and_plots_outside_stages(tmp_path):
    lib = tmp_path / "lib"
    write(lib / "advtail/__init__.py", "")
    write(lib / "advtail/nets/__init__.py", "")
    write(lib / "advtail/nets/bad.py", "def f():\n    from advtail.training.loop import x\n")
    write(lib / "advtail/metrics/__init__.py", "")
    write(lib / "advtail/metrics/draws.py", "from advtail.plots import grids\n")
    write(lib / "advtail/stages/__init__.py", "")
    write(
        lib / "advtail/stages/ok.py", "from ..plots.grids import g\nfrom advtail.nets import bad\n"
    )
    assert layer_violations(lib) == [
        "advtail.metrics.draws imports advtail.plots (layer 'plots' is above 'metrics')",
        "advtail.nets.bad imports advtail.training.loop (layer 'training' is above 'nets')",
    ]


def test_reading_the_workflow_imports_no_torch_matplotlib_or_art(tmp_path):
    """Every snakemake call reads the Snakefile: a dry run of the default experiment
    succeeds where importing torch, matplotlib or the Adversarial Robustness Toolbox
    fails (pandas is left out: Snakemake's Slurm executor plugin imports it itself)."""
    import subprocess
    import sys

    for package in ("torch", "matplotlib", "art"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text(
            f"raise ImportError('{package} imported while reading the workflow')\n"
        )
    env = workflow_env(PYTHONPATH=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "imported while reading the workflow" not in result.stdout + result.stderr
