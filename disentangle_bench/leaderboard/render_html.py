"""The leaderboard as one self-contained HTML page (``leaderboard/index.html``).

Rendered from the Jinja2 template ``templates/index.html.j2`` with autoescaping: every value the
template prints is escaped with :func:`~disentangle_bench.leaderboard.escape.escape_html` (which
also replaces control and format characters) unless it is :class:`markupsafe.Markup`, and only
three things are: this module's own constants (the CSP and the style sheet), strings the shared
formatters built from escaped parts, and the SVG plots, whose labels
:mod:`~disentangle_bench.leaderboard.plots` escapes. The same submissions give the same bytes.

No script, no external file, no network: inline CSS and inline SVG plots, and a Content Security
Policy (``default-src 'none'``) that forbids scripts and remote loads even if a browser met some.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import jinja2
from markupsafe import Markup

from disentangle_bench.leaderboard import formatting as fmt
from disentangle_bench.leaderboard.aggregate import Leaderboard, Table
from disentangle_bench.leaderboard.escape import escape_html
from disentangle_bench.leaderboard.plots import drop_plot, scores_plot
from disentangle_bench.leaderboard.render_markdown import TITLE

TEMPLATE = "index.html.j2"
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'"

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2rem auto;
  max-width: 1200px; padding: 0 1rem; color: #111827; background: #ffffff; line-height: 1.45; }
h1 { font-size: 1.7rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #e5e7eb; }
h3 { margin-top: 2rem; }
table { border-collapse: collapse; margin: 0.6rem 0 1rem; font-size: 0.9rem; }
th, td { border: 1px solid #d1d5db; padding: 0.3rem 0.55rem; text-align: left;
  vertical-align: top; }
th { background: #f3f4f6; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.num .ci { display: block; font-size: 0.78rem; color: #4b5563; }
caption { caption-side: top; text-align: left; color: #374151; padding-bottom: 0.3rem; }
.wide { overflow-x: auto; }
.plots { display: flex; flex-wrap: wrap; gap: 1rem; }
.plots svg { border: 1px solid #e5e7eb; max-width: 100%; height: auto; }
code { background: #f3f4f6; padding: 0 0.2rem; }
.note { color: #374151; }
"""


def _escaped(value: Any) -> Markup:
    """What the template prints: Markup as it is, anything else through :func:`escape_html`."""
    if isinstance(value, Markup):
        return value
    return Markup(escape_html(value))


def _two_lines(text: str) -> Markup:
    """A formatted estimate with its interval (and notes) on a second, smaller line."""
    mean, _, rest = escape_html(text).partition(" ")
    return Markup(f'{mean}<span class="ci">{rest}</span>' if rest else mean)


def _code_spans(text: str) -> Markup:
    """Our own prose with `code` spans (no submission text in it)."""
    pieces = escape_html(text).split("`")
    return Markup("".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(pieces)))


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("disentangle_bench.leaderboard", "templates"),
        autoescape=True,
        finalize=_escaped,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["two_lines"] = _two_lines
    env.filters["code_spans"] = _code_spans
    return env


def render_html(board: Leaderboard) -> str:
    template = environment().get_template(TEMPLATE)
    return template.render(
        csp=Markup(CSP),
        style=Markup(STYLE),
        title=TITLE,
        generated_note=fmt.GENERATED_NOTE,
        notes=[fmt.HOW_IT_IS_GENERATED, fmt.STATISTICS, fmt.RANKING],
        submission_columns=fmt.SUBMISSION_COLUMNS,
        submissions=[_submission_cells(entry) for entry in board.entries],
        tables=[_table(table) for table in board.tables] if board.entries else [],
    )


def _submission_cells(entry: Any) -> list[Markup]:
    # the shared formatter escapes every piece of submission text with escape_html
    cells = fmt.submission_cells(entry, escape_html, lambda text: f"<code>{text}</code>")
    return [Markup(cell) for cell in cells]


def _table(table: Table) -> dict[str, Any]:
    rows = []
    for row in table.rows:
        cells = [
            {"number": True, "text": str(row.rank) if row.rank is not None else fmt.MISSING},
            {"number": False, "text": row.entry.label},
            {"number": True, "text": fmt.estimate(row.original)},
            {"number": True, "text": fmt.estimate(row.perturbed)},
        ]
        if table.show_noise:
            cells.append({"number": True, "text": fmt.noise_cell(row)})
        if table.show_shuffled:
            cells.append({"number": True, "text": fmt.shuffled_cell(row)})
        cells += [
            {"number": True, "text": fmt.estimate(row.drop)},
            {"number": True, "text": fmt.ratio(row)},
            {"number": False, "text": fmt.row_scale(row)},
            {"number": False, "text": fmt.joined(row.hardware)},
        ]
        rows.append(cells)
    return {
        "anchor": table.anchor,
        # table_title and table_caption escape every piece of submission text they join
        "title": Markup(fmt.table_title(table, escape_html)),
        "caption": Markup(fmt.table_caption(table, escape_html)),
        "columns": fmt.header(table),
        "rows": rows,
        "scores_plot": Markup(scores_plot(table)),
        "drop_plot": Markup(drop_plot(table)),
    }
