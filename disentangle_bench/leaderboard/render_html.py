"""The leaderboard as one self-contained HTML page (``leaderboard/index.html``).

No script, no external file, no network: inline CSS and inline SVG plots, and a Content Security
Policy (``default-src 'none'``) that forbids scripts and remote loads even if a browser met some.
Every string that comes from a submission goes through :func:`escape_html`.
"""

from __future__ import annotations

from disentangle_bench.leaderboard import formatting as fmt
from disentangle_bench.leaderboard.aggregate import Leaderboard, Table
from disentangle_bench.leaderboard.escape import escape_html as esc
from disentangle_bench.leaderboard.plots import drop_plot, scores_plot
from disentangle_bench.leaderboard.render_markdown import TITLE

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


def render_html(board: Leaderboard) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(TITLE)}</title>",
        f"<style>{STYLE}</style>",
        "</head>",
        "<body>",
        f"<!-- {esc(fmt.GENERATED_NOTE)} -->",
        f"<h1>{esc(TITLE)}</h1>",
        '<p class="note">How much of a method\'s disentanglement survives when the variance '
        "structure of the data is hidden: each score on the original dataset, on its structurally "
        "perturbed twin and on its matched-noise twin.</p>",
        f'<p class="note">{_code(fmt.HOW_IT_IS_GENERATED)}</p>',
        f'<p class="note">{_code(fmt.STATISTICS)}</p>',
        f'<p class="note">{_code(fmt.RANKING)}</p>',
        "<h2>Submissions</h2>",
    ]
    if not board.entries:
        parts += ["<p>No submissions yet.</p>", "</body>", "</html>", ""]
        return "\n".join(parts)
    parts += _submissions(board)
    parts += ["<h2>Results</h2>", '<ul class="toc">']
    for table in board.tables:
        parts.append(f'<li><a href="#{table.anchor}">{fmt.table_title(table, esc)}</a></li>')
    parts.append("</ul>")
    for table in board.tables:
        parts += _table(table)
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)


def _two_lines(text: str) -> str:
    """A formatted estimate with its interval (and notes) on a second, smaller line."""
    mean, _, rest = esc(text).partition(" ")
    return f'{mean}<span class="ci">{rest}</span>' if rest else mean


def _code(text: str) -> str:
    """Our own prose with `code` spans (no submission text in it)."""
    pieces = esc(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(pieces))


def _submissions(board: Leaderboard) -> list[str]:
    columns = fmt.SUBMISSION_COLUMNS
    parts = [
        '<div class="wide">',
        '<table class="submissions">',
        "<thead><tr>" + "".join(f"<th>{c}</th>" for c in columns) + "</tr></thead>",
        "<tbody>",
    ]
    for entry in board.entries:
        cells = fmt.submission_cells(entry, esc, lambda text: f"<code>{text}</code>")
        parts.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    parts += ["</tbody>", "</table>", "</div>"]
    return parts


def _table(table: Table) -> list[str]:
    columns = fmt.header(table)
    parts = [
        f'<section class="result" id="{table.anchor}">',
        f"<h3>{fmt.table_title(table, esc)}</h3>",
        '<div class="wide">',
        '<table class="leaderboard">',
        f"<caption>{fmt.table_caption(table, esc)}</caption>",
        "<thead><tr>" + "".join(f"<th>{esc(c)}</th>" for c in columns) + "</tr></thead>",
        "<tbody>",
    ]
    for row in table.rows:
        cells = [
            ("num", str(row.rank) if row.rank is not None else fmt.MISSING),
            ("", esc(row.entry.label)),
            ("num", _two_lines(fmt.estimate(row.original))),
            ("num", _two_lines(fmt.estimate(row.perturbed))),
        ]
        if table.show_noise:
            cells.append(("num", _two_lines(fmt.noise_cell(row))))
        cells += [
            ("num", _two_lines(fmt.estimate(row.drop))),
            ("num", _two_lines(fmt.ratio(row))),
            ("", esc(fmt.row_scale(row))),
            ("", esc(fmt.joined(row.hardware))),
        ]
        parts.append(
            '<tr class="entry">'
            + "".join(f'<td class="{c}">{v}</td>' if c else f"<td>{v}</td>" for c, v in cells)
            + "</tr>"
        )
    parts += [
        "</tbody>",
        "</table>",
        "</div>",
        '<div class="plots">',
        scores_plot(table),
        drop_plot(table),
        "</div>",
        "</section>",
    ]
    return parts
