"""The k8s-job executor without a cluster: each way of not reaching one is one clear line.

Real runs through the command line (``runnable execute-job``), with ``KUBECONFIG`` pointing at a
file that does not exist, at a kubeconfig naming a closed 127.0.0.1 port, and at a real HTTP server
on 127.0.0.1 that refuses the request as an API server does (403 with a ``Status`` body).
"""

from __future__ import annotations

import http.server
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import run_cli
from tests.run.test_executors import JOB, write_config

TOKEN = "t0ken-not-to-be-shown"


def kubeconfig(folder: Path, server: str) -> Path:
    data = {
        "apiVersion": "v1", "kind": "Config", "current-context": "dev",
        "clusters": [{"name": "dev", "cluster": {"server": server}}],
        "users": [{"name": "dev", "user": {"token": TOKEN}}],
        "contexts": [{"name": "dev", "context": {"cluster": "dev", "user": "dev"}}],
    }
    path = folder / "kubeconfig.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def submit(folder: Path, kube: Path) -> tuple[int, list[str]]:
    (folder / "job.py").write_text(JOB)
    write_config(folder, {"type": "k8s-job", "config": {"image": "p:1", "pvc_claim_name": "d", "secret_name": "s"}})
    done = run_cli(folder, "execute-job", "job.py", "--config", "config.yaml",
                   env={"KUBECONFIG": str(kube), "DB_PASSWORD": "x", "KUBERNETES_SERVICE_HOST": ""}, timeout=60)
    assert "Traceback" not in done.stderr, done.stderr
    assert TOKEN not in done.stdout + done.stderr
    return done.returncode, done.stderr.strip().splitlines()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_missing_kubeconfig_is_one_line(workdir: Path) -> None:
    code, lines = submit(workdir, workdir / "no-such-kubeconfig")
    assert code == 2
    assert len(lines) == 1, lines
    assert lines[0].startswith("Error: no kubeconfig: ")
    assert "no-such-kubeconfig" in lines[0] and "$KUBECONFIG" in lines[0] and "point KUBECONFIG" in lines[0]


def test_unreachable_cluster_is_one_line(workdir: Path) -> None:
    port = closed_port()
    code, lines = submit(workdir, kubeconfig(workdir, f"https://127.0.0.1:{port}"))
    assert code == 2
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"Error: the Kubernetes API server https://127.0.0.1:{port} cannot be reached to "
                               "create the Job runnable-")
    assert "Connection refused" in lines[0] and "kubectl cluster-info" in lines[0]


def test_broken_kubeconfig_is_one_line(workdir: Path) -> None:
    kube = workdir / "kubeconfig.yaml"
    kube.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "Config", "clusters": [], "users": []}))
    code, lines = submit(workdir, kube)
    assert code == 2
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"Error: the kubeconfig '{kube}' cannot be used: ")


class Refusing(http.server.BaseHTTPRequestHandler):
    """Answers every request as an API server that forbids it."""

    def do_POST(self) -> None:
        body = json.dumps({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Forbidden",
                           "code": 403, "message": 'jobs.batch is forbidden: User "dev" cannot create jobs'})
        self.send_response(403)
        self.send_header("Content-Type", "application/json")
        self.send_header("Set-Cookie", "session=" + TOKEN)
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def refusing_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Refusing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_refused_request_is_one_line(workdir: Path, refusing_server: str) -> None:
    code, lines = submit(workdir, kubeconfig(workdir, refusing_server))
    assert code == 2
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"Error: the Kubernetes API server {refusing_server} refused to create the Job ")
    assert lines[0].endswith("in namespace 'default': 403 Forbidden (jobs.batch is forbidden: User \"dev\" cannot "
                             "create jobs)")


def test_in_cluster_without_a_service_account_is_one_line(workdir: Path) -> None:
    (workdir / "job.py").write_text(JOB)
    write_config(workdir, {"type": "k8s-job", "config": {"image": "p:1", "pvc_claim_name": "d", "secret_name": "s"}})
    # As inside a pod whose service account token is not mounted.
    done = run_cli(workdir, "execute-job", "job.py", "--config", "config.yaml", timeout=60,
                   env={"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": "1", "DB_PASSWORD": "x"})
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert lines[0].startswith("Error: the pod's Kubernetes service account cannot be used: ")
