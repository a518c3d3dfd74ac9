"""Secrets: given to the job as environment variables, never written anywhere by runnable."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from runnable.backends import secrets as _secrets
from tests.conftest import run_cli, run_python

SECRET = "hunter2-Xq9"

JOB = textwrap.dedent(
    """
    import hashlib, os, sys, time
    from runnable import PythonJob

    def use_secret(fail: bool = False):
        value = os.environ["DB_PASSWORD"]
        with open("seen.sha256", "w") as f:
            f.write(hashlib.sha256(value.encode()).hexdigest())
        print("connecting with", value)
        # the same value split across two writes, with a pause between them
        sys.stdout.write("split: " + value[:4]); sys.stdout.flush(); time.sleep(0.2)
        sys.stdout.write(value[4:] + " end\\n"); sys.stdout.flush()
        print("on stderr:", value, file=sys.stderr)
        if fail:
            raise RuntimeError(f"login refused for password {value}")
        return value

    def main():
        job = PythonJob(function=use_secret, returns=["echo"], secrets=["DB_PASSWORD"])
        job.execute()
        return job

    if __name__ == "__main__":
        main()
    """
)


def _everything_written(workdir: Path) -> str:
    texts = []
    for path in workdir.rglob("*"):
        if path.is_file() and path.name != "seen.sha256":
            texts.append(path.read_text(errors="replace"))
    return "\n".join(texts)


def _sha(value: str) -> str:
    import hashlib

    return hashlib.sha256(value.encode()).hexdigest()


@pytest.mark.parametrize("fail", [False, True])
def test_env_secret_reaches_job_and_is_masked_everywhere(workdir: Path, fail: bool) -> None:
    (workdir / "job.py").write_text(JOB)
    env = {"DB_PASSWORD": SECRET}
    if fail:
        env["RUNNABLE_PRM_fail"] = "true"
    done = run_python(Path("job.py"), workdir, env=env)
    assert done.returncode == (1 if fail else 0), done.stderr
    assert (workdir / "seen.sha256").read_text() == _sha(SECRET)  # the job got the real value
    console = done.stdout + done.stderr
    assert SECRET not in console
    assert "connecting with *****" in console
    assert "split: ***** end" in console
    written = _everything_written(workdir)
    assert SECRET not in written
    summary = json.loads(done.stdout[done.stdout.index("{"):done.stdout.rindex("}") + 1])
    record_path = workdir / summary["run_record"]
    record = json.loads(record_path.read_text())
    log = (workdir / summary["execution_log"]).read_text()
    assert "connecting with *****" in log and "split: ***** end" in log and "on stderr: *****" in log
    if fail:
        assert record["status"] == "FAIL"
        assert record["error"]["message"] == "login refused for password *****"
        assert "*****" in record["error"]["traceback"]
        assert summary["error"] == "RuntimeError: login refused for password *****"
    else:
        assert record["returns"] == {"echo": "*****"}


def test_dotenv_backend(workdir: Path) -> None:
    (workdir / "job.py").write_text(JOB)
    (workdir / "secrets.env").write_text(f"DB_PASSWORD={SECRET}\n")
    (workdir / "c.yaml").write_text("secrets: {type: dotenv, config: {location: secrets.env}}\n")
    done = run_cli(workdir, "execute-job", "job.py", "--config", "c.yaml")
    assert done.returncode == 0, done.stderr
    assert (workdir / "seen.sha256").read_text() == _sha(SECRET)
    assert SECRET not in done.stdout + done.stderr
    written = _everything_written(workdir).replace((workdir / "secrets.env").read_text(), "")
    assert SECRET not in written


@pytest.mark.parametrize("backend", ["env", "dotenv"])
def test_missing_secret_fails_before_the_job_runs(workdir: Path, backend: str) -> None:
    (workdir / "job.py").write_text(JOB)
    (workdir / ".env").write_text("OTHER=1\n")
    (workdir / "c.yaml").write_text(f"secrets: {{type: {backend}}}\n")
    done = run_cli(workdir, "execute-job", "job.py", "--config", "c.yaml")
    assert done.returncode == 2
    assert "secret 'DB_PASSWORD' is not available" in done.stderr
    assert not (workdir / "seen.sha256").exists()  # the job did not run
    assert not (workdir / ".run_log_store").exists()  # and no run was created


def test_missing_secret_raises_secret_error_from_python(workdir: Path) -> None:
    code = textwrap.dedent(
        """
        from runnable import PythonJob, SecretError
        try:
            PythonJob(function=print, secrets=["NOPE_SECRET"]).execute()
        except SecretError as exc:
            print("SecretError:", exc)
        """
    )
    done = run_python(code, workdir)
    assert done.stdout.strip().startswith("SecretError: secret 'NOPE_SECRET' is not available")


def test_shell_job_secret_masked(workdir: Path) -> None:
    code = textwrap.dedent(
        """
        from runnable import ShellJob
        ShellJob(command='echo "pw=$DB_PASSWORD"', secrets=["DB_PASSWORD"]).execute()
        """
    )
    done = run_python(code, workdir, env={"DB_PASSWORD": SECRET})
    assert done.returncode == 0, done.stderr
    assert "pw=*****" in done.stdout
    assert SECRET not in _everything_written(workdir) + done.stdout + done.stderr


def test_masker_holds_back_partial_values() -> None:
    masker = _secrets.Masker(["abcdef", "abc"])
    out = b"".join(masker(chunk) for chunk in [b"x ab", b"cd", b"ef y ab", b"c z a"]) + masker.flush()
    assert out == b"x ***** y ***** z a"
    assert _secrets.Masker([])(b"abc") == b"abc"


def test_mask_value_walks_nested_data() -> None:
    masker = _secrets.Masker(["s3cret"])
    data = {"a": ["x s3cret", {"s3cret": 1}], "b": 2}
    assert _secrets.mask_value(data, masker) == {"a": ["x *****", {"*****": 1}], "b": 2}


def test_a_secret_that_is_a_number_is_masked_in_the_record(workdir: Path) -> None:
    script = workdir / "job.py"
    script.write_text(textwrap.dedent("""
        import os
        from runnable import PythonJob

        def train(n: int, ratio: float):
            return int(os.environ["API_KEY"])

        PythonJob(function=train, returns=["r"], secrets=["API_KEY"]).execute()
    """))
    done = run_python(script, workdir, env={"API_KEY": "987654321", "RUNNABLE_PRM_n": "987654321",
                                            "RUNNABLE_PRM_ratio": "987654321.5"})
    assert done.returncode == 0, done.stderr
    record = next((workdir / ".run_log_store").glob("*.json")).read_text()
    assert "987654321" not in record.replace("987654321.5", "") and "987654321" not in done.stdout
    data = json.loads(record)
    # a number that merely holds the secret's digits stays a number: masking never changes numbers
    assert data["parameters"] == {"n": "*****", "ratio": 987654321.5} and data["returns"] == {"r": "*****"}
    assert _secrets.mask_value([True, 7, 98765432], _secrets.Masker(["987654321"])) == [True, 7, 98765432]


def _dotenv_job_failure(workdir: Path, location: str) -> str:
    """stderr of a job with a secret whose dotenv file is ``location``: one error, no chained traceback."""
    (workdir / "job.py").write_text(JOB)
    (workdir / "c.yaml").write_text(f"secrets: {{type: dotenv, config: {{location: {location}}}}}\n")
    done = run_cli(workdir, "execute-job", "job.py", "--config", "c.yaml")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert not (workdir / "seen.sha256").exists()  # the job did not run
    code = "from runnable import PythonJob\nPythonJob(function=print, secrets=['DB_PASSWORD']).execute('c.yaml')"
    api = run_python(code, workdir)
    assert api.returncode == 1
    assert "direct cause" not in api.stderr and "During handling" not in api.stderr
    assert "site-packages" not in api.stderr
    return done.stderr


def test_dotenv_location_must_be_a_path(workdir: Path) -> None:
    stderr = _dotenv_job_failure(workdir, "5")
    assert f"'location' in section 'secrets' of '{workdir / 'c.yaml'}' must be a file path, not a number" in stderr


def test_dotenv_file_that_is_not_utf8(workdir: Path) -> None:
    (workdir / "latin.env").write_bytes(b"USER=me\nDB_PASSWORD=caf\xe9\n")
    stderr = _dotenv_job_failure(workdir, "latin.env")
    assert "secrets file 'latin.env' is not UTF-8 text: line 2, column 16 is not UTF-8; save it as UTF-8" in stderr
    assert "caf" not in stderr  # no part of a secret value in the message


def test_dotenv_location_that_is_a_folder(workdir: Path) -> None:
    (workdir / "envs").mkdir()
    stderr = _dotenv_job_failure(workdir, "envs")
    assert "secrets file 'envs' is a folder; give the path of a KEY=value file" in stderr


def test_dotenv_location_with_a_tilde_is_in_the_home_folder(workdir: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "proj.env").write_text(f"DB_PASSWORD={SECRET}\n")
    (workdir / "job.py").write_text(JOB)
    (workdir / "c.yaml").write_text("secrets: {type: dotenv, config: {location: ~/proj.env}}\n")
    done = run_cli(workdir, "execute-job", "job.py", "--config", "c.yaml", env={"HOME": str(home)})
    assert done.returncode == 0, done.stderr
    assert (workdir / "seen.sha256").read_text() == _sha(SECRET)


def test_dotenv_location_is_checked_as_a_path_when_built_directly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from runnable import ConfigurationError

    monkeypatch.setenv("HOME", str(tmp_path))
    assert _secrets.DotEnvSecrets("~/team.env").location == str(tmp_path / "team.env")
    with pytest.raises(ConfigurationError, match=r"^'location' in section 'secrets' is empty; give a file path"):
        _secrets.DotEnvSecrets(" ")
    with pytest.raises(ConfigurationError, match=r"^'location' in section 'secrets' holds '\$HOME': variables"):
        _secrets.DotEnvSecrets("$HOME/team.env")


def test_a_numeric_secret_never_changes_a_number_in_the_record(workdir: Path) -> None:
    """A secret "42" leaves metric values, steps and numbers that merely hold its digits as numbers."""
    (workdir / "job.py").write_text(textwrap.dedent("""
        from runnable import PythonJob, log_metric

        def f(lr: float, epochs: int):
            for step in range(50):
                log_metric("loss_42", 1.0 / (step + 1), step=step)
            return 0.1428571

        PythonJob(function=f, returns=["r"], secrets=["API_PIN"]).execute()
    """))
    done = run_python(Path("job.py"), workdir, env={"API_PIN": "42", "RUNNABLE_PRM_lr": "0.0042",
                                                     "RUNNABLE_PRM_epochs": "420"})
    assert done.returncode == 0, done.stderr
    data = json.loads(next((workdir / ".run_log_store").glob("*.json")).read_text())
    assert data["metrics"]["loss_*****"][42] == [42, 1.0 / 43]
    assert data["parameters"] == {"lr": 0.0042, "epochs": 420} and data["returns"] == {"r": 0.1428571}
    listing = run_cli(workdir, "runs", "list")
    assert listing.returncode == 0 and "SUCCESS" in listing.stdout, listing.stdout + listing.stderr
