"""Configuration values a user can get wrong: each is refused when the file is loaded, naming the file
and the key, without a traceback through runnable's or a library's internals."""

from __future__ import annotations

import shlex
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from runnable import ConfigurationError
from runnable import config as _config
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


def refused(text: str, folder: Path, name: str = "c.yaml") -> str:
    """The message of the ConfigurationError loading ``text`` as the file ``name`` gives."""
    (folder / name).write_text(text)
    with pytest.raises(ConfigurationError) as info:
        _config.load(folder / name)
    return str(info.value)


def api_failure(folder: Path, config: str = "c.yaml") -> str:
    """stderr of a job script that calls execute(configuration_file=...) and does not catch the error."""
    (folder / "job.py").write_text(JOB.replace("job.execute()", f"job.execute(configuration_file={config!r})"))
    done = run_python(Path("job.py"), folder)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "ConfigurationError: " in done.stderr
    # One error, not chained to the library's own traceback.
    assert "direct cause" not in done.stderr and "During handling" not in done.stderr
    assert "site-packages" not in done.stderr
    assert not (folder / "out.txt").exists()  # the job did not run
    return done.stderr


# -- 1. catalog and run-log locations ------------------------------------------------------------


def test_a_leading_tilde_is_the_home_folder(workdir: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (workdir / "job.py").write_text(JOB)
    (workdir / "c.yaml").write_text("catalog: {config: {catalog_location: ~/rt-catalog}}\n"
                                    "run-log-store: {config: {log_folder: ~/rt-logs}}\n")
    done = run_cli(workdir, "execute-job", "job.py", "--config", "c.yaml", env={"HOME": str(home)})
    assert done.returncode == 0, done.stderr
    assert not (workdir / "~").exists()
    assert [p.name for p in (home / "rt-catalog").iterdir() if (p / "out.txt").is_file()]
    assert list((home / "rt-logs").glob("*.json"))


@pytest.mark.parametrize("value", ["$HOME/rt-logs", "${HOME}/rt-logs", "logs/$USER"])
@pytest.mark.parametrize(("section", "key"), [("catalog", "catalog_location"), ("run-log-store", "log_folder")])
def test_variables_in_locations_are_refused(workdir: Path, section: str, key: str, value: str) -> None:
    (workdir / "job.py").write_text(JOB)
    (workdir / "c.yaml").write_text(yaml.safe_dump({section: {"config": {key: value}}}))
    done = run_cli(workdir, "execute-job", "job.py", "--config", "c.yaml", env={"HOME": str(workdir)})
    assert done.returncode == 2
    assert f"'{key}' in section '{section}' of '{workdir / 'c.yaml'}'" in done.stderr
    assert "variables are not expanded" in done.stderr and "write the path out" in done.stderr
    assert "Traceback" not in done.stderr
    assert sorted(p.name for p in workdir.iterdir()) == ["c.yaml", "job.py"]  # no folder named '$HOME'


def test_a_variable_in_a_location_is_refused_through_the_python_api(workdir: Path) -> None:
    (workdir / "c.yaml").write_text("run-log-store: {config: {log_folder: $HOME/rt-logs}}\n")
    stderr = api_failure(workdir)
    assert "'log_folder' in section 'run-log-store' of 'c.yaml'" in stderr
    assert not (workdir / "$HOME").exists()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("123", "must be a folder path, not the number 123; write it in quotes"),
        ("''", "is empty"),
        ("'   '", "is empty"),
        ("null", "must be a folder path, not null (a lone '~' is null in YAML); leave the key out for the default"),
        ("~", "must be a folder path, not null (a lone '~' is null in YAML)"),
        ("[a]", "must be a folder path, not the list ['a']"),
        ("{a: s3cr3t}", "must be a folder path, not a mapping (with the keys 'a')"),
        ("true", "must be a folder path, not the boolean True"),
        ("~no-such-user-xyz/cat", "no user 'no-such-user-xyz'"),
    ],
)
@pytest.mark.parametrize(("section", "key"), [("catalog", "catalog_location"), ("run-log-store", "log_folder")])
def test_wrong_location_values_are_refused(workdir: Path, section: str, key: str, value: str, expected: str) -> None:
    message = refused(f"{section}: {{config: {{{key}: {value}}}}}\n", workdir)
    assert f"'{key}' in section '{section}' of '{workdir / 'c.yaml'}'" in message
    assert expected in message


def test_a_location_refused_before_anything_is_created(workdir: Path) -> None:
    (workdir / "job.py").write_text(JOB)
    (workdir / "c.yaml").write_text("catalog: {config: {catalog_location: ''}}\n")
    done = run_cli(workdir, "execute-job", "job.py", "--config", "c.yaml")
    assert done.returncode == 2
    assert f"'catalog_location' in section 'catalog' of '{workdir / 'c.yaml'}' is empty" in done.stderr
    assert sorted(p.name for p in workdir.iterdir()) == ["c.yaml", "job.py"]


def test_a_mapping_in_the_wrong_place_is_shown_by_its_keys_only() -> None:
    config = {"bucket": "b", "secrets_file": {"AWS_SECRET_ACCESS_KEY": "s3cr3t-value"}}
    with pytest.raises(ConfigurationError) as info:
        _config.parse({"catalog": {"type": "s3", "config": config}}, "'c.yaml'")
    assert "'secrets_file' in section 'catalog' of 'c.yaml' must be a string, not a mapping (with the keys " \
           "'AWS_SECRET_ACCESS_KEY')" in str(info.value)
    assert "s3cr3t-value" not in str(info.value)


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"bucket": 5}, "'bucket' in section 'catalog' of 'c.yaml' must be a string, not the number 5"),
        ({"bucket": "b", "prefix": ["a"]}, "'prefix' in section 'catalog' of 'c.yaml' must be a string"),
        ({"bucket": "b", "part_size": "8MiB"}, "'part_size' in section 'catalog' of 'c.yaml' must be a whole number, "
                                               "not the string '8MiB'"),
        ({"bucket": "b", "hash_first": "yes"}, "'hash_first' in section 'catalog' of 'c.yaml' must be true or false"),
        ({"bucket": "b", "endpoint_url": 9000}, "'endpoint_url' in section 'catalog' of 'c.yaml' must be a string"),
    ],
)
def test_object_storage_keys_are_type_checked(workdir: Path, config: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        _config.parse({"catalog": {"type": "s3", "config": config}}, "'c.yaml'")
    assert expected in str(info.value)
    with pytest.raises(ConfigurationError) as info:
        _config.parse({"run-log-store": {"type": "s3", "config": {"bucket": 5}}}, "'c.yaml'")
    assert "'bucket' in section 'run-log-store' of 'c.yaml' must be a string, not the number 5" in str(info.value)


# -- 2. malformed and non-UTF-8 files ------------------------------------------------------------


def test_malformed_yaml_names_the_file_line_and_column(workdir: Path) -> None:
    (workdir / "c.yaml").write_text("catalog:\n  type: file-system\n  config: {catalog_location: [\n")
    stderr = api_failure(workdir)
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("runnable.errors.ConfigurationError: configuration file 'c.yaml' is not valid YAML")
    assert "line 4, column 1" in last
    assert "<unicode string>" not in stderr
    assert len(stderr.strip().splitlines()) < 12


def test_yaml_error_message_is_one_line_with_position(workdir: Path) -> None:
    message = refused("catalog:\n  type: s3\n   config: x\n", workdir)
    assert message.startswith(f"configuration file '{workdir / 'c.yaml'}' is not valid YAML: line 3, column")
    assert "\n" not in message and "<unicode string>" not in message


def test_non_utf8_configuration_names_the_position(workdir: Path) -> None:
    (workdir / "c.yaml").write_bytes(b"# settings\ncatalog: {config: {catalog_location: caf\xe9}}\n")
    stderr = api_failure(workdir)
    last = stderr.strip().splitlines()[-1]
    assert "configuration file 'c.yaml' is not UTF-8 text" in last
    assert "line 2, column 41" in last and "save the file as UTF-8" in last
    assert "UnicodeDecodeError" not in stderr


# -- 3. booleans --------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ['"false"', '"no"', "0", "1", '"true"'])
@pytest.mark.parametrize("executor", ["local-container", "k8s-job"])
def test_booleans_must_be_written_as_booleans(workdir: Path, executor: str, value: str) -> None:
    (workdir / "job.py").write_text(JOB)
    extra = ", pvc_claim_name: d" if executor == "k8s-job" else ", engine: docker"
    (workdir / "c.yaml").write_text(f"job-executor: {{type: {executor}, config: {{image: p{extra}, dry_run: {value}}}}}\n")
    done = run_cli(workdir, "execute-job", "job.py", "--config", "c.yaml")
    assert done.returncode == 2, done.stdout
    assert f"'dry_run' in section 'job-executor' of '{workdir / 'c.yaml'}' must be true or false" in done.stderr
    assert done.stdout == ""  # nothing printed as a dry run, nothing started


def test_true_and_false_are_accepted(workdir: Path) -> None:
    for value in (True, False):
        c = _config.parse({"job-executor": {"type": "local-container", "config": {"image": "p", "dry_run": value}}})
        assert c["job-executor"].build().dry_run is value


# -- 4. executor settings of the wrong type ------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"engine": 5}, "'engine' in section 'job-executor' of 'c.yaml' must be a string, not the number 5"),
        ({"image": 5}, "'image' in section 'job-executor' of 'c.yaml' must be a string, not the number 5"),
        ({"environment": ["A=1"]}, "'environment' in section 'job-executor' of 'c.yaml' must be a mapping"),
        ({"environment": {"A": [1]}}, "environment['A'] in section 'job-executor' of 'c.yaml' must be a string or a "
                                      "number, not the list [1]"),
        ({"environment": {"DEBUG": True}}, "environment['DEBUG'] in section 'job-executor' of 'c.yaml' must be a string "
                                           "or a number, not the boolean True"),
        ({"run_args": "--network host"}, "'run_args' in section 'job-executor' of 'c.yaml' must be a list"),
        ({"mount_path": 5}, "'mount_path' in section 'job-executor' of 'c.yaml' must be a string"),
        ({"user": 1.5}, "'user' in section 'job-executor' of 'c.yaml' must be a string or a whole number"),
    ],
)
def test_container_settings_of_the_wrong_type(config: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        _config.parse({"job-executor": {"type": "local-container", "config": {"image": "p", **config}}}, "'c.yaml'")
    assert expected in str(info.value)


def test_container_user_may_be_a_uid(workdir: Path) -> None:
    (workdir / "job.py").write_text(JOB)
    (workdir / "c.yaml").write_text("job-executor: {type: local-container, config: {image: p, engine: docker, "
                                    "user: 1000}}\n")
    done = run_cli(workdir, "execute-job", "job.py", "--config", "c.yaml", "--dry-run")
    assert done.returncode == 0, done.stderr
    argv = shlex.split(done.stdout)
    assert argv[argv.index("--user") + 1] == "1000"


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"node_selector": ["a"]}, "'node_selector' in section 'job-executor' of 'c.yaml' must be a mapping, "
                                   "not the list ['a']"),
        ({"labels": ["a"]}, "'labels' in section 'job-executor' of 'c.yaml' must be a mapping"),
        ({"environment": ["a"]}, "'environment' in section 'job-executor' of 'c.yaml' must be a mapping"),
        ({"resources": [1]}, "'resources' in section 'job-executor' of 'c.yaml' must be a mapping"),
        ({"secret_refs": ["a"]}, "'secret_refs' in section 'job-executor' of 'c.yaml' must be a mapping"),
        ({"secret_refs": {"DB": "db/password"}}, "secret_refs['DB'] in section 'job-executor' of 'c.yaml' must be a "
                                                 "mapping"),
        ({"tolerations": ["a"]}, "tolerations[0] in section 'job-executor' of 'c.yaml' must be a mapping"),
        ({"tolerations": {"key": "a"}}, "'tolerations' in section 'job-executor' of 'c.yaml' must be a list"),
        ({"namespace": 5}, "'namespace' in section 'job-executor' of 'c.yaml' must be a string, not the number 5"),
        ({"namespace": "ML_team"}, "'namespace' 'ML_team' is not a Kubernetes namespace name"),
        ({"image_pull_policy": "sometimes"}, "'image_pull_policy' in section 'job-executor' of 'c.yaml' must be one of "
                                             "'Always', 'IfNotPresent', 'Never', not the string 'sometimes'"),
        ({"schedule": 5}, "'schedule' in section 'job-executor' of 'c.yaml' must be a string, not the number 5"),
        ({"schedule": "every day"}, "'schedule' 'every day' is not a cron expression"),
        ({"schedule": "0 3 * *"}, "'schedule' '0 3 * *' is not a cron expression"),
        ({"backoff_limit": "1"}, "'backoff_limit' in section 'job-executor' of 'c.yaml' must be a whole number, not "
                                 "the string '1'; write it without quotes"),
        ({"active_deadline_seconds": True}, "'active_deadline_seconds' in section 'job-executor' of 'c.yaml' must be "
                                            "a whole number"),
        ({"service_account": ["a"]}, "'service_account' in section 'job-executor' of 'c.yaml' must be a string"),
        ({"working_dir": "app"}, "'working_dir' 'app' must be an absolute path"),
    ],
)
def test_k8s_settings_of_the_wrong_type(workdir: Path, config: dict[str, Any], expected: str) -> None:
    data = {"job-executor": {"type": "k8s-job", "config": {"image": "p", "pvc_claim_name": "d", **config}}}
    with pytest.raises(ConfigurationError) as info:
        _config.parse(data, "'c.yaml'")  # at load time: before any job or dry run
    assert expected in str(info.value)
    # The same through the command line, with --dry-run: exit code 2, one line, no traceback.
    (workdir / "job.py").write_text(JOB)
    (workdir / "c.yaml").write_text(yaml.safe_dump(data))
    done = run_cli(workdir, "execute-job", "job.py", "--config", "c.yaml", "--dry-run")
    assert done.returncode == 2
    # The command line names the file by its absolute path.
    assert expected.replace("'c.yaml'", f"'{workdir / 'c.yaml'}'") in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


@pytest.mark.parametrize("schedule", ["0 3 * * *", "*/15 0-6 1,15 JAN-MAR MON-FRI", "@daily", "@hourly", "5 4 * * sun"])
def test_k8s_schedules_that_are_accepted(schedule: str) -> None:
    c = _config.parse({"job-executor": {"type": "k8s-job", "config": {"image": "p", "schedule": schedule}}})
    assert c["job-executor"].build().schedule == schedule


@pytest.mark.parametrize("executor", [{"type": "local-container", "config": {"image": "p", "engine": "docker"}},
                                      {"type": "k8s-job", "config": {"image": "p", "pvc_claim_name": "d"}}])
def test_remote_executors_refuse_a_tilde_location(workdir: Path, executor: dict[str, Any]) -> None:
    # Inside the container or pod '~' is another home folder: the job would write somewhere else.
    (workdir / "job.py").write_text(JOB)
    (workdir / "c.yaml").write_text(yaml.safe_dump({"job-executor": executor,
                                                    "catalog": {"config": {"catalog_location": "~/rt-catalog"}}}))
    done = run_cli(workdir, "execute-job", "job.py", "--config", "c.yaml", "--dry-run", env={"HOME": str(workdir)})
    assert done.returncode == 2
    assert "'catalog_location' '~/rt-catalog' starts with '~'" in done.stderr
    assert f"write the path out in full ({workdir / 'rt-catalog'})" in done.stderr


# -- 6. duplicate keys ---------------------------------------------------------------------------


def test_duplicate_sections_are_refused(workdir: Path) -> None:
    (workdir / "c.yaml").write_text("catalog: {config: {catalog_location: a}}\n"
                                    "# the same section again\n"
                                    "catalog: {config: {catalog_location: b}}\n")
    stderr = api_failure(workdir)
    assert "configuration file 'c.yaml' has the key 'catalog' twice: at line 1 and line 3" in stderr


def test_duplicate_nested_keys_are_refused(workdir: Path) -> None:
    message = refused("job-executor:\n  type: local-container\n  config:\n    image: a\n    dry_run: true\n"
                      "    image: b\n", workdir)
    assert f"configuration file '{workdir / 'c.yaml'}' has the key 'image' twice: at line 4 and line 6" in message
    assert "keep one" in message


def test_merge_keys_may_override_without_being_duplicates(workdir: Path) -> None:
    # A key written beside a YAML merge ('<<') overrides the merged one on purpose: not a duplicate.
    (workdir / "c.yaml").write_text(textwrap.dedent(
        """
        catalog:
          type: file-system
          config:
            <<: {catalog_location: a, hash_algorithm: sha256}
            catalog_location: b
        """
    ))
    c = _config.load(workdir / "c.yaml")
    assert c["catalog"].config == {"catalog_location": "b", "hash_algorithm": "sha256"}


def test_the_yaml_helper_is_shared_and_strict(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("a: 1\nb: 2\na: 3\n")
    with pytest.raises(ValueError, match=r"has the key 'a' twice: at line 1 and line 3"):
        _config.read_yaml(path, "parameters file", ValueError)
    path.write_text("a: [1\n")
    with pytest.raises(ValueError, match=r"^parameters file '.*p.yaml' is not valid YAML: line 2, column 1: "):
        _config.read_yaml(path, "parameters file", ValueError)
    path.write_text("x: 1\n")
    assert _config.read_yaml(path, "parameters file", ValueError) == {"x": 1}


def test_a_manifest_field_error_is_one_line_through_the_python_api(workdir: Path) -> None:
    (workdir / "c.yaml").write_text("job-executor: {type: k8s-job, config: {image: p, pvc_claim_name: d, "
                                    "tolerations: [{ky: a}]}}\n")
    stderr = api_failure(workdir)
    assert ("toleration {'ky': 'a'} is not a valid V1Toleration: ky: Extra inputs are not permitted "
            "(in 'c.yaml')") in stderr
    assert "pydantic" not in stderr
