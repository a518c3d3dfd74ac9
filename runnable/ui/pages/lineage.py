"""A run's lineage (``/runs/{run_id}/lineage``): the runs it was made from (left) and the runs that
read its outputs (right), joined by the files they passed, drawn as SVG in layers by distance.
Every box links to its run's page and its lineage."""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from runnable.history.lineage import Node, tree
from runnable.ui.app import history_of, page

_BOX_W, _BOX_H, _GAP_X, _GAP_Y, _PAD = 200, 52, 90, 18, 16
_ARC = 44  # how far above the boxes an arrow that skips a layer arcs
_STATUS_FILL = {"SUCCESS": "#dafbe1", "FAIL": "#ffebe9", "RUNNING": "#ddf4ff"}


@dataclass
class Placed:
    node: Node
    layer: int  # 0: the run; -1, -2: upstream; 1, 2: downstream
    row: int = 0


def _layers(root: Node, direction: int, placed: dict[str, Placed], edges: set[tuple[str, str, str]]) -> None:
    """Place the runs of one side (-1: upstream, 1: downstream) in layers: each run one layer
    further out than the farthest run it is linked from, so that every arrow points the same way
    (prepare -> train -> evaluate is three columns even when evaluate also read prepare's files).
    Walked with explicit lists, not recursion: a chain can be 1,000 runs long."""
    mine: set[tuple[str, str]] = set()
    level = [(root, child) for child in root.children]
    while level:
        following: list[tuple[Node, Node]] = []
        for parent, node in level:
            a, b = (node.run_id, parent.run_id) if direction < 0 else (parent.run_id, node.run_id)
            edges.add((a, b, ", ".join(node.via)))
            mine.add((parent.run_id, node.run_id))
            if node.run_id not in placed:
                placed[node.run_id] = Placed(node, direction)
                following.extend((node, child) for child in node.children)
        level = following
    # Longest distance from the run by relaxation; a lineage is acyclic (a run reads only what
    # earlier runs stored), and the pass count is capped in case a record says otherwise.
    for _ in range(len(placed)):
        changed = False
        for near, far in mine:
            wanted = placed[near].layer + direction
            if (wanted - placed[far].layer) * direction > 0:
                placed[far].layer = wanted
                changed = True
        if not changed:
            break


def graph_svg(run_id: str, up: Node, down: Node) -> Markup:
    """The lineage of ``run_id`` as an SVG of linked boxes (escaped text, links to run pages)."""
    placed: dict[str, Placed] = {run_id: Placed(up, 0)}
    edges: set[tuple[str, str, str]] = set()
    _layers(up, -1, placed, edges)
    _layers(down, 1, placed, edges)
    layers = sorted({p.layer for p in placed.values()})
    counts: dict[int, int] = {}
    for p in sorted(placed.values(), key=lambda p: (p.layer, p.node.start, p.node.run_id)):
        p.row = counts.get(p.layer, 0)
        counts[p.layer] = p.row + 1
    tallest = max(counts.values())
    width = _PAD * 2 + len(layers) * _BOX_W + (len(layers) - 1) * _GAP_X
    top_pad = _PAD + (_ARC if any(a in placed and b in placed and abs(placed[a].layer - placed[b].layer) > 1
                                  for a, b, _ in edges) else 0)
    height = top_pad + _PAD + tallest * _BOX_H + (tallest - 1) * _GAP_Y

    def origin(p: Placed) -> tuple[float, float]:
        column = layers.index(p.layer)
        offset = (tallest - counts[p.layer]) * (_BOX_H + _GAP_Y) / 2
        return _PAD + column * (_BOX_W + _GAP_X), top_pad + offset + p.row * (_BOX_H + _GAP_Y)

    out = [f'<svg class="lineage" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
           f'xmlns="http://www.w3.org/2000/svg" role="img" aria-label="lineage of {escape(run_id)}">',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#57606a"/></marker></defs>']
    for a, b, via in sorted(edges):
        if a not in placed or b not in placed:
            continue
        ax, ay = origin(placed[a])
        bx, by = origin(placed[b])
        x1, y1, x2, y2 = ax + _BOX_W, ay + _BOX_H / 2, bx, by + _BOX_H / 2
        mid = (x1 + x2) / 2
        if abs(placed[b].layer - placed[a].layer) > 1:
            # Skipping a layer: arc over the boxes between, from the top edges, so it is not hidden.
            x1, y1, x2, y2 = ax + _BOX_W / 2, ay, bx + _BOX_W / 2, by
            top = min(y1, y2) - _ARC
            mid = (x1 + x2) / 2
            curve = f"M {x1:.0f} {y1:.0f} C {x1:.0f} {top:.0f}, {x2:.0f} {top:.0f}, {x2:.0f} {y2:.0f}"
            label_y = top + _ARC / 4 - 5
        else:
            curve = f"M {x1:.0f} {y1:.0f} C {mid:.0f} {y1:.0f}, {mid:.0f} {y2:.0f}, {x2:.0f} {y2:.0f}"
            label_y = (y1 + y2) / 2 - 4
        out.append(f'<path d="{curve}" fill="none" stroke="#8c959f" stroke-width="1.4" marker-end="url(#arrow)">'
                   f'<title>{escape(via)}</title></path>')
        out.append(f'<text x="{mid:.0f}" y="{label_y:.0f}" text-anchor="middle" class="via">'
                   f'{escape(via[:28])}</text>')
    for rid, p in placed.items():
        x, y = origin(p)
        fill = _STATUS_FILL.get(p.node.status, "#f6f8fa")
        stroke = "#1f6feb" if rid == run_id else "#8c959f"
        out.append(f'<a href="/runs/{escape(rid)}/lineage" class="node"><title>{escape(rid)} ({escape(p.node.status)})</title>'
                   f'<rect x="{x:.0f}" y="{y:.0f}" width="{_BOX_W}" height="{_BOX_H}" rx="6" fill="{fill}" '
                   f'stroke="{stroke}" stroke-width="{2 if rid == run_id else 1}"/>'
                   f'<text x="{x + 10:.0f}" y="{y + 21:.0f}" class="node-job">{escape(p.node.job[:26])}</text>'
                   f'<text x="{x + 10:.0f}" y="{y + 40:.0f}" class="node-id">{escape(rid[:30])}</text></a>')
    out.append("</svg>")
    return Markup("".join(out))


def lineage_page(request: Request) -> HTMLResponse:
    history = history_of(request)
    run = history.get(request.path_params["run_id"])
    up = tree(history, run.run_id, down=False)
    down = tree(history, run.run_id, down=True)
    upstream, downstream = run.upstream(), run.downstream()
    return page("lineage.html", title=request.app.state.title, run=run, graph=graph_svg(run.run_id, up, down),
                upstream=upstream, downstream=downstream)
