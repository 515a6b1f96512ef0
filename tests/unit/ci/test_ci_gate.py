"""CI cannot hide a skipped test: ``.ci/run`` sets ``CI=true`` and a skip then fails the run.

Both halves are run for real: pytest in a subprocess with the ``ci_strict`` plugin on a small test
tree, and ``scripts/run-tests.sh`` copied next to a stand-in ``.venv`` that records its environment.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

SKIPPING = {
    "test_marks.py": """
        import pytest

        def test_runs():
            assert True

        def test_skip_call():
            pytest.skip("no tool here")

        @pytest.mark.skipif(True, reason="not on this machine")
        def test_skipif():
            pass

        @pytest.mark.xfail(reason="known bad")
        def test_xfail():
            assert False

        def test_importorskip_in_a_test():
            pytest.importorskip("a_module_that_does_not_exist_here")
    """,
    "test_module_skip.py": """
        import pytest

        pytest.importorskip("another_module_that_does_not_exist")

        def test_never_collected():
            pass
    """,
}


def _pytest(tree: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    for name, body in SKIPPING.items():
        (tree / name).write_text(textwrap.dedent(body))
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PYTHONPATH"] = str(ROOT)
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.bench.ci_strict", "-p", "no:cacheprovider", "-q",
         "-o", "addopts=", "--continue-on-collection-errors", str(tree)],
        cwd=tree, env=env, capture_output=True, text=True, timeout=120,
    )


def _counts(out: str) -> dict[str, int]:
    last = [line for line in out.splitlines() if " in " in line and ("passed" in line or "failed" in line)][-1]
    return {word: int(n) for n, word in re.findall(r"(\d+) (\w+)", last)}


def test_in_ci_every_kind_of_skip_fails_the_run(tmp_path: Path) -> None:
    run = _pytest(tmp_path, "true")
    assert run.returncode == 1, run.stdout
    counts = _counts(run.stdout)
    # skip, skipif (at setup: an error), xfail, importorskip, and the module-level importorskip (collection).
    assert counts.get("failed", 0) + counts.get("errors", counts.get("error", 0)) == 5, run.stdout
    assert counts.get("passed") == 1 and "skipped" not in counts and "xfailed" not in counts, run.stdout
    assert "CI=true: a skip is a failure here" in run.stdout and "no tool here" in run.stdout


def test_outside_ci_a_skip_stays_a_skip(tmp_path: Path) -> None:
    for value in (None, "false"):
        run = _pytest(tmp_path, value)
        assert run.returncode == 0, run.stdout
        counts = _counts(run.stdout)
        assert counts.get("skipped") == 4 and counts.get("xfailed") == 1 and counts.get("passed") == 1, run.stdout


def test_ci_entry_point_is_readme_block_b_and_sets_ci(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    ci_run = (ROOT / ".ci" / "run").read_text()
    block_b = "./scripts/setup-tests.sh && ./scripts/run-tests.sh"
    assert f"```bash\n{block_b}\n```" in readme
    assert [line for line in ci_run.splitlines() if line and not line.startswith(("#", "set ", "cd "))] == [block_b]

    # run-tests.sh beside a stand-in .venv whose tools record the CI variable they were given.
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "run-tests.sh", tmp_path / "scripts" / "run-tests.sh")
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for tool in ("ruff", "mypy", "lint-imports", "python"):
        script = bin_dir / tool
        script.write_text(f'#!/bin/sh\necho "{tool} CI=$CI" >> "{tmp_path}/seen"\n')
        script.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    run = subprocess.run(["bash", str(tmp_path / "scripts" / "run-tests.sh")], env=env, capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    assert (tmp_path / "seen").read_text().splitlines() == [
        "ruff CI=true", "mypy CI=true", "lint-imports CI=true", "python CI=true"]
