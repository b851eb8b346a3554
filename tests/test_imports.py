"""Rule inputs from the import graph; the lib path that jobs inherit; rule logs."""

import logging
import os
import sys

import pytest
from advtail.errors import DataFileError
from advtail.workflow.imports import expose_lib, imported_names, lib_sources
from advtail.workflow.logs import rule_log
from conftest import REPO
from conftest import write_source as write


@pytest.fixture
def toy_lib(tmp_path):
    lib = tmp_path / "lib"
    write(lib / "pkg/__init__.py", "")
    write(lib / "pkg/a/__init__.py", "")
    write(lib / "pkg/a/one.py", "from . import two\nfrom .three import f\n")
    write(lib / "pkg/a/two.py", "import numpy\n")
    write(lib / "pkg/a/three.py", "def f():\n    from pkg.b.lazy import g\n")
    write(lib / "pkg/b/__init__.py", "")
    write(lib / "pkg/b/lazy.py", "from ..a import two\n")
    write(lib / "pkg/b/unused.py", "")
    write(lib / "pkg/c.py", "")
    return lib


def names(files, lib):
    return sorted(str(f.relative_to(lib)) for f in files)


def test_transitive_relative_and_lazy_imports(toy_lib, tmp_path):
    script = tmp_path / "script.py"
    write(script, "import os\nfrom pkg.a.one import something\n")
    assert names(lib_sources(script, toy_lib, top="pkg"), toy_lib) == [
        "pkg/__init__.py",
        "pkg/a/__init__.py",
        "pkg/a/one.py",
        "pkg/a/three.py",
        "pkg/a/two.py",
        "pkg/b/__init__.py",
        "pkg/b/lazy.py",
    ]


def test_from_package_import_module(toy_lib, tmp_path):
    script = tmp_path / "script.py"
    write(script, "from pkg import c\n")
    assert names(lib_sources(script, toy_lib, top="pkg"), toy_lib) == [
        "pkg/__init__.py",
        "pkg/c.py",
    ]


def test_relative_import_resolution(tmp_path):
    module = tmp_path / "m.py"
    write(module, "from .. import x\nfrom ..y import z\nfrom . import w\n")
    assert imported_names(module, "pkg.sub") == {
        "pkg",
        "pkg.x",
        "pkg.y",
        "pkg.y.z",
        "pkg.sub",
        "pkg.sub.w",
    }


def test_real_scripts_split_the_data_modules():
    scripts = REPO / "workflow" / "scripts"
    lib = REPO / "lib"
    subset = names(lib_sources(scripts / "make_subset.py", lib), lib)
    prepare = names(lib_sources(scripts / "prepare_dataset.py", lib), lib)
    assert "advtail/data/profiles.py" in subset and "advtail/plots/counts.py" in subset
    assert "advtail/data/profiles.py" not in prepare
    assert "advtail/data/sources.py" in prepare and "advtail/data/sources.py" not in subset
    assert "advtail/data/arrays.py" in prepare and "advtail/data/arrays.py" in subset


def test_expose_lib_prepends_once(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))
    env = {"PYTHONPATH": os.pathsep.join(["/x", str(tmp_path)])}
    assert expose_lib(tmp_path, env) == os.pathsep.join([str(tmp_path), "/x"])
    assert expose_lib(tmp_path, env) == os.pathsep.join([str(tmp_path), "/x"])
    assert sys.path[0] == str(tmp_path)
    assert expose_lib(tmp_path, {}) == str(tmp_path)


def test_rule_log_captures_output_and_user_errors(tmp_path, capsys):
    log_file = tmp_path / "logs" / "job.log"
    with rule_log(log_file):
        print("to stdout")
        print("to stderr", file=sys.stderr)
        logging.getLogger("advtail.test").info("a log record")
    text = log_file.read_text()
    assert "to stdout" in text and "to stderr" in text and "a log record" in text
    with pytest.raises(SystemExit) as info, rule_log(log_file):
        raise DataFileError("some/file.npz", "file not found")
    assert info.value.code == 1
    assert "ERROR: some/file.npz: file not found" in log_file.read_text()
    assert "some/file.npz: file not found" in capsys.readouterr().err


def test_jobs_run_here_only_for_local_runs():
    from types import SimpleNamespace as NS

    from advtail.workflow.execution import jobs_run_here

    def workflow(remote=False, plugin=None, local=True, nodes=None):
        return NS(
            remote_exec=remote,
            executor_plugin=plugin,
            local_exec=local,
            resource_settings=NS(nodes=nodes),
        )

    assert jobs_run_here(workflow())  # snakemake --cores all
    assert not jobs_run_here(workflow(nodes=50))  # --profile profiles/slurm (jobs: 50)
    assert not jobs_run_here(workflow(remote=True))  # a job on a cluster node
    assert not jobs_run_here(workflow(plugin=object(), local=False, nodes=None))
    assert jobs_run_here(workflow(plugin=object(), local=True, nodes=4))
