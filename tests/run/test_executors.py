"""The container and Kubernetes executors: the commands and manifests they build.

No container engine or cluster runs here. The commands are checked field by field from real
``runnable execute-job --dry-run`` subprocesses, the manifests also against the Kubernetes client's
own models; a stand-in engine (a script that runs the built command on this machine, with only the
environment the command passes) checks the hand-over end to end.
"""

from __future__ import annotations

import json
import os
import shlex
import stat
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import run_cli, run_python

JOB = textwrap.dedent(
    """
    import os
    from runnable import Catalog, PythonJob

    def train(epochs: int = 1, name: str = "m"):
        if os.environ.get("KILL_ME"):
            os.kill(os.getpid(), 9)
        with open("model.txt", "w") as f:
            f.write(f"{name}:{epochs}:{len(os.environ.get('DB_PASSWORD', ''))}")
        print("inside executor:", os.environ.get("RUNNABLE_IN_EXECUTOR"))
        return epochs

    def main():
        job = PythonJob(function=train, catalog=Catalog(put=["model.txt"]), returns=["epochs"],
                        secrets=["DB_PASSWORD"])
        job.execute()
        return job

    if __name__ == "__main__":
        main()
    """
)


def write_config(folder: Path, executor: dict[str, Any], **sections: Any) -> Path:
    data = {"job-executor": executor, **{k.replace("_", "-"): v for k, v in sections.items()}}
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def dry_run(folder: Path, *args: str, env: dict[str, str] | None = None) -> str:
    base_env = {"DB_PASSWORD": "s3cr3t-value"}
    done = run_cli(folder, "execute-job", "job.py", "--config", "config.yaml", "--dry-run", *args,
                   env={**base_env, **(env or {})})
    assert done.returncode == 0, done.stderr
    assert "s3cr3t-value" not in done.stdout + done.stderr
    return done.stdout


def flags(argv: list[str], flag: str) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv) if a == flag]


# -- local-container ----------------------------------------------------------------------------


def test_container_command_defaults(workdir: Path) -> None:
    (workdir / "job.py").write_text(JOB)
    write_config(workdir, {"type": "local-container", "config": {"image": "proj:1", "engine": "docker"}})
    out = dry_run(workdir, "--run-id", "run-1", "--tag", "nightly", env={"RUNNABLE_PRM_epochs": "3"})
    argv = shlex.split(out)
    assert argv[:3] == ["docker", "run", "--rm"]
    here = str(workdir)
    assert flags(argv, "-v") == [f"{here}:{here}"]
    assert flags(argv, "-w") == [here]
    if hasattr(os, "getuid"):
        assert flags(argv, "--user") == [f"{os.getuid()}:{os.getgid()}"]
    # plain settings by value; parameters and secrets by name only (values come from the engine's env)
    assert flags(argv, "-e") == ["RUNNABLE_IN_EXECUTOR=1", "RUNNABLE_PRM_epochs", "DB_PASSWORD"]
    image = argv.index("proj:1")
    assert argv[image + 1:] == [
        "runnable", "execute-job", f"{here}/job.py", "--config", f"{here}/config.yaml",
        "--run-id", "run-1", "--tag", "nightly",
    ]
    assert not (workdir / ".run_log_store").exists()  # a dry run creates nothing


def test_an_s3_catalog_gets_the_aws_variables_by_name_only(workdir: Path) -> None:
    (workdir / "job.py").write_text(JOB)
    s3 = {"type": "s3", "config": {"bucket": "team", "endpoint_url": "http://127.0.0.1:9"}}
    write_config(workdir, {"type": "local-container", "config": {"image": "p", "engine": "docker"}}, catalog=s3)
    keys = {"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "very-s3cr3t-key", "AWS_REGION": "eu-west-1"}
    argv = shlex.split(dry_run(workdir, env=keys))
    assert [n for n in flags(argv, "-e") if n.startswith("AWS_")] == list(keys)
    assert not any(value in " ".join(argv) for value in keys.values())  # the engine copies the values
    own = {"image": "p", "engine": "docker", "environment": {"AWS_REGION": "us-east-2"}}
    write_config(workdir, {"type": "local-container", "config": own}, catalog=s3)
    aws = [n for n in flags(shlex.split(dry_run(workdir, env=keys)), "-e") if n.startswith("AWS_")]
    assert aws == ["AWS_REGION=us-east-2", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]  # the setting wins, once
    write_config(workdir, {"type": "local-container", "config": {"image": "p", "engine": "docker"}})
    assert not [n for n in flags(shlex.split(dry_run(workdir, env=keys)), "-e") if n.startswith("AWS_")]


def test_container_command_custom_mounts(workdir: Path, tmp_path: Path) -> None:
    (workdir / "job.py").write_text(JOB)
    outside_catalog = tmp_path / "shared-catalog"
    config_dir = tmp_path / "configs"
    config_dir.mkdir()
    executor = {"type": "local-container", "config": {
        "image": "ghcr.io/x/proj@sha256:abc", "engine": "podman", "mount_path": "/work", "user": None,
        "environment": {"MODE": "prod", "THREADS": 4}, "run_args": ["--network", "host"]}}
    config = write_config(config_dir, executor,
                          catalog={"config": {"catalog_location": str(outside_catalog)}},
                          run_log_store={"config": {"log_folder": "../runs"}})
    done = run_cli(workdir, "execute-job", "job.py", "--config", str(config), "--dry-run", "--run-id", "r2",
                   env={"DB_PASSWORD": "x"})
    assert done.returncode == 0, done.stderr
    argv = shlex.split(done.stdout)
    assert argv[0] == "podman"
    assert flags(argv, "-v") == [
        f"{workdir}:/work",
        f"{config}:{config}:ro",  # the configuration file, outside the working folder
        f"{outside_catalog}:{outside_catalog}",  # an absolute catalog, at its own path
        f"{workdir.parent / 'runs'}:/runs",  # '../runs' as seen from /work
    ]
    assert flags(argv, "-w") == ["/work"]
    assert "--user" not in argv
    assert flags(argv, "-e") == ["MODE=prod", "THREADS=4", "RUNNABLE_IN_EXECUTOR=1", "DB_PASSWORD"]
    image = argv.index("ghcr.io/x/proj@sha256:abc")
    assert argv[image - 2:image] == ["--network", "host"]
    assert argv[image + 1:] == ["runnable", "execute-job", "/work/job.py", "--config", str(config), "--run-id", "r2"]


def test_container_dry_run_from_config_key(workdir: Path) -> None:
    (workdir / "job.py").write_text(JOB)
    write_config(workdir, {"type": "local-container", "config": {"image": "p", "engine": "docker", "dry_run": True}})
    done = run_python(Path("job.py"), workdir, env={"RUNNABLE_CONFIGURATION_FILE": "config.yaml", "DB_PASSWORD": "x"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("docker run --rm ")
    assert done.stdout.count("docker run") == 1  # main() is not run a second time


@pytest.mark.parametrize("runner", ["execute-job", "python"])
def test_a_zip_application_is_run_again_as_the_archive_inside(workdir: Path, runner: str) -> None:
    app = workdir / "app"
    app.mkdir()
    (app / "__main__.py").write_text(JOB)
    subprocess.run([sys.executable, "-m", "zipapp", str(app), "-o", str(workdir / "app.pyz")], check=True)
    write_config(workdir, {"type": "local-container", "config": {"image": "p", "engine": "docker", "dry_run": True}})
    env = {"DB_PASSWORD": "x", "RUNNABLE_CONFIGURATION_FILE": "config.yaml"}
    if runner == "python":
        done = run_python(workdir / "app.pyz", workdir, env=env)
    else:
        done = run_cli(workdir, "execute-job", "app.pyz", "--config", "config.yaml", env=env)
    assert done.returncode == 0, done.stderr
    argv = shlex.split(done.stdout.strip().splitlines()[-1])
    assert argv[argv.index("execute-job") + 1] == f"{workdir}/app.pyz"


def test_a_module_run_from_a_zip_on_the_path_is_not_mistaken_for_a_zip_application(workdir: Path) -> None:
    """'python -m pkg.job' with pkg in deps.zip: the zip is not the script to run again."""
    import zipfile

    with zipfile.ZipFile(workdir / "deps.zip", "w") as deps:
        deps.writestr("pkg/__init__.py", "")
        deps.writestr("pkg/job.py", JOB)
    write_config(workdir, {"type": "local-container", "config": {"image": "p", "engine": "docker", "dry_run": True}})
    env = {"DB_PASSWORD": "x", "RUNNABLE_CONFIGURATION_FILE": "config.yaml", "PYTHONPATH": str(workdir / "deps.zip")}
    done = subprocess.run([sys.executable, "-m", "pkg.job"], cwd=workdir, capture_output=True, text=True, check=False,
                          env={**{k: v for k, v in os.environ.items() if not k.startswith("RUNNABLE_")}, **env})
    assert f"execute-job {workdir}/deps.zip " not in done.stdout, done.stdout


def test_container_needs_a_script(workdir: Path) -> None:
    write_config(workdir, {"type": "local-container", "config": {"image": "p", "engine": "docker", "dry_run": True}})
    code = "from runnable import PythonJob\nPythonJob(function=print).execute(configuration_file='config.yaml')"
    done = run_python(code, workdir)
    assert done.returncode == 1
    assert "execute() was not called from a Python script" in done.stderr


def test_container_missing_secret_stops_before_start(workdir: Path) -> None:
    (workdir / "job.py").write_text(JOB)
    write_config(workdir, {"type": "local-container", "config": {"image": "p", "engine": "docker"}})
    done = run_cli(workdir, "execute-job", "job.py", "--config", "config.yaml", "--dry-run")
    assert done.returncode == 2
    assert "secret 'DB_PASSWORD' is not available" in done.stderr


def test_a_parameter_that_cannot_be_a_variable_is_refused_before_the_container(workdir: Path) -> None:
    (workdir / "job.py").write_text(JOB)
    (workdir / "params.yaml").write_text("'a=b': 1\n")  # docker -e RUNNABLE_PRM_a=b would set RUNNABLE_PRM_a
    write_config(workdir, {"type": "local-container", "config": {"image": "p", "engine": "docker"}})
    done = run_cli(workdir, "execute-job", "job.py", "--config", "config.yaml", "--parameters", "params.yaml",
                   "--dry-run", env={"DB_PASSWORD": "x"})
    assert done.returncode == 2, done.stdout
    assert "parameter 'a=b' cannot be passed" in done.stderr and "docker" not in done.stdout


def test_dry_run_with_local_executor_is_an_error(workdir: Path) -> None:
    (workdir / "job.py").write_text(JOB)
    done = run_cli(workdir, "execute-job", "job.py", "--dry-run", env={"DB_PASSWORD": "x"})
    assert done.returncode == 2
    assert "the local executor, which has nothing to show" in done.stderr
    assert not (workdir / "model.txt").exists()


STAND_IN_ENGINE = textwrap.dedent(
    '''
    """A stand-in for `docker run`: runs the command here, in the -w folder, with only the -e variables."""
    import os, subprocess, sys

    args = sys.argv[1:]
    assert args[0] == "run", args
    i, env, workdir = 1, {}, None
    while args[i].startswith("-"):
        flag = args[i]
        if flag == "--rm":
            i += 1
            continue
        value = args[i + 1]
        i += 2
        if flag == "-v":
            host, inside = value.split(":")[:2]
            if host != inside:
                sys.exit("stand-in engine: only same-path mounts are supported")
        elif flag == "-w":
            workdir = value
        elif flag == "-e":
            name, sep, val = value.partition("=")
            env[name] = val if sep else os.environ[name]  # by name: from this process's environment
    image, command = args[i], args[i + 1:]
    if image != "stand-in:latest":
        sys.stderr.write(f"Unable to find image '{image}' locally\\n")
        sys.exit(125)
    env["PATH"] = os.environ["PATH"]
    with open(os.path.join(workdir, "engine-env.txt"), "w") as f:
        f.write("\\n".join(sorted(env)))
    env["TMPDIR"] = os.environ.get("TMPDIR", "/tmp")  # the container's own temporary folder
    assert command[0] == "runnable"
    done = subprocess.run([sys.executable, "-m", "runnable", *command[1:]], cwd=workdir, env=env)
    sys.exit(128 - done.returncode if done.returncode < 0 else done.returncode)
    '''
)


@pytest.fixture
def engine(tmp_path: Path) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "docker"
    script.write_text(f"#!{sys.executable}\n" + STAND_IN_ENGINE)
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


def _record(folder: Path, run_id: str) -> dict[str, Any]:
    return json.loads((folder / ".run_log_store" / f"{run_id}.json").read_text())


def test_container_hand_over_end_to_end(workdir: Path, engine: dict[str, str]) -> None:
    (workdir / "job.py").write_text(JOB)
    write_config(workdir, {"type": "local-container", "config": {"image": "stand-in:latest", "user": None}})
    env = {**engine, "DB_PASSWORD": "abc123", "RUNNABLE_PRM_epochs": "7", "UNRELATED": "1"}
    done = run_python(Path("job.py"), workdir, "x", env={**env, "RUNNABLE_CONFIGURATION_FILE": "config.yaml",
                                                          "RUNNABLE_RUN_ID": "boxed-1", "RUNNABLE_TAGS": "ci"})
    assert done.returncode == 0, done.stderr
    assert "inside executor: 1" in done.stdout
    assert done.stdout.count('"status"') == 1  # one summary: the inner process's
    assert "abc123" not in done.stdout + done.stderr
    record = _record(workdir, "boxed-1")
    assert record["status"] == "SUCCESS"
    assert record["parameters"] == {"epochs": 7}
    assert record["returns"] == {"epochs": 7}
    assert record["tags"] == ["ci"]
    assert record["environment"]["executor"] == {
        "type": "local-container", "engine": "docker", "image": "stand-in:latest", "exit_code": 0}
    assert (workdir / ".catalog" / "boxed-1" / "model.txt").read_text() == "m:7:6"
    # only what the command passes reached the "container"
    assert (workdir / "engine-env.txt").read_text().split() == [
        "DB_PASSWORD", "PATH", "RUNNABLE_IN_EXECUTOR", "RUNNABLE_PRM_epochs"]
    assert "abc123" not in (workdir / ".run_log_store" / "boxed-1.json").read_text()


def test_container_that_never_starts_leaves_a_fail_record(workdir: Path, engine: dict[str, str]) -> None:
    (workdir / "job.py").write_text(JOB)
    write_config(workdir, {"type": "local-container", "config": {"image": "no-such:image", "user": None}})
    done = run_cli(workdir, "execute-job", "job.py", "--config", "config.yaml", "--run-id", "never-1",
                   env={**engine, "DB_PASSWORD": "x"})
    assert done.returncode == 1
    assert "Unable to find image 'no-such:image'" in done.stderr
    record = _record(workdir, "never-1")
    assert record["status"] == "FAIL"
    assert record["error"]["message"].startswith("the container exited with code 125 before the job wrote")
    assert record["environment"]["executor"]["exit_code"] == 125
    assert json.loads(done.stdout)["status"] == "FAIL"  # the outer process printed the summary


def test_container_killed_mid_run_is_marked_fail(workdir: Path, engine: dict[str, str]) -> None:
    (workdir / "job.py").write_text(JOB)
    write_config(workdir, {"type": "local-container", "config": {
        "image": "stand-in:latest", "user": None, "environment": {"KILL_ME": "1"}}})
    done = run_cli(workdir, "execute-job", "job.py", "--config", "config.yaml", "--run-id", "killed-1",
                   env={**engine, "DB_PASSWORD": "x"})
    assert done.returncode == 1
    record = _record(workdir, "killed-1")
    assert record["status"] == "FAIL"
    assert record["error"]["message"] == "the container exited with code 137"
    assert record["environment"]["executor"]["exit_code"] == 137


def test_a_failed_command_in_a_container_gives_the_caller_its_exit_code(workdir: Path,
                                                                        engine: dict[str, str]) -> None:
    (workdir / "job.py").write_text(textwrap.dedent("""
        from runnable import ShellJob
        from runnable.errors import JobFailedError

        try:
            ShellJob(command="exit 3", name="boxed").execute()
        except JobFailedError as exc:
            print("caught", exc.exit_code, exc.record.status)
    """))
    write_config(workdir, {"type": "local-container", "config": {"image": "stand-in:latest", "user": None}})
    done = run_python(Path("job.py"), workdir, env={**engine, "RUNNABLE_CONFIGURATION_FILE": "config.yaml",
                                                     "RUNNABLE_RUN_ID": "boxed-3"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "caught 3 FAIL"
    assert _record(workdir, "boxed-3")["error"]["exit_code"] == 3


def test_container_run_id_already_used(workdir: Path, engine: dict[str, str]) -> None:
    (workdir / "job.py").write_text(JOB)
    write_config(workdir, {"type": "local-container", "config": {"image": "stand-in:latest", "user": None}})
    env = {**engine, "DB_PASSWORD": "x"}
    assert run_cli(workdir, "execute-job", "job.py", "--config", "config.yaml", "--run-id", "dup", env=env).returncode == 0
    done = run_cli(workdir, "execute-job", "job.py", "--config", "config.yaml", "--run-id", "dup", env=env)
    assert done.returncode == 2
    assert "run id 'dup' is already used" in done.stderr


# -- k8s-job ------------------------------------------------------------------------------------


def k8s_manifest(folder: Path, config: dict[str, Any], *args: str, env: dict[str, str] | None = None,
                 **sections: Any) -> dict[str, Any]:
    (folder / "job.py").write_text(JOB)
    write_config(folder, {"type": "k8s-job", "config": config}, **sections)
    data: dict[str, Any] = yaml.safe_load(dry_run(folder, *args, env=env))
    return data


def check_against_models(data: dict[str, Any]) -> Any:
    """Deserialize with the client's own models; every field must survive the round trip."""
    from kubernetes import client

    api = client.ApiClient()
    klass = {"Job": "V1Job", "CronJob": "V1CronJob"}[data["kind"]]
    obj = api.deserialize(json.dumps(data), klass, None)
    assert api.sanitize_for_serialization(obj) == data
    return obj


FULL = {
    "image": "registry.example.com/proj:1.4", "namespace": "ml", "service_account": "trainer",
    "resources": {"requests": {"cpu": 1, "memory": "2Gi"}, "limits": {"memory": "4Gi", "nvidia.com/gpu": 1}},
    "node_selector": {"pool": "gpu"},
    "tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"},
                    {"key": "spot", "operator": "Equal", "value": "true", "effect": "NoExecute",
                     "tolerationSeconds": 60}],
    "environment": {"MODE": "prod"}, "pvc_claim_name": "runnable-data", "secret_name": "proj-secrets",
    "active_deadline_seconds": 7200, "backoff_limit": 0, "ttl_seconds_after_finished": 600,
    "image_pull_policy": "Always", "labels": {"team": "ml"},
}


def test_k8s_job_manifest_file_system_catalog(workdir: Path) -> None:
    data = k8s_manifest(workdir, FULL, "--run-id", "Run_A.1", "--tag", "t1", env={"RUNNABLE_PRM_name": "x y"})
    job = check_against_models(data)
    assert job.api_version == "batch/v1" and job.kind == "Job"
    assert data["metadata"]["name"] == "runnable-run-a-1"
    assert data["metadata"]["namespace"] == "ml"
    assert data["metadata"]["labels"] == {"team": "ml", "app.kubernetes.io/managed-by": "runnable",
                                          "runnable/job": "train", "runnable/run-id": "run-a-1"}
    spec = data["spec"]
    assert (spec["activeDeadlineSeconds"], spec["backoffLimit"], spec["ttlSecondsAfterFinished"]) == (7200, 0, 600)
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["serviceAccountName"] == "trainer"
    assert pod["nodeSelector"] == {"pool": "gpu"}
    assert pod["tolerations"] == FULL["tolerations"]
    assert pod["volumes"] == [{"name": "runnable-data", "persistentVolumeClaim": {"claimName": "runnable-data"}}]
    (container,) = pod["containers"]
    assert container["image"] == "registry.example.com/proj:1.4"
    assert container["imagePullPolicy"] == "Always"
    assert container["workingDir"] == "/app"
    assert container["command"] + container["args"] == [
        "runnable", "execute-job", "/app/job.py", "--config", "/app/config.yaml", "--run-id", "Run_A.1",
        "--tag", "t1"]
    assert container["resources"] == {"requests": {"cpu": "1", "memory": "2Gi"},
                                      "limits": {"memory": "4Gi", "nvidia.com/gpu": "1"}}
    assert container["env"] == [
        {"name": "MODE", "value": "prod"},
        {"name": "RUNNABLE_IN_EXECUTOR", "value": "1"},
        {"name": "RUNNABLE_PRM_name", "value": "x y"},
        {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "proj-secrets", "key": "DB_PASSWORD"}}},
    ]
    assert container["volumeMounts"] == [
        {"name": "runnable-data", "mountPath": "/app/.catalog", "subPath": "catalog"},
        {"name": "runnable-data", "mountPath": "/app/.run_log_store", "subPath": "run_log_store"},
    ]


S3 = {"catalog": {"type": "s3", "config": {"bucket": "b", "prefix": "cat", "endpoint_url": "http://127.0.0.1:9"}},
      "run_log_store": {"type": "s3", "config": {"bucket": "b", "prefix": "runs", "endpoint_url": "http://127.0.0.1:9"}}}


def test_k8s_job_manifest_object_storage_has_no_volumes(workdir: Path) -> None:
    config = {"image": "p:1", "working_dir": "/srv/proj",
              "secret_refs": {"DB_PASSWORD": {"name": "db", "key": "password"}}}
    data = k8s_manifest(workdir, config, "--run-id", "s3-run", **S3)
    check_against_models(data)
    pod = data["spec"]["template"]["spec"]
    assert "volumes" not in pod
    (container,) = pod["containers"]
    assert "volumeMounts" not in container and "resources" not in container
    assert container["workingDir"] == "/srv/proj"
    assert container["args"][:2] == ["execute-job", "/srv/proj/job.py"]
    assert container["env"][-1] == {"name": "DB_PASSWORD",
                                    "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}
    assert data["spec"]["backoffLimit"] == 0 and data["spec"]["ttlSecondsAfterFinished"] == 3600
    assert "activeDeadlineSeconds" not in data["spec"]
    assert data["metadata"]["namespace"] == "default"


def test_k8s_schedule_makes_a_cronjob(workdir: Path) -> None:
    config = {"image": "p:1", "schedule": "0 3 * * *", "pvc_claim_name": "data", "secret_name": "s"}
    data = k8s_manifest(workdir, config, "--tag", "nightly")
    cron = check_against_models(data)
    assert cron.kind == "CronJob" and data["apiVersion"] == "batch/v1"
    assert data["metadata"]["name"] == "runnable-train"
    assert data["spec"]["schedule"] == "0 3 * * *"
    assert data["spec"]["concurrencyPolicy"] == "Forbid"
    (container,) = data["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert "--run-id" not in container["args"]  # each scheduled run draws its own id
    assert container["args"][-2:] == ["--tag", "nightly"]


@pytest.mark.parametrize(
    ("config", "sections", "expected"),
    [
        ({"image": "p", "secret_name": "s"}, {}, "set job-executor config 'pvc_claim_name'"),
        ({"image": "p", "pvc_claim_name": "d"}, {}, "the job needs the secret 'DB_PASSWORD'"),
        ({"image": "p", "working_dir": "app"}, {}, "'working_dir' must be an absolute path"),
        ({"image": "p", "resources": {"requests": {"cpu": "1"}, "limit": {}}}, {}, "not a valid V1ResourceRequirements"),
        ({"image": "p", "secret_refs": {"DB_PASSWORD": {"name": "x"}}}, {}, "secret_refs['DB_PASSWORD'] must be"),
    ],
)
def test_k8s_configuration_errors(workdir: Path, config: dict[str, Any], sections: dict[str, Any], expected: str) -> None:
    (workdir / "job.py").write_text(JOB)
    write_config(workdir, {"type": "k8s-job", "config": config}, **sections)
    done = run_cli(workdir, "execute-job", "job.py", "--config", "config.yaml", "--dry-run", env={"DB_PASSWORD": "x"})
    assert done.returncode == 2
    assert expected in done.stderr


def test_k8s_config_file_must_be_in_the_project(workdir: Path, tmp_path: Path) -> None:
    (workdir / "job.py").write_text(JOB)
    config = write_config(tmp_path, {"type": "k8s-job", "config": {"image": "p", "pvc_claim_name": "d",
                                                                    "secret_name": "s"}})
    done = run_cli(workdir, "execute-job", "job.py", "--config", str(config), "--dry-run")
    assert done.returncode == 2
    assert "is outside the working folder" in done.stderr


def test_dns_name() -> None:
    from runnable.executors.k8s import dns_name

    assert dns_name("Nightly_Train.v2") == "nightly-train-v2"
    assert dns_name("a" * 80) == "a" * 63
    assert dns_name("___") == "job"


@pytest.mark.parametrize("name", ["local", "container", "k8s"])
def test_example_configurations(name: str) -> None:
    from runnable.config import loading as _config
    from tests.conftest import REPO

    c = _config.load(REPO / "examples" / "configs" / f"{name}.yaml")
    c.storage_service().build()
    for section in ("run-log-store", "job-executor", "secrets"):
        c[section].build()
    if name != "local":  # the dry run writes nothing, so it is safe in the repository
        done = run_cli(REPO, "execute-job", "examples/11-jobs/catalog.py", "--config",
                       f"examples/configs/{name}.yaml", "--dry-run", "--run-id", "example-1")
        assert done.returncode == 0, done.stderr
        assert "examples/11-jobs/catalog.py" in done.stdout and "example-1" in done.stdout
        if name == "k8s":
            check_against_models(yaml.safe_load(done.stdout))
