"""Building the leaderboard: ranking, numbers, escaping, determinism, bad submissions."""

from __future__ import annotations

import io
import json
import re
import shutil
from pathlib import Path

import pytest
from test_leaderboard_support import (
    FRAGILE,
    ROBUST,
    study_records,
    write_run_dirs,
    write_submission,
)

from disentangle_bench.cli import main
from disentangle_bench.leaderboard import SubmissionError, build_leaderboard, build_submission
from disentangle_bench.leaderboard.escape import escape_html, escape_markdown
from disentangle_bench.leaderboard.validation import problems

ROOT = Path(__file__).resolve().parents[1]
HOSTILE = "<script>alert(1)</script> | x"


def board_with(tmp_path: Path, **methods: dict) -> Path:
    board = tmp_path / "board"
    (board / "submissions").mkdir(parents=True)
    for name, mig in methods.items():
        write_submission(board, name, study_records(mig))
    return board


def snapshot(board: Path) -> dict[str, bytes]:
    return {name: (board / name).read_bytes() for name in ("README.md", "index.html")}


def markdown_rows(readme: str, heading: str) -> list[list[str]]:
    """The cells of the table under ``heading`` (split on unescaped pipes)."""
    section = readme.split(heading, 1)[1]
    rows = []
    for line in section.splitlines():
        if line.startswith("### ") and rows:
            break
        if line.startswith("| ") and not line.startswith("|---"):
            rows.append([c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]])
    return rows


def test_ranked_table_with_means_intervals_drop_and_ratio(tmp_path):
    board = board_with(tmp_path, robust=ROBUST, fragile=FRAGILE)
    result = build_leaderboard(board)
    assert result.accepted == ["submissions/fragile.json", "submissions/robust.json"]
    readme = result.readme.read_text()
    header, *rows = markdown_rows(readme, "### dsprites\\_small · mig\\.discrete\\_mig · oblique")
    assert header == [
        "rank", "method", "original", "oblique \\(eps 0\\.1\\)", "noise", "drop", "robustness",
        "scale", "hardware",
    ]  # fmt: skip
    # Ranked by the score on the structural twin: robust (0.40) before fragile (0.12).
    assert [row[:2] for row in rows] == [["1", "robust"], ["2", "fragile"]]
    robust, fragile = rows
    assert robust[2].startswith("0.420 [") and robust[3].startswith("0.400 [")
    # Each seed drops by exactly 0.02 / 0.40: a paired drop has a zero-width interval.
    assert robust[5] == "0.020 [0.020, 0.020]"
    assert fragile[5] == "0.400 [0.400, 0.400]"
    assert fragile[6].startswith(f"{0.12 / 0.52:.3f} [")
    assert fragile[4].startswith("0.497 [") and fragile[4].endswith("(noise, eps 0.1)")
    assert robust[7] == "1,500 steps, 3 seeds" and robust[8] == "cpu"
    assert "Scale: 1,500 training steps; 3 seeds per entry; hardware: cpu." in readme
    page = result.html.read_text()
    assert page.count('<tr class="entry">') == 2
    assert page.count("<svg") == 2 and page.count('class="mark"') > 4
    assert "Content-Security-Policy" in page and "<script" not in page


def test_hostile_strings_are_escaped_in_both_outputs(tmp_path):
    board = tmp_path / "board"
    records = study_records(ROBUST, device="cpu\n| injected | row |")
    for record in records:
        record["model"]["hyperparameters"]["act"] = '<img src=x onerror="alert(2)">'
    write_submission(board, HOSTILE, records)
    write_submission(board, "[link](javascript:alert(3)) `code` *em*", study_records(FRAGILE))
    result = build_leaderboard(board)
    assert len(result.accepted) == 2

    page = result.html.read_text()
    assert "<script>" not in page and "<img" not in page and "javascript:alert" in page
    assert escape_html(HOSTILE) == "&lt;script&gt;alert(1)&lt;/script&gt; | x"
    assert "&lt;script&gt;alert(1)&lt;/script&gt; | x" in page
    assert "&lt;img src=x onerror=&quot;alert(2)&quot;&gt;" in page.replace("\\&quot;", "&quot;")
    assert 'href="javascript' not in page

    readme = result.readme.read_text()
    assert "<script" not in readme and "<img" not in readme
    assert escape_markdown(HOSTILE) == "&lt;script&gt;alert\\(1\\)&lt;\\/script&gt; \\| x"
    assert escape_markdown(HOSTILE) in readme
    assert "\\[link\\]\\(javascript\\:alert\\(3\\)\\) \\`code\\` \\*em\\*" in readme
    assert "](javascript" not in readme
    # Every table line keeps its column count: no pipe or newline from a name splits a cell.
    for line in readme.splitlines():
        if line.startswith("| rank"):
            width = len(re.split(r"(?<!\\)\|", line))
        elif line.startswith("| ") and "rank" not in line and re.match(r"^\| \d", line):
            assert len(re.split(r"(?<!\\)\|", line)) == width, line
    assert "injected" in readme and not any(
        line.startswith("| injected") for line in readme.splitlines()
    )


def test_the_page_template_escapes_every_value_it_is_not_told_is_markup():
    from markupsafe import Markup

    from disentangle_bench.leaderboard.render_html import TEMPLATE, environment

    env = environment()
    assert env.autoescape is True and env.get_template(TEMPLATE).name == TEMPLATE
    page = env.from_string("<p>{{ text }}|{{ safe }}</p>")
    rendered = page.render(text='<b a="1">&\u202e', safe=Markup("<i>ok</i>"))
    assert rendered == "<p>&lt;b a=&quot;1&quot;&gt;&amp;\N{REPLACEMENT CHARACTER}|<i>ok</i></p>"


def test_same_submissions_give_identical_bytes(tmp_path):
    board = board_with(tmp_path, robust=ROBUST, fragile=FRAGILE)
    build_leaderboard(board)
    first = snapshot(board)
    build_leaderboard(board)
    assert snapshot(board) == first
    # Another directory, files written in the other order: the same pages.
    other = tmp_path / "other"
    (other / "submissions").mkdir(parents=True)
    for name in ("robust.json", "fragile.json"):
        shutil.copy(board / "submissions" / name, other / "submissions" / name)
    build_leaderboard(other)
    assert snapshot(other) == first


def test_malformed_submissions_are_skipped_with_a_warning_or_fatal_when_strict(tmp_path):
    board = board_with(tmp_path, robust=ROBUST)
    build_leaderboard(board)
    before = snapshot(board)
    (board / "submissions" / "broken.json").write_text("{not json")
    partial = {"original": [0.3, 0.4]}
    write_submission(board, "partial", study_records(partial))
    shutil.copy(board / "submissions" / "robust.json", board / "submissions" / "so-copy.json")
    (board / "submissions" / "bad name!.json").write_text("{}")

    with pytest.raises(SubmissionError, match="bad name!.json: rejected: unsafe file name"):
        build_leaderboard(board, strict=True, stream=io.StringIO())
    assert snapshot(board) == before  # the failed build left the pages as they were

    warnings = io.StringIO()
    result = build_leaderboard(board, stream=warnings)
    assert result.accepted == ["submissions/robust.json"]
    lines = warnings.getvalue().splitlines()
    assert len(lines) == 4 and all(
        line.startswith("warning: skipping submissions/") for line in lines
    )
    text = warnings.getvalue()
    assert "broken.json: rejected: not valid JSON" in text
    assert "partial.json: rejected: partial submission: config c-" in text
    assert "has only original runs, no perturbed twin" in text
    assert "so-copy.json: rejected: duplicate submission: same content hash as " in text
    assert snapshot(board)["README.md"] == before["README.md"]


def test_cli_build_strict_exits_2_with_one_line(tmp_path, capsys):
    board = board_with(tmp_path, robust=ROBUST)
    assert main(["leaderboard", "build", "--dir", str(board)]) == 0
    assert "from 1 submission(s)" in capsys.readouterr().out
    (board / "submissions" / "zz.json").write_text('{"format": "disentangle-bench-submission"}')
    assert main(["leaderboard", "build", "--dir", str(board), "--strict"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("bench: error: submissions/zz.json: rejected: ")
    assert main(["leaderboard", "build", "--dir", str(board)]) == 0
    captured = capsys.readouterr()
    assert "1 skipped" in captured.out and "warning: skipping submissions/zz.json" in captured.err
    assert main(["leaderboard", "build", "--dir", str(tmp_path / "nowhere")]) == 2
    assert "is not a directory" in capsys.readouterr().err


def test_same_runs_under_another_name_are_duplicates(tmp_path):
    board = board_with(tmp_path, robust=ROBUST)
    write_submission(board, "second robust", study_records(ROBUST))
    warnings = io.StringIO()
    result = build_leaderboard(board, stream=warnings)
    assert result.accepted == ["submissions/robust.json"]
    assert (
        "second-robust.json: rejected: duplicate runs: 9 run(s) already submitted in "
        "submissions/robust.json" in warnings.getvalue()
    )


def test_a_method_name_is_used_once(tmp_path):
    board = board_with(tmp_path, robust=ROBUST)
    other = build_submission(study_records(FRAGILE), "ROBUST")
    (board / "submissions" / "zz.json").write_text(json.dumps(other))
    warnings = io.StringIO()
    assert build_leaderboard(board, stream=warnings).accepted == ["submissions/robust.json"]
    assert (
        "zz.json: rejected: method name 'ROBUST' is already used by submissions/robust.json"
        in warnings.getvalue()
    )


def test_path_traversal_in_the_name_stays_inside_submissions(tmp_path, capsys):
    runs = write_run_dirs(tmp_path / "out", study_records(ROBUST))
    board = tmp_path / "deep" / "board"
    code = main(
        ["submit", str(runs), "--name", "../../etc/passwd", "--to", str(board), "--no-fingerprints"]
    )
    assert code == 0, capsys.readouterr().err
    assert sorted(p.name for p in (board / "submissions").iterdir()) == ["etc-passwd.json"]
    assert not (tmp_path / "etc").exists() and not (tmp_path / "deep" / "etc").exists()
    saved = json.loads((board / "submissions" / "etc-passwd.json").read_text())
    assert saved["method"]["name"] == "../../etc/passwd"  # kept as a display name, escaped
    capsys.readouterr()
    for name in ("/etc/shadow", "..\\..\\x", "\x00/../y"):
        assert main(["submit", str(runs), "--name", name, "--to", str(board),
                     "--no-fingerprints", "--overwrite"]) in (0, 2)  # fmt: skip
    names = sorted(p.name for p in (board / "submissions").iterdir())
    assert all(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*\.json", n) for n in names), names
    capsys.readouterr()
    assert main(["submit", str(runs), "--name", "../..", "--to", str(board)]) == 2
    assert "leaves no usable file name" in capsys.readouterr().err


def test_lower_is_better_scores_rank_ascending_and_more_twins_get_tables(tmp_path):
    board = tmp_path / "board"
    for name, tc, extra in (("a", 0.5, 0.1), ("b", 0.2, 0.3)):
        records = study_records({"original": [0.3, 0.3], "oblique": [0.2, 0.2], "noise": [0.3]})
        records = [r for r in records if r["seed"] == 0]
        for record in records:
            record["metrics"]["unsupervised_metrics"] = {
                "gaussian_total_correlation": tc,
                "num_active_dims": 3,
            }
        mix = study_records({"linear_mix": [extra]})
        for record in mix:
            record["metrics"]["unsupervised_metrics"] = {
                "gaussian_total_correlation": tc,
                "num_active_dims": 3,
            }
        write_submission(board, name, records + mix)
    readme = build_leaderboard(board).readme.read_text()
    titles = re.findall(r"^### (.*)$", readme, flags=re.M)
    assert titles == [
        "dsprites\\_small · mig\\.discrete\\_mig · linear\\_mix \\(eps 0\\.1\\)",
        "dsprites\\_small · mig\\.discrete\\_mig · oblique \\(eps 0\\.1\\)",
        "dsprites\\_small · unsupervised\\_metrics\\.gaussian\\_total\\_correlation · linear\\_mix "
        "\\(eps 0\\.1\\)",
        "dsprites\\_small · unsupervised\\_metrics\\.gaussian\\_total\\_correlation · oblique "
        "\\(eps 0\\.1\\)",
    ]  # num_active_dims is a count, not a table
    rows = markdown_rows(readme, titles[3])
    assert [row[:2] for row in rows[1:]] == [["1", "b"], ["2", "a"]]  # lower is better
    assert "Lower is better" in readme
    mix_rows = markdown_rows(readme, titles[0])
    assert [row[:2] for row in mix_rows[1:]] == [["1", "b"], ["2", "a"]]  # 0.3 > 0.1
    assert mix_rows[1][3] == "0.300 (1 seed)"


def test_noise_only_methods_get_a_noise_table(tmp_path):
    board = board_with(tmp_path, control={"original": [0.5, 0.6], "noise": [0.5, 0.5]})
    readme = build_leaderboard(board).readme.read_text()
    header, row = markdown_rows(readme, "### dsprites\\_small · mig\\.discrete\\_mig · noise")
    assert header[3] == "noise \\(eps 0\\.1\\)" and "noise" not in header[4:]
    assert row[:2] == ["1", "control"] and row[4].startswith("0.050 [0.000, 0.100]")


def test_empty_leaderboard_and_the_committed_pages_are_up_to_date(tmp_path):
    committed = ROOT / "leaderboard"
    copy = tmp_path / "leaderboard"
    shutil.copytree(committed, copy)
    result = build_leaderboard(copy, strict=True)
    assert result.accepted == [s for s in result.accepted if s]  # whatever is committed
    assert snapshot(copy) == snapshot(committed), "rerun: bench leaderboard build"
    if not result.accepted:
        assert "No submissions yet." in snapshot(copy)["README.md"].decode()


def test_the_quickstart_helper_builds_its_own_leaderboard(tmp_path):
    from disentangle_bench.leaderboard import build_leaderboard_for_runs

    out = write_run_dirs(tmp_path / "quickstart", study_records(ROBUST))
    (out / "leaderboard" / "submissions").mkdir(parents=True)
    (out / "leaderboard" / "submissions" / "stale.json").write_text("{}")
    stream = io.StringIO()
    result = build_leaderboard_for_runs(out, stream=stream)
    assert result is not None and result.accepted == ["submissions/beta_vae.json"]
    assert sorted(p.name for p in (out / "leaderboard" / "submissions").iterdir()) == [
        "beta_vae.json"
    ]
    assert f"leaderboard written to {out / 'leaderboard' / 'index.html'}" in stream.getvalue()
    first = snapshot(out / "leaderboard")
    assert "| 1 | beta\\_vae |" in first["README.md"].decode()
    build_leaderboard_for_runs(out, stream=stream)
    assert snapshot(out / "leaderboard") == first

    lonely = write_run_dirs(tmp_path / "lonely", study_records({"original": [0.3]}))
    stream = io.StringIO()
    assert build_leaderboard_for_runs(lonely, stream=stream) is None
    assert stream.getvalue().startswith("leaderboard not built: ")
    assert "no perturbed twin" in stream.getvalue()
    assert not (lonely / "leaderboard").exists()


def test_two_configs_of_one_method_are_two_entries(tmp_path):
    board = tmp_path / "board"
    records = study_records(ROBUST) + study_records(FRAGILE, beta=1.0)
    write_submission(board, "sweep", records)
    submission = build_submission(records, "sweep")
    ids = [c["id"] for c in submission["configs"]]
    readme = build_leaderboard(board).readme.read_text()
    for config in ids:
        assert escape_markdown(f"sweep [{config}]") in readme


def test_equal_means_share_a_rank(tmp_path):
    board = board_with(
        tmp_path,
        a={"original": [0.4, 0.4], "oblique": [0.3, 0.3]},  # b's score, more robust
        c={"original": [0.5, 0.5], "oblique": [0.1, 0.2]},
    )
    # Another config (beta 2): otherwise its oblique runs would duplicate a's.
    write_submission(
        board, "b", study_records({"original": [0.5, 0.6], "oblique": [0.3, 0.3]}, beta=2.0)
    )
    readme = build_leaderboard(board).readme.read_text()
    rows = markdown_rows(readme, "### dsprites\\_small · mig\\.discrete\\_mig · oblique")[1:]
    assert [row[:2] for row in rows] == [["1", "a"], ["1", "b"], ["3", "c"]]
    assert rows[0][6] == "0.750 [0.750, 0.750]" and rows[1][6].startswith("0.545 [")


def test_two_noise_strengths_are_two_conditions(tmp_path):
    records = study_records(ROBUST)
    weak = study_records({"noise": [0.44, 0.44, 0.44]}, eps=0.05)
    board = tmp_path / "board"
    write_submission(board, "strengths", records + weak)
    readme = build_leaderboard(board, strict=True).readme.read_text()
    header, row = markdown_rows(readme, "### dsprites\\_small · mig\\.discrete\\_mig · oblique")
    # the matching strength
    assert row[4].startswith("0.410 [") and row[4].endswith("(noise, eps 0.1)")
    assert "### dsprites\\_small · mig\\.discrete\\_mig · noise" not in readme

    partial = records + weak[:2]  # the eps 0.05 twin lacks seed 2
    found = problems(build_submission(partial, "partial"))
    assert found == [
        f"partial submission: config {build_submission(partial, 'p')['configs'][0]['id']} on "
        "'dsprites_small' has seeds [0, 1, 2] on the original but [0, 1] on noise (eps 0.05); "
        "every condition needs the same seeds"
    ]
