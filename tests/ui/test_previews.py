"""Previews and charts on their own: big files read from their head, binary and broken files, and
chart labels escaped; over a real run of a real job, served by the real server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from runnable.ui.charts import MAX_POINTS, line_chart
from runnable.ui.previews import HEAD, WHOLE_LIMIT, kind_of
from tests.conftest import run_cli
from tests.ui.helpers import Server
from tests.ui.http import get

ODD = r'''
import json
from pathlib import Path
from runnable import Catalog, PythonJob

def odd():
    rows = "".join(f"{i},{i * i},{'x' * 40}\n" for i in range(150_000))  # about 7 MiB
    Path("big.csv").write_text("n,square,pad\n" + rows)
    Path("blob.dat").write_bytes(bytes(range(256)) * 64)
    Path("broken.json").write_text('{"a": [1, 2,')
    Path("empty.txt").write_text("")
    Path("many.txt").write_text("".join(f"line {i}\n" for i in range(1000)))
    Path("nb.ipynb").write_text("not a notebook")
    Path("t.parquet").write_bytes(b"PAR1 not really PAR1")
    Path("notes.md").write_text("# Results\n\n**0.92** accuracy, see [the runs](https://example.com/runs)\n\n"
                                "<script>alert(1)</script>\n\n<img src=x onerror=alert(2)>\n\n"
                                "[click](javascript:alert(3)) ![plot](http://example.com/plot.png)\n")

PythonJob(function=odd, catalog=Catalog(put=["big.csv", "blob.dat", "broken.json", "empty.txt", "many.txt",
                                            "nb.ipynb", "t.parquet", "notes.md"])).execute()
'''


@pytest.fixture(scope="module")
def odd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    folder = tmp_path_factory.mktemp("odd")
    (folder / "odd.py").write_text(ODD)
    result = run_cli(folder, "execute-job", "odd.py", "--run-id", "odd-run-0001")
    assert result.returncode == 0, result.stderr
    served = Server(folder)
    yield served, folder
    served.stop()


def article(html: str, path: str) -> str:
    start = html.index(f'<article class="file" data-path="{path}">')
    return html[start:html.index("</article>", start)]


def test_a_big_file_previews_its_head_and_downloads_whole(odd_server: tuple[Server, Path]) -> None:
    server, folder = odd_server
    size = (folder / "big.csv").stat().st_size
    assert size > WHOLE_LIMIT
    html = get(server.url, "/runs/odd-run-0001").text
    big = article(html, "big.csv")
    assert big.count("<tr>") == 21  # the header and 20 rows
    assert f"the first {HEAD:,} of {size:,} bytes; not checked against its hash here (the download is)" in big
    download = get(server.url, "/runs/odd-run-0001/files/big.csv")
    assert download.body == (folder / "big.csv").read_bytes()
    assert download.headers["content-length"] == str(size)


def test_binary_broken_and_empty_files(odd_server: tuple[Server, Path]) -> None:
    server, _ = odd_server
    html = get(server.url, "/runs/odd-run-0001").text
    assert "binary content; download it" in article(html, "blob.dat")
    broken = article(html, "broken.json")
    assert "not valid JSON; shown as text" in broken and "{&#34;a&#34;: [1, 2," in broken
    assert '<pre class="preview-text"></pre>' in article(html, "empty.txt")
    many = article(html, "many.txt")
    assert "line 199" in many and "line 200" not in many and "the first 200 lines" in many
    assert "not a readable notebook; shown as text" in article(html, "nb.ipynb")
    try:
        import pyarrow  # noqa: F401 - optional: runnable does not install it
    except ImportError:
        assert "a Parquet preview needs pyarrow (pip install pyarrow); download it" in article(html, "t.parquet")
    else:
        assert "not a readable Parquet file" in article(html, "t.parquet")


def test_kinds_by_suffix() -> None:
    assert [kind_of(p) for p in ("a/b.PNG", "t.tsv", "x.parquet", "n.ipynb", "p.SVG", "r.htm", "data.bin")] == [
        "image", "table", "parquet", "notebook", "download", "download", "text?"]


def test_chart_labels_are_escaped_and_long_histories_thinned() -> None:
    chart = str(line_chart({"<b>run</b>": [[0, 1.0], [1, 2.0]], "other": [[0, 2.0], [1, 1.0]]}, title="a&b"))
    assert "<b>" not in chart and "&lt;b&gt;run&lt;/b&gt;" in chart and 'aria-label="a&amp;b"' in chart
    long = str(line_chart({"loss": [[i, 1 / (1 + i)] for i in range(100_000)]}))
    points = long.split('points="')[1].split('"')[0].split()
    assert len(points) <= MAX_POINTS + 1
    assert "no finite values" in str(line_chart({"nan": [[0, float("nan")]]}))
    flat = str(line_chart({"same": [[0, 3.0], [5, 3.0]]}))  # one value: still a line, no division by zero
    assert "<polyline" in flat


def test_markdown_is_rendered_with_its_own_html_escaped(odd_server: tuple[Server, Path]) -> None:
    server, _ = odd_server
    notes = article(get(server.url, "/runs/odd-run-0001").text, "notes.md")
    assert '<div class="preview-markdown"><h1>Results</h1>' in notes
    assert "<strong>0.92</strong>" in notes and '<a href="https://example.com/runs">the runs</a>' in notes
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in notes and "<script" not in notes
    assert "&lt;img src=x onerror=alert(2)&gt;" in notes and "<img" not in notes  # no image: no other host asked
    assert "javascript:" not in notes.replace("[click](javascript:alert(3))", "")  # not made a link
