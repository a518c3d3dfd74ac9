"""The run browser: ``runnable ui`` serves the runs, their files, metrics, comparisons and lineage as
web pages; ``runnable report RUN`` writes one run's page as a single self-contained HTML file.

Everything is read through the history API (``History``, ``Run``, the comparison and lineage
modules); nothing here parses a store's files. The web stack (Starlette, uvicorn, Jinja2) is the
optional extra ``runnable[ui]``, imported only when one of those two commands runs::

    from runnable.history.runs import History
    from runnable.ui.app import create_app

    app = create_app(History.from_config(None))   # an ASGI app; serve it with uvicorn

Layout: ``app`` (routes and security headers), ``pages/`` (one module per page), ``rendering`` (the
Jinja2 environment, autoescaped), ``table`` (the runs table's filter, sort and paging),
``previews`` (what a file looks like, from its head), ``charts`` (metric histories as SVG written
here), ``report`` (the one-file page), ``templates/``, ``static/``.
"""

from __future__ import annotations

import importlib

from runnable.errors import MissingExtraError

#: The modules of the ``ui`` extra, by the name pip knows them.
_EXTRA = {"starlette": "starlette", "uvicorn": "uvicorn", "jinja2": "jinja2", "markdown_it": "markdown-it-py"}


def require_extra(*modules: str) -> None:
    """Import the ``ui`` extra's modules, or raise MissingExtraError saying how to install them.

    >>> require_extra("jinja2")
    """
    missing = []
    for module in modules or tuple(_EXTRA):
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(_EXTRA.get(module, module))
    if missing:
        raise MissingExtraError(
            f"the run browser needs {', '.join(missing)}; install it with: pip install 'runnable[ui]'"
        )
