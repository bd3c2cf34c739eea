"""README.md (for users, <= 15 KB) and docs/RESULTS.md: their result tables are copies of
results/*.md (scripts/update_readme.py), their links and commands exist, the Python example runs."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"


def _update_readme():
    spec = importlib.util.spec_from_file_location("update_readme", REPO / "scripts" / "update_readme.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_results_blocks_in_readme_and_docs_match_their_results_files():
    r = subprocess.run([sys.executable, str(REPO / "scripts/update_readme.py"), "--check"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_every_listed_block_is_in_its_document():
    u = _update_readme()
    assert set(u.documents()) == {"README.md", "docs/RESULTS.md"}
    for doc, name in u.BLOCKS:
        assert f"<!-- results:{name} -->" in (REPO / doc).read_text(), (doc, name)


def test_update_readme_refills_blocks_and_reports_every_kind_of_problem(tmp_path):
    u = _update_readme()
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "a.md").write_text("# A\n\n| x |\n")
    doc = "text\n<!-- results:first -->\nold\n<!-- /results:first -->\nmore\n"
    (tmp_path / "README.md").write_text(doc)
    blocks = {("README.md", "first"): "results/a.md"}
    assert u.run(tmp_path, check=True, blocks=blocks) == ["README.md is stale: run python scripts/update_readme.py"]
    assert u.run(tmp_path, check=False, blocks=blocks) == []
    assert (tmp_path / "README.md").read_text() == doc.replace("old\n", "# A\n\n| x |\n")
    assert u.run(tmp_path, check=True, blocks=blocks) == []
    # a new block is one line in BLOCKS; until its results file exists, --check says so
    more = {**blocks, ("README.md", "second"): "results/b.md"}
    (tmp_path / "README.md").write_text((tmp_path / "README.md").read_text()
                                        + "<!-- results:second -->\n<!-- /results:second -->\n")
    assert u.run(tmp_path, check=True, blocks=more) == ["README.md: block 'second' copies results/b.md, "
                                                        "which does not exist"]
    assert "has no line in BLOCKS" in u.run(tmp_path, check=True, blocks=blocks)[0]
    gone = {**blocks, ("README.md", "third"): "results/a.md"}
    assert any("has no such block" in p for p in u.run(tmp_path, check=True, blocks=gone))


def test_readme_is_at_most_15_kb():
    size = README.stat().st_size
    assert size <= 15_000, f"README.md is {size} bytes; move detail to docs/"


def test_readme_opens_with_the_two_setup_commands_and_ci_uses_the_test_one():
    readme = README.read_text()
    first_block = re.search(r"```(?:bash|sh)?\n(.*?)```", readme, re.S).group(1)
    assert "./run.sh webapp" in first_block and "./run.sh test" in first_block
    ci = (REPO / ".ci/run").read_text()
    assert "./run.sh test" in ci


def test_readme_links_and_named_files_exist():
    readme = README.read_text()
    targets = re.findall(r"\]\(([^)#\s]+)\)", readme)
    assert "results/shipped/webapp_screenshot.png" in targets  # the screenshot is shown, not just named
    named = re.findall(r"`((?:docs|results|scripts|models|emofusion)/[\w./-]+\.(?:md|py|sh|png|json))`", readme)
    missing = [t for t in targets + named if not t.startswith("http") and not (REPO / t).exists()]
    assert not missing, missing


def test_readme_names_only_commands_that_exist():
    from emofusion.cli import COMMANDS

    used = set(re.findall(r"`emofusion ([a-z][\w-]*)", README.read_text()))
    assert used and used <= set(COMMANDS), used - set(COMMANDS)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_readme_python_example_runs_as_written():
    example = re.search(r"```python\n(.*?)```", README.read_text(), re.S).group(1)
    assert len(example.strip().splitlines()) <= 5 and "emofusion.load(" in example
    r = subprocess.run([sys.executable, "-c", example], cwd=REPO, capture_output=True, text=True, timeout=540)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "'top': " in r.stdout and "'basis': " in r.stdout, r.stdout
