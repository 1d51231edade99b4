"""The robustness leaderboard: validated submissions, ranked tables with bootstrap intervals,
and a self-contained HTML page with inline SVG plots.

- :mod:`~.schema`: the versioned submission format (``submission.schema.json``), content hash;
- :mod:`~.submission`: a submission from ``bench run`` records, safe file names;
- :mod:`~.validation`: every check on an (untrusted) submission;
- :mod:`~.ranges`: the range and direction of each known result key;
- :mod:`~.statistics`: means and percentile-bootstrap intervals over seeds;
- :mod:`~.aggregate`: tables per dataset, score and perturbed twin, with the noise and shuffled
  controls beside the structural twin, ranked;
- :mod:`~.chance`: measured chance levels (:mod:`~.chance_levels`, generated) and the rule that
  gives an entry at chance no robustness ratio;
- :mod:`~.freshness`: whether a committed entry's recorded commit still has the code of ``HEAD``;
- :mod:`~.render_markdown`, :mod:`~.render_html`, :mod:`~.plots`, :mod:`~.escape`: output;
- :mod:`~.build`: a leaderboard directory, and :func:`build_leaderboard_for_runs` for the
  quickstart.

docs/leaderboard.md describes the format, the commands and the statistics.
"""

from disentangle_bench.leaderboard.build import (
    BuildResult,
    LeaderboardError,
    build_leaderboard,
    build_leaderboard_for_runs,
)
from disentangle_bench.leaderboard.schema import (
    FORMAT,
    FORMAT_VERSION,
    SubmissionError,
    content_hash,
    load_schema,
)
from disentangle_bench.leaderboard.submission import (
    build_submission,
    collect_run_records,
    sanitise_file_stem,
    submission_path,
)
from disentangle_bench.leaderboard.validation import check, load_submission, parse_submission

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "BuildResult",
    "LeaderboardError",
    "SubmissionError",
    "build_leaderboard",
    "build_leaderboard_for_runs",
    "build_submission",
    "check",
    "collect_run_records",
    "content_hash",
    "load_schema",
    "load_submission",
    "parse_submission",
    "sanitise_file_stem",
    "submission_path",
]
