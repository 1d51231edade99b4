"""Every committed leaderboard entry says which commit and config made it, and still measures
the code of ``HEAD``.

For each file of ``leaderboard/submissions/``, the commit its runs record
(``versions["commit"]``) is compared with ``HEAD`` over the paths that decide its numbers
(``disentangle_bench.leaderboard.freshness.measured_paths``) with ``git diff --quiet <commit> HEAD
-- <paths>``. This test is not marked slow or optional: the plain ``python -m pytest`` of CI runs
it. It fails when a model, the trainer, a perturbation, the dataset or MIG changed after the
entry was measured (re-run the study, then ``python benchmarks/testbed_submissions.py``), and is
skipped, saying why, outside a git checkout or when the recorded commit is not in the repository
(a shallow clone).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from disentangle_bench.leaderboard.freshness import (
    REGENERATE,
    GitUnavailable,
    changed_paths,
    commit_known,
    measured_paths,
    recorded_commits,
    repository_root,
    staleness,
)
from disentangle_bench.leaderboard.validation import load_submission

ROOT = Path(__file__).resolve().parents[1]
SUBMISSIONS = sorted((ROOT / "leaderboard" / "submissions").glob("*.json"))


def checkout() -> Path:
    if shutil.which("git") is None:
        pytest.skip("git is not installed: cannot compare the entries' commits with HEAD")
    try:
        return repository_root(ROOT)
    except GitUnavailable as error:
        pytest.skip(f"not a git checkout, so the entries' commits cannot be compared: {error}")


@pytest.mark.parametrize("path", SUBMISSIONS, ids=[p.name for p in SUBMISSIONS])
def test_a_committed_entry_measured_the_code_of_head(path):
    root = checkout()
    source = f"leaderboard/submissions/{path.name}"
    submission = load_submission(path, source)
    runs = submission["runs"]
    assert all(run["operative_gin"].strip() for run in runs), f"{source}: a run has no config"
    assert len(submission["configs"]) >= 1
    stale, unknown = staleness(submission, source, root)
    assert not stale, "\n".join(item.message() for item in stale)
    if unknown:
        pytest.skip(
            f"{source}: commit(s) {', '.join(unknown)} are not in this repository (a shallow "
            "clone?); fetch the history to check this entry"
        )


# -- the check itself, on a repository of its own -----------------------------------------------


def git(root: Path, *args: str) -> str:
    command = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args]
    return subprocess.run(
        command, cwd=root, capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.fixture
def repository(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    root = tmp_path / "repo"
    (root / "disentangle_bench" / "models").mkdir(parents=True)
    (root / "docs").mkdir()
    git(root, "init", "-q")
    (root / "disentangle_bench" / "models" / "vae.py").write_text("BETA = 1\n")
    (root / "docs" / "notes.md").write_text("notes\n")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "first")
    return root


def submission_of(commit: str, *, base: str = "blob") -> dict:
    perturbations = [None, {"name": "oblique"}, {"name": "matched_noise"}]
    runs = [
        {
            "run_id": f"r{i}",
            "dataset": {"base": base, "perturbation": perturbation},
            "versions": {"commit": commit},
        }
        for i, perturbation in enumerate(perturbations)
    ]
    return {"method": {"model": "beta_vae"}, "runs": runs}


MEASURED = measured_paths(submission_of("a" * 40))


def test_a_change_to_measured_code_is_found_and_named(repository):
    measured = git(repository, "rev-parse", "HEAD")
    (repository / "docs" / "notes.md").write_text("more notes\n")
    git(repository, "commit", "-qam", "docs only")
    assert changed_paths(repository, measured, MEASURED) == []
    found, unknown = staleness(submission_of(measured), "submissions/x.json", repository)
    assert found == [] and unknown == []

    (repository / "disentangle_bench" / "models" / "vae.py").write_text("BETA = 2\n")
    git(repository, "commit", "-qam", "the model changed")
    assert changed_paths(repository, measured, MEASURED) == ["disentangle_bench/models/vae.py"]
    (item,) = staleness(submission_of(measured), "submissions/x.json", repository)[0]
    message = item.message()
    assert message.startswith(f"submissions/x.json (3 runs) measured commit {measured}")
    assert "disentangle_bench/models/vae.py" in message and "docs/notes.md" not in message
    assert "python benchmarks/testbed_submissions.py" in message and REGENERATE in message
    # A working-tree edit is nobody's measurement yet: only commits are compared.
    head = git(repository, "rev-parse", "HEAD")
    (repository / "disentangle_bench" / "models" / "vae.py").write_text("BETA = 3\n")
    assert changed_paths(repository, head, MEASURED) == []


def test_missing_uncommitted_unknown_and_hostile_commits(repository, tmp_path):
    head = git(repository, "rev-parse", "HEAD")
    source = "submissions/x.json"
    (item,) = staleness(submission_of(""), source, repository)[0]
    assert item.message().startswith(f"{source}: 3 runs record no commit; ")
    (item,) = staleness(submission_of(head + "+uncommitted"), source, repository)[0]
    assert "uncommitted changes" in item.message()
    missing = "0" * 40
    assert not commit_known(repository, missing) and commit_known(repository, head)
    assert staleness(submission_of(missing), source, repository) == ([], [missing])
    marker = tmp_path / "written-by-git"
    hostile = f"--output={marker}"
    (item,) = staleness(submission_of(hostile), source, repository)[0]
    assert "not a commit hash" in item.message() and not marker.exists()
    with pytest.raises(ValueError, match="not a commit hash"):
        changed_paths(repository, hostile, ["disentangle_bench"])
    with pytest.raises(GitUnavailable, match="not in a git checkout"):
        repository_root(tmp_path)


def test_the_paths_that_decide_an_entrys_numbers():
    # The model's, datasets' and perturbations' modules and what they import, the trainer and
    # the runner; not the metrics (pinned by the parity fixtures) nor unused device code.
    for path in (
        "disentangle_bench/models/vae.py",
        "disentangle_bench/models/architectures.py",
        "disentangle_bench/models/losses.py",
        "disentangle_bench/perturbations/oblique.py",
        "disentangle_bench/perturbations/matching.py",
        "disentangle_bench/perturbations/base.py",
        "disentangle_bench/pipeline/training.py",
        "disentangle_bench/data/sampling.py",
        "disentangle_bench/evidence/testbed.py",
        "disentangle_bench/data/blob.py",
        "disentangle_bench/data/procedural.py",
    ):
        assert path in MEASURED, path
    for path in (
        "disentangle_bench/metrics/utils.py",
        "disentangle_bench/perturbations/resident.py",
        "disentangle_bench/models/pcl.py",
    ):
        assert path not in MEASURED, path
    assert all((ROOT / path).exists() for path in MEASURED), MEASURED
    two = {"runs": submission_of("a" * 40)["runs"] + submission_of("b" * 40)["runs"]}
    assert recorded_commits(two) == {"a" * 40: ["r0", "r1", "r2"], "b" * 40: ["r0", "r1", "r2"]}
