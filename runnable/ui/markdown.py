"""Markdown outputs (``.md``, ``.markdown``) rendered as HTML, safely.

markdown-it-py (CommonMark; it comes with ``rich``, a core dependency, and the ``ui`` extra names it)
with raw HTML off: a ``<script>`` or ``<img onerror=...>`` in the file is escaped and shows as text,
like every other cataloged value. Links keep markdown-it's own check (no ``javascript:``,
``vbscript:``, ``file:`` or non-image ``data:`` URLs). Images are off: an image URL would make the
page ask another host (the page makes no request elsewhere), so ``![alt](url)`` shows as ``!`` and a
link.

>>> str(render("# Notes\\n\\n<b>bold</b> *x*"))
'<h1>Notes</h1>\\n<p>&lt;b&gt;bold&lt;/b&gt; <em>x</em></p>\\n'
"""

from __future__ import annotations

from functools import lru_cache

from markdown_it import MarkdownIt
from markupsafe import Markup

MARKDOWN_SUFFIXES = (".md", ".markdown")


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False}).disable("image")


def render(text: str) -> Markup:
    """``text`` as HTML in which nothing of the file is markup but what Markdown itself makes."""
    return Markup(_parser().render(text))
