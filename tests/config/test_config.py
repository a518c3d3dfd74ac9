"""Configuration: defaults, strict validation, the three ways to name a file, the registry."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from runnable import ConfigurationError, MissingExtraError
from runnable.backends import registry
from runnable.config import loading as _config
from tests.conftest import run_cli, run_python

JOB = textwrap.dedent(
    """
    from runnable import Catalog, PythonJob

    def write():
        with open("out.txt", "w") as f:
            f.write("hello")

    def main():
        job = PythonJob(function=write, catalog=Catalog(put=["out.txt"]))
        job.execute()
        return job

    if __name__ == "__main__":
        main()
    """
)


def test_defaults_are_the_local_setup(workdir: Path) -> None:
    c = _config.load()
    assert c.path is None
    assert {s: (c[s].type, c[s].config) for s in _config.SECTIONS} == {
        "catalog": ("file-system", {"catalog_location": ".catalog"}),
        "run-log-store": ("file-system", {"log_folder": ".run_log_store"}),
        "job-executor": ("local", {}),
        "secrets": ("env", {}),
        "pipeline-executor": ("local", {}),
    }


def test_partial_file_keeps_other_defaults(workdir: Path) -> None:
    (workdir / "c.yaml").write_text("catalog: {type: file-system, config: {catalog_location: store}}\n")
    c = _config.load("c.yaml")
    assert c["catalog"].config == {"catalog_location": "store"}
    assert c["run-log-store"].config == {"log_folder": ".run_log_store"}
    assert c.path == workdir / "c.yaml"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"catalogue": {}}, "unknown section 'catalogue'"),
        ({"catalog": {"type": "ftp"}}, "unknown catalog type 'ftp'; known types: file-system, s3"),
        ({"job-executor": {"type": "slurm"}}, "known types: k8s-job, local, local-container"),
        ({"secrets": {"type": "vault"}}, "known types: dotenv, env"),
        ({"catalog": {"config": {"location": "x"}}}, "unknown key 'location' in section 'catalog'"),
        ({"run-log-store": {"config": {"folder": "x"}}}, "unknown key 'folder' in section 'run-log-store'"),
        ({"secrets": {"type": "dotenv", "config": {"path": ".env"}}}, "unknown key 'path' in section 'secrets'"),
        ({"job-executor": {"type": "local", "config": {"image": "x"}}}, "unknown key 'image' in section 'job-executor'"),
        ({"job-executor": {"type": "local-container"}}, "needs the key 'image'"),
        ({"job-executor": {"type": "k8s-job", "config": {"image": "x", "namespaces": "a"}}},
         "unknown key 'namespaces' in section 'job-executor' (type 'k8s-job')"),
        ({"catalog": {"type": "file-system", "kind": "x"}}, "unknown key 'kind' in section 'catalog'"),
        ({"catalog": {"config": {"hash_algorithm": "crc32"}}}, "crc32"),
        ({"catalog": "file-system"}, "section 'catalog'"),
        (["catalog"], "must be a mapping"),
    ],
)
def test_validation_errors_name_what_is_wrong(data: object, expected: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        _config.parse(data, "test.yaml")
    assert expected in str(info.value)


def test_known_key_lists_the_allowed_ones() -> None:
    with pytest.raises(ConfigurationError, match=r"known keys: .*image.*namespace"):
        _config.parse({"job-executor": {"type": "k8s-job", "config": {"image": "x", "nmespace": "a"}}})


def test_bad_values_are_errors_when_loaded() -> None:
    # The built-in executors are built once when the file is loaded: a wrong value stops everything there.
    with pytest.raises(ConfigurationError, match=r"'backoff_limit' must be 0 or more \(in 'c.yaml'\)"):
        _config.parse({"job-executor": {"type": "k8s-job", "config": {"image": "x", "backoff_limit": -1}}}, "'c.yaml'")
    with pytest.raises(ConfigurationError, match="not a valid V1Toleration"):
        _config.parse({"job-executor": {"type": "k8s-job", "config": {"image": "x", "tolerations": [{"ky": "a"}]}}})


def test_missing_file_and_bad_yaml(workdir: Path) -> None:
    with pytest.raises(ConfigurationError, match="'nope.yaml' does not exist"):
        _config.load("nope.yaml")
    (workdir / "bad.yaml").write_text("catalog: [\n")
    with pytest.raises(ConfigurationError, match="not valid YAML"):
        _config.load("bad.yaml")


def test_missing_extra_names_the_extra(workdir: Path) -> None:
    # A real interpreter in which the kubernetes package cannot be imported.
    code = textwrap.dedent(
        """
        import sys
        sys.modules["kubernetes"] = None
        from runnable.config import loading as config
        try:
            config.parse({"job-executor": {"type": "k8s-job", "config": {"image": "x"}}})
        except ImportError as exc:
            print(type(exc).__name__, exc)
        """
    )
    done = run_python(code, workdir)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("MissingExtraError")
    assert "pip install 'runnable[k8s]'" in done.stdout
    assert issubclass(MissingExtraError, ImportError)


def test_three_ways_to_name_the_file(workdir: Path) -> None:
    (workdir / "job.py").write_text(JOB)
    (workdir / "a.yaml").write_text("catalog: {config: {catalog_location: cat_a}}\n")
    (workdir / "b.yaml").write_text("catalog: {config: {catalog_location: cat_b}}\n")
    (workdir / "c.yaml").write_text("catalog: {config: {catalog_location: cat_c}}\n")
    (workdir / "explicit.py").write_text(JOB.replace("job.execute()", "job.execute(configuration_file='a.yaml')"))
    assert run_python(Path("explicit.py"), workdir).returncode == 0
    assert run_cli(workdir, "execute-job", "job.py", "--config", "b.yaml").returncode == 0
    assert run_python(Path("job.py"), workdir, env={"RUNNABLE_CONFIGURATION_FILE": "c.yaml"}).returncode == 0
    for name in ("cat_a", "cat_b", "cat_c"):
        runs = [p for p in (workdir / name).iterdir() if (p / "out.txt").exists()]
        assert len(runs) == 1, name


def test_cli_reports_configuration_errors(workdir: Path) -> None:
    (workdir / "job.py").write_text(JOB)
    (workdir / "c.yaml").write_text("job-executor: {type: slurm}\n")
    done = run_cli(workdir, "execute-job", "job.py", "--config", "c.yaml")
    assert done.returncode == 2
    assert "unknown job-executor type 'slurm'; known types: k8s-job, local, local-container" in done.stderr
    assert not (workdir / ".run_log_store").exists() or not any((workdir / ".run_log_store").iterdir())


def test_builtins_are_also_entry_points() -> None:
    for section, table in registry.BUILTIN.items():
        declared = registry._entry_points(section)
        assert set(table) <= set(declared), section
        for name, (target, _extra) in table.items():
            assert declared[name].value == target


PLUGIN = textwrap.dedent(
    '''
    """A third-party executor: tags every run, then runs it locally."""
    import sys

    from runnable.executors.local import LocalExecutor


    class TaggingExecutor:
        def __init__(self, tag: str) -> None:
            self.tag = tag

        def execute(self, job, configuration, options):
            sys.stderr.write(f"plugin executor running {job.name}\\n")
            options.tags.append(self.tag)
            return LocalExecutor().execute(job, configuration, options)
    '''
)


def _install_plugin(root: Path) -> Path:
    """A package with an entry point, as pip would leave it: a module beside its .dist-info folder."""
    site = root / "site"
    (site / "tagging_plugin").mkdir(parents=True)
    (site / "tagging_plugin" / "__init__.py").write_text(PLUGIN)
    info = site / "tagging_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tagging-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[runnable.job_executor]\ntagging = tagging_plugin:TaggingExecutor\nbroken = tagging_plugin:Missing\n"
    )
    return site


def test_third_party_executor_through_entry_point(workdir: Path, tmp_path: Path) -> None:
    site = _install_plugin(tmp_path)
    env = {"PYTHONPATH": str(site)}
    (workdir / "job.py").write_text(JOB)
    (workdir / "c.yaml").write_text("job-executor: {type: tagging, config: {tag: from-plugin}}\n")
    done = run_cli(workdir, "execute-job", "job.py", "--config", "c.yaml", env=env)
    assert done.returncode == 0, done.stderr
    assert "plugin executor running write" in done.stderr
    run_id = json.loads(done.stdout)["run_id"]
    record = json.loads((workdir / ".run_log_store" / f"{run_id}.json").read_text())
    assert record["tags"] == ["from-plugin"]
    assert (workdir / ".catalog" / run_id / "out.txt").read_text() == "hello"

    (workdir / "c.yaml").write_text("job-executor: {type: tagging, config: {colour: red}}\n")
    done = run_cli(workdir, "execute-job", "job.py", "--config", "c.yaml", env=env)
    assert done.returncode == 2
    assert "unknown key 'colour' in section 'job-executor' (type 'tagging')" in done.stderr

    (workdir / "c.yaml").write_text("job-executor: {type: nope}\n")
    done = run_cli(workdir, "execute-job", "job.py", "--config", "c.yaml", env=env)
    assert "known types: broken, k8s-job, local, local-container, tagging" in done.stderr

    (workdir / "c.yaml").write_text("job-executor: {type: broken}\n")
    done = run_cli(workdir, "execute-job", "job.py", "--config", "c.yaml", env=env)
    assert done.returncode == 2
    assert "registered by tagging-plugin as 'tagging_plugin:Missing' but cannot be loaded" in done.stderr
