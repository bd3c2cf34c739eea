"""The layout's rules that code review alone would not keep: the package never reaches into
finished studies or repository scripts, and no study is on the command line."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_the_package_imports_no_study_and_no_script():
    bad = []
    for path in sorted((REPO / "emofusion").rglob("*.py")):
        for name in _imports(path):
            if name.split(".")[0] in ("studies", "scripts"):
                bad.append(f"{path.relative_to(REPO)} imports {name}")
    assert not bad, "\n".join(bad)


def test_no_study_is_a_cli_command():
    from emofusion.cli import COMMANDS

    assert not [m for m in COMMANDS.values() if not m.startswith("emofusion.")]
    assert "train-paired" not in COMMANDS


def test_every_study_has_a_readme():
    studies = [d for d in (REPO / "studies").iterdir() if d.is_dir() and not d.name.startswith((".", "_"))]
    assert studies
    for d in studies:
        assert (d / "README.md").is_file(), f"{d.name} has no README.md"
