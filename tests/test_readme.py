"""README's result tables are copies of results/*.md, and its commands exist."""

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_readme_results_blocks_match_results_files():
    r = subprocess.run([sys.executable, str(REPO / "scripts/update_readme.py"), "--check"])
    assert r.returncode == 0, "README.md results blocks differ from results/*.md"


def test_readme_opens_with_the_two_setup_commands_and_ci_uses_the_test_one():
    readme = (REPO / "README.md").read_text()
    first_block = re.search(r"```(?:bash|sh)?\n(.*?)```", readme, re.S).group(1)
    assert "./run.sh webapp" in first_block and "./run.sh test" in first_block
    ci = (REPO / ".ci/run").read_text()
    assert "./run.sh test" in ci


def test_every_results_block_has_a_file():
    readme = (REPO / "README.md").read_text()
    for name in re.findall(r"<!-- results:([\w.-]+) -->", readme):
        assert (REPO / "results" / f"{name}.md").exists(), name
