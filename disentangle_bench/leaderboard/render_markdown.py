"""The leaderboard as GitHub-flavoured Markdown (``leaderboard/README.md``).

Every string that comes from a submission goes through :func:`escape_markdown`. Plots need
inline SVG, which GitHub does not render in Markdown: they are in ``index.html``.
"""

from __future__ import annotations

from disentangle_bench.leaderboard import formatting as fmt
from disentangle_bench.leaderboard.aggregate import Leaderboard, Table
from disentangle_bench.leaderboard.escape import escape_markdown as esc

TITLE = "disentangle-bench robustness leaderboard"


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def render_markdown(board: Leaderboard) -> str:
    lines = [
        f"# {TITLE}",
        "",
        f"<!-- {fmt.GENERATED_NOTE} -->",
        "",
        "How much of a method's disentanglement survives when the variance structure of the data "
        "is hidden: each score on the original dataset, on its structurally perturbed twin and on "
        "its matched-noise twin. The same tables with plots: [index.html](index.html).",
        "",
        "## How this page is generated",
        "",
        fmt.HOW_IT_IS_GENERATED,
        "",
        "```bash",
        "bench submit bench_runs/<experiment> --name '<method name>' --to leaderboard/",
        "bench leaderboard validate leaderboard/submissions/<file>.json",
        "bench leaderboard build --dir leaderboard/",
        "```",
        "",
        fmt.STATISTICS,
        "",
        fmt.RANKING,
        "",
        "## Submissions",
        "",
    ]
    if not board.entries:
        lines += ["No submissions yet.", ""]
        return "\n".join(lines)
    lines += [_row(list(fmt.SUBMISSION_COLUMNS)), "|" + "---|" * len(fmt.SUBMISSION_COLUMNS)]
    for entry in board.entries:
        lines.append(_row(fmt.submission_cells(entry, esc, lambda text: f"`{text}`")))
    lines += ["", "## Results", ""]
    for table in board.tables:
        lines.append(f"- [{fmt.table_title(table, esc)}](#{table.anchor})")
    lines.append("")
    for table in board.tables:
        lines += _table(table)
    return "\n".join(lines)


def _table(table: Table) -> list[str]:
    columns = fmt.header(table)
    lines = [
        f'<a id="{table.anchor}"></a>',
        "",
        f"### {fmt.table_title(table, esc)}",
        "",
        fmt.table_caption(table, esc),
        "",
        _row([esc(c) for c in columns]),
        "|" + "---|" * len(columns),
    ]
    for row in table.rows:
        cells = [
            str(row.rank) if row.rank is not None else fmt.MISSING,
            esc(row.entry.label),
            fmt.estimate(row.original),
            fmt.estimate(row.perturbed),
        ]
        if table.show_noise:
            cells.append(fmt.noise_cell(row))
        if table.show_shuffled:
            cells.append(fmt.shuffled_cell(row))
        cells += [
            fmt.estimate(row.drop),
            fmt.ratio(row),
            fmt.row_scale(row),
            esc(fmt.joined(row.hardware)),
        ]
        lines.append(_row(cells))
    lines.append("")
    return lines
