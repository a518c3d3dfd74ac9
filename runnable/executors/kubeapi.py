"""Reaching a Kubernetes cluster: credentials and API calls, each failure one line (needs ``runnable[k8s]``).

Shared by every executor that talks to the Kubernetes API (``k8s-job`` today; Argo's ``--submit``
next), so that a missing kubeconfig, a cluster that does not answer and a request the API server
refuses read the same everywhere::

    kubeapi.connect(context=None)               # ConfigurationError: no kubeconfig / a broken one
    with kubeapi.calling("create the Job", "ml"):
        batch.create_namespaced_job("ml", manifest)   # ClusterError: unreachable, or refused

The client's own exceptions carry a 20-line traceback through urllib3's retry loop, and an
``ApiException`` prints the whole HTTP response (headers included); neither tells the user what to
do. Messages here name the server, the namespace and the action, never a credential: the token, the
client certificate and the response headers are not read into them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from runnable.errors import ClusterError, ConfigurationError

#: Where the client looks when ``$KUBECONFIG`` is not set (kubernetes.config.KUBE_CONFIG_DEFAULT_LOCATION).
DEFAULT_KUBECONFIG = "~/.kube/config"
_CHECK = "check it with 'kubectl cluster-info'"


def kubeconfig_paths(environ: Mapping[str, str] = os.environ) -> list[Path]:
    """The kubeconfig files the client reads: ``$KUBECONFIG`` (a ':'-separated list) or the default.

    >>> [str(p) for p in kubeconfig_paths({"KUBECONFIG": "/a/config:/b/config"})]
    ['/a/config', '/b/config']
    """
    listed = environ.get("KUBECONFIG", "")
    names = [name for name in listed.split(os.pathsep) if name] or [DEFAULT_KUBECONFIG]
    return [Path(name).expanduser() for name in names]


def connect(context: str | None = None) -> None:
    """Load the credentials the pod's service account or the kubeconfig gives, or say why not.

    Inside a pod (``$KUBERNETES_SERVICE_HOST`` set) the service account's; elsewhere the kubeconfig's
    ``context`` (its current context when None). Raises ConfigurationError with one line naming the
    file (and the variable it came from) when there is none or it cannot be used.
    """
    from kubernetes import config as kube_config

    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        try:
            kube_config.load_incluster_config()  # type: ignore[no-untyped-call]
        except kube_config.ConfigException as exc:
            raise ConfigurationError(f"the pod's Kubernetes service account cannot be used: {_first_line(exc)}") from None
        return
    paths = kubeconfig_paths()
    origin = "$KUBECONFIG" if os.environ.get("KUBECONFIG") else "the default location"
    shown = ", ".join(repr(str(p)) for p in paths)
    if not any(p.is_file() for p in paths):
        raise ConfigurationError(
            f"no kubeconfig: {shown} (from {origin}) does not exist; point KUBECONFIG at your cluster's "
            f"kubeconfig file (or run this inside the cluster), then {_CHECK}"
        )
    try:
        kube_config.load_kube_config(context=context)  # type: ignore[no-untyped-call]
    except (kube_config.ConfigException, ValueError, OSError) as exc:
        # Not chained: the client's message is all there is, and its traceback is through YAML and
        # certificate loading. The message names keys and contexts, not their values.
        which = f" (context {context!r})" if context else ""
        raise ConfigurationError(f"the kubeconfig {shown}{which} cannot be used: {_first_line(exc)}") from None


def server() -> str:
    """The API server the loaded credentials point at, for messages: ``https://10.0.0.1:6443``."""
    from kubernetes import client

    return str(client.Configuration.get_default_copy().host)


@contextmanager
def calling(action: str, namespace: str) -> Iterator[None]:
    """Turn a failed API call inside the block into ClusterError: one line naming ``action``.

    ``action`` is what the block does, as a verb phrase ("create the Job runnable-x").
    """
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    try:
        yield
    except ApiException as exc:
        # The status and the API server's own sentence ('namespaces "ml" not found'); not the
        # response headers, which hold cookies and audit ids.
        raise ClusterError(
            f"the Kubernetes API server {server()} refused to {action} in namespace {namespace!r}: "
            f"{exc.status} {exc.reason}{_status_message(exc.body)}"
        ) from None
    except (HTTPError, OSError) as exc:
        cause = getattr(exc, "reason", None) or exc
        raise ClusterError(
            f"the Kubernetes API server {server()} cannot be reached to {action}: {_first_line(cause)}; "
            f"is the cluster running and is this the right kubeconfig context? {_CHECK}"
        ) from None


def _status_message(body: object) -> str:
    """The ``message`` of a Kubernetes ``Status`` response body, if it is one."""
    try:
        data = json.loads(body) if isinstance(body, (str, bytes)) else None
    except ValueError:
        return ""
    message = data.get("message") if isinstance(data, dict) else None
    return f" ({_first_line(message)})" if isinstance(message, str) and message else ""


def _first_line(error: object) -> str:
    """The first line of ``error``'s text, with urllib3's object addresses left out."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    # urllib3 writes "<urllib3.connection.HTTPSConnection object at 0x7f..>: Failed to establish a
    # new connection: [Errno 111] Connection refused": the part after the object is the news.
    if text.startswith("<") and ">: " in text:
        text = text.split(">: ", 1)[1]
    return text[:300]
