"""``runnable report RUN``: one run's page as a single self-contained HTML file.

The same template and context as the served page (``pages/run.py``), with the stylesheet inlined,
images as ``data:`` URIs, no script and no link to a server: it opens from a ticket or a pull
request with no network. Its own Content-Security-Policy (a ``<meta>`` tag) forbids every request.

>>> # Path("report.html").write_text(render_report(History.from_config(None), "epic-bernoulli-5374"))
"""

from __future__ import annotations

from importlib import resources

from markupsafe import Markup

from runnable.history.runs import History
from runnable.ui import rendering


def render_report(history: History, run_id: str) -> str:
    """The HTML text of ``run_id``'s report."""
    from runnable.ui.pages.run import run_context

    context = run_context(history, run_id, standalone=True)
    # Our own stylesheet, trusted as markup: escaped, its quoted font names would break inside <style>.
    css = Markup(resources.files("runnable.ui").joinpath("static", "style.css").read_text(encoding="utf-8"))
    return rendering.render("run.html", css=css, title=history.store.location, **context)
