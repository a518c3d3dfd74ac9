"""Configuration values a user can get wrong: each is refused when the file is loaded, naming the file
and the key, without a traceback through runnable's or a library's internals."""

from __future__ import annotations

import os
import shlex
import subprocess
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from runnable import ConfigurationError
from runnable.config import loading as _config
from runnable.config.yamlfile import read_yaml
from tests.config.test_config import JOB
from tests.conftest import run_cli, run_python

if TYPE_CHECKING:
    from collections.abc import Sized as Unresolvable  # a name the backend imports for type checkers only

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
        ("123", "must be a folder path, not a number; write it in quotes"),
        ("''", "is empty"),
        ("'   '", "is empty"),
        ("null", "must be a folder path, not null (a lone '~' is null in YAML); leave the key out for the default"),
        ("~", "must be a folder path, not null (a lone '~' is null in YAML)"),
        ("[a]", "must be a folder path, not a list (1 item)"),
        ("{a: s3cr3t}", "must be a folder path, not a mapping (1 key)"),
        ("true", "must be a folder path, not true or false"),
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


def test_a_mapping_in_the_wrong_place_is_shown_by_its_size_only() -> None:
    config = {"bucket": "b", "secrets_file": {"AWS_SECRET_ACCESS_KEY": "s3cr3t-value"}}
    with pytest.raises(ConfigurationError) as info:
        _config.parse({"catalog": {"type": "s3", "config": config}}, "'c.yaml'")
    assert "'secrets_file' in section 'catalog' of 'c.yaml' must be a file path, not a mapping (1 key)" in str(info.value)
    assert "s3cr3t-value" not in str(info.value)


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"bucket": 5}, "'bucket' in section 'catalog' of 'c.yaml' must be a string, not a number"),
        ({"bucket": "b", "prefix": ["a"]}, "'prefix' in section 'catalog' of 'c.yaml' must be a string"),
        ({"bucket": "b", "part_size": "8MiB"}, "'part_size' in section 'catalog' of 'c.yaml' must be a whole number, "
                                               "not a string (4 characters)"),
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
    assert "'bucket' in section 'run-log-store' of 'c.yaml' must be a string, not a number" in str(info.value)


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
        ({"engine": 5}, "'engine' in section 'job-executor' of 'c.yaml' must be a string, not a number"),
        ({"image": 5}, "'image' in section 'job-executor' of 'c.yaml' must be a string, not a number"),
        ({"environment": ["A=1"]}, "'environment' in section 'job-executor' of 'c.yaml' must be a mapping"),
        ({"environment": {"A": [1]}}, "environment['A'] in section 'job-executor' of 'c.yaml' must be a string, a "
                                      "number or true or false, not a list (1 item)"),
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
                                   "not a list (1 item)"),
        ({"labels": ["a"]}, "'labels' in section 'job-executor' of 'c.yaml' must be a mapping"),
        ({"environment": ["a"]}, "'environment' in section 'job-executor' of 'c.yaml' must be a mapping"),
        ({"resources": [1]}, "'resources' in section 'job-executor' of 'c.yaml' must be a mapping"),
        ({"secret_refs": ["a"]}, "'secret_refs' in section 'job-executor' of 'c.yaml' must be a mapping"),
        ({"secret_refs": {"DB": "db/password"}}, "secret_refs['DB'] in section 'job-executor' of 'c.yaml' must be a "
                                                 "mapping"),
        ({"tolerations": ["a"]}, "tolerations[0] in section 'job-executor' of 'c.yaml' must be a mapping"),
        ({"tolerations": {"key": "a"}}, "'tolerations' in section 'job-executor' of 'c.yaml' must be a list"),
        ({"namespace": 5}, "'namespace' in section 'job-executor' of 'c.yaml' must be a string, not a number"),
        ({"namespace": "ML_team"}, "'namespace' is not a Kubernetes namespace name"),
        ({"image_pull_policy": "sometimes"}, "'image_pull_policy' in section 'job-executor' of 'c.yaml' must be one of "
                                             "'Always', 'IfNotPresent', 'Never', not a string (9 characters)"),
        ({"schedule": 5}, "'schedule' in section 'job-executor' of 'c.yaml' must be a string, not a number"),
        ({"schedule": "every day"}, "'schedule' is not a cron expression: it has 2 field(s)"),
        ({"schedule": "0 3 * *"}, "'schedule' is not a cron expression: it has 4 field(s)"),
        ({"backoff_limit": "1"}, "'backoff_limit' in section 'job-executor' of 'c.yaml' must be a whole number, not "
                                 "a string (1 character); write it without quotes"),
        ({"active_deadline_seconds": True}, "'active_deadline_seconds' in section 'job-executor' of 'c.yaml' must be "
                                            "a whole number"),
        ({"service_account": ["a"]}, "'service_account' in section 'job-executor' of 'c.yaml' must be a string"),
        ({"working_dir": "app"}, "'working_dir' must be an absolute path"),
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


REMOTE_EXECUTORS = pytest.mark.parametrize("executor", [
    {"type": "local-container", "config": {"image": "p", "engine": "docker"}},
    {"type": "k8s-job", "config": {"image": "p", "pvc_claim_name": "d"}},
])


def remote_dry_run(workdir: Path, executor: dict[str, Any], catalog_location: str,
                   env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``execute-job --dry-run`` of JOB with ``executor`` and a catalog at ``catalog_location``."""
    (workdir / "job.py").write_text(JOB)
    (workdir / "c.yaml").write_text(yaml.safe_dump({"job-executor": executor,
                                                    "catalog": {"config": {"catalog_location": catalog_location}}}))
    return run_cli(workdir, "execute-job", "job.py", "--config", "c.yaml", "--dry-run", env=env)


@REMOTE_EXECUTORS
def test_remote_executors_refuse_a_tilde_location(workdir: Path, executor: dict[str, Any]) -> None:
    # Inside the container or pod '~' is another home folder: the job would write somewhere else.
    done = remote_dry_run(workdir, executor, "~/rt-catalog", env={"HOME": str(workdir)})
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
        read_yaml(path, "parameters file", ValueError)
    path.write_text("a: [1\n")
    with pytest.raises(ValueError, match=r"^parameters file '.*p.yaml' is not valid YAML: line 2, column 1: "):
        read_yaml(path, "parameters file", ValueError)
    path.write_text("x: 1\n")
    assert read_yaml(path, "parameters file", ValueError) == {"x": 1}


def test_a_manifest_field_error_is_one_line_through_the_python_api(workdir: Path) -> None:
    (workdir / "c.yaml").write_text("job-executor: {type: k8s-job, config: {image: p, pvc_claim_name: d, "
                                    "tolerations: [{ky: a}]}}\n")
    stderr = api_failure(workdir)
    assert "tolerations[0] is not a valid V1Toleration: ky: Extra inputs are not permitted (in 'c.yaml')" in stderr
    assert "pydantic" not in stderr


# -- 7. no value in any message --------------------------------------------------------------------

CREDENTIAL = "hunter2-Cr3d"  # what a leaked value looks like in a message
NUMERIC_CREDENTIAL = "98765432123"  # a PIN or account number, read by YAML as a number


class TokenExecutor:
    """A plugin-like backend: its annotations are all the checker knows about it."""

    def __init__(self, token: str, hosts: list[str] | None = None, headers: dict[str, str] | None = None) -> None:
        self.token = token


@pytest.mark.parametrize(
    "text",
    [
        # a string where a list is expected
        f"job-executor: {{type: local-container, config: {{image: p, run_args: '-e TOKEN={CREDENTIAL}'}}}}",
        # a list where a string is expected
        f"job-executor: {{type: local-container, config: {{image: [{CREDENTIAL}]}}}}",
        f"catalog: {{type: s3, config: {{bucket: b, secrets_file: [AWS_SECRET_ACCESS_KEY={CREDENTIAL}]}}}}",
        f"catalog: {{config: {{catalog_location: [{CREDENTIAL}]}}}}",
        # a mapping where a string is expected, and a string where a mapping is expected
        f"catalog: {{type: s3, config: {{bucket: b, secrets_file: {{AWS_SECRET_ACCESS_KEY: {CREDENTIAL}}}}}}}",
        f"run-log-store: {{config: {{log_folder: {{token: {CREDENTIAL}}}}}}}",
        f"job-executor: {{type: k8s-job, config: {{image: p, secret_refs: {{DB_PASSWORD: {CREDENTIAL}}}}}}}",
        f"job-executor: {{type: k8s-job, config: {{image: p, secret_refs: {CREDENTIAL}}}}}",
        # a string where a number, a boolean or one of a few names is expected
        f"job-executor: {{type: k8s-job, config: {{image: p, backoff_limit: '{CREDENTIAL}'}}}}",
        f"job-executor: {{type: k8s-job, config: {{image: p, dry_run: '{CREDENTIAL}'}}}}",
        f"job-executor: {{type: k8s-job, config: {{image: p, image_pull_policy: {CREDENTIAL}}}}}",
        f"catalog: {{type: s3, config: {{bucket: b, part_size: '{NUMERIC_CREDENTIAL}'}}}}",
        # a number where a string is expected, for a backend runnable knows only by its annotations
        f"job-executor: {{type: token-plugin, config: {{token: {NUMERIC_CREDENTIAL}}}}}",
        f"job-executor: {{type: token-plugin, config: {{token: t, hosts: [{NUMERIC_CREDENTIAL}]}}}}",
        f"job-executor: {{type: token-plugin, config: {{token: t, headers: {{Authorization: [{CREDENTIAL}]}}}}}}",
        f"job-executor: {{type: token-plugin, config: {{token: [{CREDENTIAL}]}}}}",
        f"secrets: {{type: dotenv, config: {{location: {NUMERIC_CREDENTIAL}}}}}",
        f"job-executor: {{type: local-container, config: {{image: p, environment: {{TOKEN: [{CREDENTIAL}]}}}}}}",
        # a credential written as a key, Docker-style (KEY=value)
        f"job-executor: {{type: local-container, config: {{image: p, environment: {{DEBUG: '1', API_TOKEN={CREDENTIAL}}}}}}}",
        f"job-executor: {{type: local-container, config: {{image: p, AWS_SECRET_ACCESS_KEY={CREDENTIAL}}}}}",
        # an explicit tag whose value cannot be that type
        f"job-executor:\n  type: token-plugin\n  config:\n    token: !!int {CREDENTIAL}",
        # YAML that PyYAML cannot read: an unquoted value starting with '*' or '!' (an alias, a tag)
        f"job-executor: {{type: token-plugin, config: {{token: *{CREDENTIAL}}}}}",
        f"job-executor:\n  type: token-plugin\n  config:\n    token: !{CREDENTIAL}",
        f"job-executor:\n  type: token-plugin\n  config:\n    token: !{CREDENTIAL} rest",
    ],
)
def test_no_value_appears_in_a_message(workdir: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    from runnable.backends import registry
    monkeypatch.setitem(registry.BUILTIN["job-executor"], "token-plugin", (f"{__name__}:TokenExecutor", None))
    message = refused(text + "\n", workdir)
    assert CREDENTIAL not in message and NUMERIC_CREDENTIAL not in message, message
    assert "hunter2" not in message and "98765" not in message, message


def test_no_value_appears_in_the_message_about_a_file_that_is_not_utf8(workdir: Path) -> None:
    text = f"job-executor: {{type: local-container, config: {{image: p, run_args: [-e, 'TOKEN={CREDENTIAL}"
    message = refused_bytes(text.encode() + b"\xe9x']}}\n", workdir)
    assert "is not UTF-8 text: line 1" in message
    assert "hunter2" not in message and "\\xe9" not in message and "0xe9" not in message, message


def refused_bytes(data: bytes, folder: Path, name: str = "c.yaml") -> str:
    """The message of the ConfigurationError loading the bytes ``data`` as the file ``name`` gives."""
    (folder / name).write_bytes(data)
    with pytest.raises(ConfigurationError) as info:
        _config.load(folder / name)
    return str(info.value)


# -- 8. numbers as YAML 1.2 writes them ----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("501:20", "501:20"),  # a macOS uid:gid, not the base-60 number 30080 of YAML 1.1
        ("12:30:00", "12:30:00"),
        ("-1:30", "-1:30"),
        ("190:20:30.15", "190:20:30.15"),
        ("1e-3", 0.001),  # an exponent makes a float, as in YAML 1.2 (1.1 needs a dot and a sign)
        ("1e3", "1e3"),  # no sign in the exponent: text, as before (a short git hash such as 1234e56)
        ("2E+6", 2000000.0),
        ("1234e56", "1234e56"),
        ("1.5e3", 1500.0),
        ("-2E+2", -200.0),
        (".5e1", 5.0),
        ("1e", "1e"),
        ("e3", "e3"),
        ("1e3.5", "1e3.5"),
        # what YAML 1.1 already gave stays
        ("1000", 1000),
        ("1_000", 1000),
        ("0x1F", 31),
        ("0b11", 3),
        ("0012", 10),
        ("0.5", 0.5),
        ("1.", 1.0),
        (".inf", float("inf")),
        ("yes", True),
        ("0o17", "0o17"),
        ("'1e-3'", "1e-3"),
    ],
)
def test_yaml_numbers(tmp_path: Path, text: str, value: Any) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(f"x: {text}\n")
    loaded = read_yaml(path, "parameters file", ValueError)["x"]
    assert loaded == value and type(loaded) is type(value)


def test_a_uid_and_gid_reach_the_container_as_written(workdir: Path) -> None:
    (workdir / "c.yaml").write_text("job-executor: {type: local-container, config: {image: p, user: 501:20}}\n")
    assert _config.load(workdir / "c.yaml")["job-executor"].build().user == "501:20"


def test_a_float_where_a_whole_number_is_expected(workdir: Path) -> None:
    message = refused("job-executor: {type: k8s-job, config: {image: p, active_deadline_seconds: 1e+3}}\n", workdir)
    assert "'active_deadline_seconds' in section 'job-executor'" in message
    assert "must be a whole number, not a number with a fraction or an exponent" in message
    assert "without quotes" not in message and "1000" not in message


@pytest.mark.parametrize(("text", "hint"), [("'1e-3'", False), ("'12'", True), ("'1.5'", False), ("'1:30'", False),
                                            ("'inf'", False), ("'0x1F'", True)])
def test_write_it_without_quotes_only_when_that_makes_a_number(workdir: Path, text: str, hint: bool) -> None:
    message = refused(f"job-executor: {{type: k8s-job, config: {{image: p, backoff_limit: {text}}}}}\n", workdir)
    assert ("write it without quotes" in message) is hint, message


def test_a_quoting_hint_shows_no_converted_value(workdir: Path) -> None:
    message = refused("job-executor: {type: k8s-job, config: {image: p, context: 0012}}\n", workdir)
    assert "'context' in section 'job-executor'" in message and "must be a string, not a number" in message
    assert "write it in quotes" in message
    assert "10" not in message.replace(str(workdir), "")


# -- 9. backends from other packages: their annotations -------------------------------------------


class AnnotatedExecutor:
    """A plugin-like backend whose annotations use paths, tuples and a name known only to type checkers."""

    def __init__(
        self,
        folder: os.PathLike[str] | None = None,
        pair: tuple[str, int] | None = None,
        sizes: tuple[int, ...] = (),
        later: Unresolvable | None = None,
        count: int = 0,
        ratio: float = 1.0,
    ) -> None:
        self.folder = folder


def check_plugin(monkeypatch: pytest.MonkeyPatch, config: dict[str, Any]) -> None:
    from runnable.backends import registry
    monkeypatch.setitem(registry.BUILTIN["job-executor"], "annotated", (f"{__name__}:AnnotatedExecutor", None))
    _config.parse({"job-executor": {"type": "annotated", "config": config}}, "'c.yaml'")


@pytest.mark.parametrize(
    "config",
    [{"folder": "data/in"}, {"pair": ["a", 1]}, {"sizes": []}, {"sizes": [1, 2, 3]}, {"later": "anything"},
     {"later": [1, {"a": None}]}, {"ratio": 1e-3}, {"count": 3}],
)
def test_plugin_annotations_that_accept(monkeypatch: pytest.MonkeyPatch, config: dict[str, Any]) -> None:
    check_plugin(monkeypatch, config)


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"folder": 5}, "'folder' in section 'job-executor' of 'c.yaml' must be a path, not a number"),
        ({"pair": ["a", "b"]}, "pair[1] in section 'job-executor' of 'c.yaml' must be a whole number, not a string"),
        ({"pair": [1, 2]}, "pair[0] in section 'job-executor' of 'c.yaml' must be a string, not a number"),
        ({"pair": ["a"]}, "'pair' in section 'job-executor' of 'c.yaml' must be a list of 2 items, not a list (1 item)"),
        ({"pair": ["a", 1, 2]}, "'pair' in section 'job-executor' of 'c.yaml' must be a list of 2 items"),
        ({"pair": "a"}, "'pair' in section 'job-executor' of 'c.yaml' must be a list of 2 items, not a string"),
        ({"sizes": [1, "x"]}, "sizes[1] in section 'job-executor' of 'c.yaml' must be a whole number"),
        ({"count": "x"}, "'count' in section 'job-executor' of 'c.yaml' must be a whole number"),  # still checked
    ],
)
def test_plugin_annotations_that_refuse(monkeypatch: pytest.MonkeyPatch, config: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        check_plugin(monkeypatch, config)
    assert expected in str(info.value)


# -- 10. environment, labels and node selectors take booleans and numbers as text ----------------


def test_container_environment_takes_booleans_and_numbers() -> None:
    config = {"image": "p", "environment": {"DEBUG": True, "QUIET": False, "PORT": 8080, "RATIO": 0.5, "NAME": "x"}}
    executor = _config.parse({"job-executor": {"type": "local-container", "config": config}})["job-executor"].build()
    assert executor.environment == {"DEBUG": "True", "QUIET": "False", "PORT": "8080", "RATIO": "0.5", "NAME": "x"}


def test_k8s_environment_labels_and_node_selector_take_booleans_and_numbers() -> None:
    config = {"image": "p", "environment": {"DEBUG": True}, "labels": {"team": 7, "gpu": False},
              "node_selector": {"spot": True}}
    executor = _config.parse({"job-executor": {"type": "k8s-job", "config": config}})["job-executor"].build()
    assert executor.environment == {"DEBUG": "True"}
    assert executor.labels == {"team": "7", "gpu": "False"}
    assert executor.node_selector == {"spot": "True"}


@pytest.mark.parametrize("key", ["environment", "labels", "node_selector"])
def test_k8s_mappings_of_text_still_refuse_lists_and_null(key: str) -> None:
    for value, shown in (([1], "a list (1 item)"), (None, "null"), ({"a": 1}, "a mapping (1 key)")):
        with pytest.raises(ConfigurationError) as info:
            _config.parse({"job-executor": {"type": "k8s-job", "config": {"image": "p", key: {"A": value}}}}, "'c.yaml'")
        assert f"{key}['A'] in section 'job-executor' of 'c.yaml' must be a string, a number or true or false, " \
               f"not {shown}" in str(info.value)


# -- 11. cron schedules as Kubernetes reads them -------------------------------------------------


@pytest.mark.parametrize("schedule", ["@every 48h", "@every 1h30m", "@every 1.5h", "@every 90s", "@every 500ms",
                                      "@midnight", "5/15 * * * *", "0 0 1-31 * *", "* * * * 0-6"])
def test_more_k8s_schedules_that_are_accepted(schedule: str) -> None:
    from runnable.executors.k8s import check_schedule

    assert check_schedule(schedule) == schedule


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ("5-1 * * * *", "the minute field has a range whose start is after its end"),
        ("* 23-1 * * *", "the hour field has a range whose start is after its end"),
        ("* * * DEC-JAN *", "the month field has a range whose start is after its end"),
        ("*/0 * * * *", "the minute field"),
        ("0 3 * * 7", "the day of week field"),
        ("@every", "'@every' needs a duration"),
        ("@every 48", "'@every' needs a duration such as 48h, 90m or 1h30m"),
        ("@every h", "'@every' needs a duration"),
        ("@every 1d", "'@every' needs a duration"),
        ("@every 99999999h", "'@every' needs a duration"),
        ("@daily ", "is not a cron expression"),
        ("@Daily", "is not a cron expression"),
        ("@reboot", "is not a cron expression"),
    ],
)
def test_k8s_schedules_that_are_refused(schedule: str, expected: str) -> None:
    from runnable.executors.k8s import check_schedule

    with pytest.raises(ConfigurationError) as info:
        check_schedule(schedule)
    assert expected in str(info.value)
    assert repr(schedule) not in str(info.value) or schedule == "@every"  # the message names '@every' itself


# -- 12. '~' and positions -----------------------------------------------------------------------


@pytest.mark.parametrize("section", ["catalog", "run-log-store"])
def test_an_object_store_secrets_file_may_start_with_a_tilde(
    workdir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, section: str
) -> None:
    pytest.importorskip("obstore")
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    (workdir / "c.yaml").write_text(f"{section}: {{type: s3, config: {{bucket: b, secrets_file: ~/s3.env}}}}\n")
    service = _config.load(workdir / "c.yaml")[section]
    assert service.config["secrets_file"] == str(home / "s3.env")
    with pytest.raises(ConfigurationError) as info:
        service.build()  # the file does not exist
    message = str(info.value)
    assert message.startswith(f"{section} (s3): ") and f"{str(home / 's3.env')!r} does not exist" in message
    assert "secrets: dotenv" not in message


def test_an_object_store_secrets_file_is_checked_as_a_path(workdir: Path) -> None:
    message = refused("catalog: {type: s3, config: {bucket: b, secrets_file: $HOME/s3.env}}\n", workdir)
    assert "'secrets_file' in section 'catalog'" in message and "variables are not expanded" in message
    config = _config.parse({"catalog": {"type": "s3", "config": {"bucket": "b", "secrets_file": None}}})
    assert config["catalog"].config["secrets_file"] is None  # null: no secrets file, as when left out


def test_duplicate_keys_on_one_line_are_told_apart_by_column(workdir: Path) -> None:
    message = refused("catalog: {config: {catalog_location: a}}\nrun-log-store: {config: {log_folder: a, log_folder: b}}\n",
                      workdir)
    assert "has the key 'log_folder' twice: at line 2, columns 26 and 41; keep one" in message


@REMOTE_EXECUTORS
def test_remote_executors_say_what_a_tilde_user_location_is(workdir: Path, executor: dict[str, Any]) -> None:
    done = remote_dry_run(workdir, executor, "~root/cat")
    assert done.returncode == 2
    assert "'catalog_location' '~root/cat' starts with '~root'" in done.stderr
    assert "user 'root'" in done.stderr and "own home folder" not in done.stderr
    assert f"write the path out in full ({os.path.expanduser('~root')}/cat)" in done.stderr


class BuggyExecutor:
    """A plugin-like backend with a bug: its constructor fails on settings that passed every check."""

    def __init__(self, size: int = 1) -> None:
        raise TypeError("unsupported operand type(s) for +: 'int' and 'str'")


def test_a_backend_bug_keeps_its_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    from runnable.backends import registry
    monkeypatch.setitem(registry.BUILTIN["job-executor"], "buggy", (f"{__name__}:BuggyExecutor", None))
    service = _config.Service("job-executor", "buggy", {"size": 2})
    with pytest.raises(ConfigurationError) as info:
        service.build()
    assert str(info.value) == "job-executor (buggy): unsupported operand type(s) for +: 'int' and 'str'"
    assert isinstance(info.value.__cause__, TypeError)  # the backend's own frames, for whoever fixes it
    # Built when the file is loaded too (as a built-in executor is): the file is named, the cause kept.
    with pytest.raises(ConfigurationError) as info:
        _config.parse({"job-executor": {"type": "buggy", "config": {"size": 2}}}, "'c.yaml'")
    assert str(info.value).endswith("'int' and 'str' (in 'c.yaml')")
    assert isinstance(info.value.__cause__, TypeError)
