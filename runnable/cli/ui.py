"""``runnable ui``: the run browser on a local web server; ``runnable report RUN``: one run's page
as a self-contained HTML file. Both need the ``ui`` extra (``pip install 'runnable[ui]'``), imported
only here, when one of them runs."""

from __future__ import annotations

import ipaddress
import os
import sys
from pathlib import Path

import click

from runnable.cli.output import config_option, errors_to_exit, fail, open_history

LOOPBACK = "127.0.0.1"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@click.command("ui")
@config_option
@click.option("--host", default=LOOPBACK, show_default=True,
              help="Address to listen on; anything but a loopback address shares every run's files.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on.")
@click.option("--open", "open_browser", is_flag=True, help="Open the page in a web browser.")
def ui(config_file: str | None, host: str, port: int, open_browser: bool) -> None:
    """Browse runs, their files, metrics, comparisons and lineage in a web page (read-only)."""
    with errors_to_exit():
        from runnable.ui import require_extra

        require_extra()
        history = open_history(config_file).reading_only()  # the browser changes nothing
        import socket

        import uvicorn

        from runnable.ui.app import create_app

        app = create_app(history)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))  # bound here so that the address printed is the real one (port 0)
        except OSError as exc:
            fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}; choose another --port or --host")
        bound = sock.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        url = f"http://{shown}:{bound}/"
        if not _is_loopback(host):
            click.echo(f"warning: listening on {host}, not {LOOPBACK}: anyone who can reach this machine on port "
                       f"{bound} can read every run's records and stored files", err=True)
        click.echo(f"runnable ui: {history.store.location} (catalog {history.storage.location}) at {url}  "
                   "(Ctrl-C stops)")
        sys.stdout.flush()
        if open_browser:
            import webbrowser

            webbrowser.open(url)
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        server = uvicorn.Server(config)
        try:
            server.run(sockets=[sock])
        except KeyboardInterrupt:
            pass


@click.command("report")
@click.argument("run_id")
@config_option
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="File to write (default: RUN_ID.html here). An existing file is not overwritten without --force.")
@click.option("--force", is_flag=True, help="Overwrite the output file if it exists.")
def report(run_id: str, config_file: str | None, output: str | None, force: bool) -> None:
    """Write RUN_ID's page as one self-contained HTML file (no server, no network needed to open it)."""
    with errors_to_exit():
        from runnable.ui import require_extra

        require_extra("jinja2", "markdown_it")
        history = open_history(config_file).reading_only()  # the browser changes nothing
        from runnable.ui.report import render_report

        text = render_report(history, run_id)
        target = Path(output or f"{run_id}.html")
        if target.exists() and not force:
            fail(f"{target} exists; use --force to overwrite it, or -o to name another file")
        if target.is_dir():
            fail(f"{target} is a folder; give a file name with -o")
        temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            temporary.write_text(text, encoding="utf-8")
            os.replace(temporary, target)
        except OSError as exc:
            temporary.unlink(missing_ok=True)
            fail(f"cannot write {target}: {exc.strerror or exc}")
        click.echo(f"wrote {target} ({len(text.encode()):,} bytes)")
