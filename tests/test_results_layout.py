"""results/ keeps one folder a topic, and every results path quoted where people read resolves."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TOPICS = {"audio", "bench", "face", "fusion", "shipped", "studies"}
QUOTED = re.compile(r"results/[\w./-]*\w")


def test_results_top_level_holds_only_the_index_and_topic_folders():
    top = {p.name for p in (REPO / "results").iterdir()}
    assert top <= TOPICS | {"README.md"}, sorted(top - TOPICS - {"README.md"})
    assert (REPO / "results" / "README.md").is_file()


def _quoted_paths(text: str) -> set[str]:
    """Paths of committed files: not patterns, not where a user's own runs and GPU checks go."""
    return {m.group(0) for m in QUOTED.finditer(text)
            if not re.search(r"[*{}]|NAME|results/runs|results/bench/gpu", m.group(0))}


def test_every_results_path_quoted_by_readme_cards_docs_and_tests_resolves():
    docs = [REPO / "README.md", REPO / "results" / "README.md", *(REPO / "docs").glob("*.md"),
            *(REPO / "models").glob("*/card.md"), *(REPO / "models").glob("*/card.json"),
            *(p for p in (REPO / "tests").glob("*.py") if p.name != "test_readme.py"),  # that one builds tmp results/
            *(REPO / "studies").rglob("README.md")]
    missing = []
    for doc in docs:
        for path in _quoted_paths(doc.read_text()):
            stem = path.rstrip(".")
            if not (REPO / stem).exists() and not list((REPO / stem).parent.glob((REPO / stem).name + ".*")):
                missing.append(f"{doc.relative_to(REPO)}: {path}")
    assert not missing, "\n".join(sorted(missing))
