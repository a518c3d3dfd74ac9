"""The Jupyter kernel a NotebookJob runs in: papermill starts it with the manager made here."""

from __future__ import annotations

import sys
from typing import Any


def kernel_manager(this_interpreter: bool) -> type[Any]:
    """The kernel manager papermill starts the notebook's kernel with.

    Its connection is encrypted (CurveZMQ keys provisioned by the manager) wherever the kernel
    declares support, as ipykernel 7 does: over plain TCP ipykernel prints "[IPKernelApp] WARNING |
    Kernel is running over TCP without encryption" on every run, into the console and the log.

    ``this_interpreter`` starts ipykernel with this very interpreter (``sys.executable``): by default
    a notebook runs in the same Python as the job, whatever kernels are registered. A ``python3``
    kernelspec found on ``JUPYTER_PATH`` or in ``~/.local/share/jupyter`` may belong to another
    Python (another virtual environment, the system's) without the job's packages, or to one that no
    longer exists. ``NotebookJob(kernel="name")`` still selects a registered kernel by name.
    """
    import zmq
    from jupyter_client.kernelspec import KernelSpec
    from jupyter_client.manager import KernelManager

    # jupyter_client < 8.10 cannot provision keys (and ipykernel before 7 does not warn); a libzmq
    # without libsodium cannot encrypt: then the kernel runs as before.
    encrypt = "transport_encryption" in KernelManager.class_traits() and zmq.has("curve")

    class RunnableKernelManager(KernelManager):
        def __init__(self, **kwargs: Any) -> None:
            if encrypt:
                kwargs.setdefault("transport_encryption", "auto")
            super().__init__(**kwargs)

        @property
        def kernel_spec(self) -> KernelSpec | None:
            if not this_interpreter:
                return super().kernel_spec
            if self._kernel_spec is None:
                self._kernel_spec = KernelSpec(
                    name="python3",
                    argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                    display_name=f"Python {sys.version_info.major}.{sys.version_info.minor} ({sys.executable})",
                    language="python",
                    metadata={"supported_encryption": ["curve"]} if encrypt else {},
                )
            return self._kernel_spec

    return RunnableKernelManager
