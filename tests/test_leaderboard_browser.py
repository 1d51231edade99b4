"""index.html in headless Chromium: the table rows and the plots are laid out and visible, no
submitted string runs as markup, and a screenshot shows the page (not a blank one).

Needs Debian's ``chromium`` (``.ci/run`` installs it); skipped with a reason when it is absent.
"""

from __future__ import annotations

import html as html_module
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from test_leaderboard_support import FRAGILE, ROBUST, study_records, write_submission

from disentangle_bench.leaderboard import build_leaderboard
from disentangle_bench.util.images import decode_png

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)"
)
HOSTILE = "<script>alert(1)</script> | x"
PWNED = "<img src=x onerror=\"document.body.setAttribute('data-pwned', '1')\">"
#: Appended to a copy of the page (without its CSP): reports the layout of rows and plots.
PROBE = """<script>
(function () {
  function shown(el) {
    var r = el.getBoundingClientRect(), s = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none'
      && Number(s.opacity) > 0 && r.left >= 0 && r.right <= document.documentElement.scrollWidth;
  }
  function all(sel) { return Array.prototype.slice.call(document.querySelectorAll(sel)); }
  var report = {
    rows: all('tr.entry').map(function (tr) { return {shown: shown(tr), text: tr.innerText}; }),
    plots: all('svg.plot').map(function (svg) { return shown(svg); }),
    marks: all('svg.plot .mark').filter(shown).length,
    labels: all('svg.plot text').map(function (t) { return t.textContent; })
  };
  var out = document.createElement('pre');
  out.id = 'probe';
  out.textContent = JSON.stringify(report);
  document.body.appendChild(out);
})();
</script>"""


def chromium(tmp_path: Path, *args: str) -> str:
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    profile.mkdir()
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        *args,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.fixture
def board(tmp_path):
    board = tmp_path / "board"
    write_submission(board, "robust", study_records(ROBUST))
    fragile = study_records(FRAGILE)
    for record in fragile:
        record["model"]["hyperparameters"]["note"] = PWNED
    write_submission(board, HOSTILE, fragile)
    build_leaderboard(board, strict=True)
    return board


def test_rows_and_plots_are_visible_and_nothing_submitted_runs(board, tmp_path):
    page = board / "index.html"
    dom = chromium(tmp_path, "--dump-dom", page.as_uri())
    assert dom.count('<tr class="entry">') == 2
    assert len(re.findall(r"<svg[^>]*class=\"plot", dom)) == 2
    assert not re.search(r"<body[^>]*data-pwned", dom) and "<img" not in dom
    assert "&lt;script&gt;alert(1)&lt;/script&gt; | x" in dom  # shown as text

    probe = tmp_path / "probe.html"
    html = page.read_text(encoding="utf-8")
    html = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", html)
    probe.write_text(html.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    dom = chromium(tmp_path, "--window-size=1280,2000", "--dump-dom", probe.as_uri())
    serialised = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S).group(1)
    report = json.loads(html_module.unescape(serialised))
    assert [row["shown"] for row in report["rows"]] == [True, True]
    texts = [row["text"] for row in report["rows"]]
    assert texts[0].startswith("1\trobust\t0.420") and texts[1].startswith(f"2\t{HOSTILE}\t0.520")
    assert "0.400\n[0.400, 0.400]" in texts[1]  # fragile's drop, interval on its own line
    assert report["plots"] == [True, True]
    # Scores plot: 3 markers per row (original, oblique, noise); drop plot: 1 bar per row.
    assert report["marks"] == 2 * 3 + 2
    assert any(t.startswith("robust") for t in report["labels"])
    assert any(t.startswith("<script>alert(1)") for t in report["labels"])
    assert not re.search(r"<body[^>]*data-pwned", dom)  # the probe page has no CSP: still inert


def test_screenshot_is_a_page_with_plots(board, tmp_path):
    shot = tmp_path / "leaderboard.png"
    chromium(
        tmp_path, f"--screenshot={shot}", "--window-size=1280,2000", (board / "index.html").as_uri()
    )
    image = decode_png(shot.read_bytes())
    assert image.shape == (2000, 1280, 3)
    packed = image.astype(np.int32)
    colours = np.unique((packed[..., 0] << 16) | (packed[..., 1] << 8) | packed[..., 2])
    assert len(colours) > 50  # text, tables and plots, not a blank page
    # The perturbed-score marker colour (#c2410c) and the drop bars (#7c3aed at 55%) are drawn.
    orange = np.all(np.abs(image.astype(int) - [0xC2, 0x41, 0x0C]) <= 8, axis=-1).sum()
    assert orange > 20
    print(f"screenshot: {shot}")
