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


def _package_graph() -> dict[str, set[str]]:
    """Sub-package -> the sub-packages it imports (lazy imports inside functions included)."""
    pkg = REPO / "emofusion"
    subs = {d.name for d in pkg.iterdir() if d.is_dir() and (d / "__init__.py").exists()}
    graph: dict[str, set[str]] = {s: set() for s in subs}
    for s in subs:
        for path in (pkg / s).rglob("*.py"):
            for name in _imports(path):
                parts = name.split(".")
                if parts[0] == "emofusion" and len(parts) > 1 and parts[1] in subs and parts[1] != s:
                    graph[s].add(parts[1])
    return graph


def test_sub_packages_depend_one_way():
    """No two rooms import each other, even lazily: e.g. `pretrained` reads third-party weights and
    never builds a network; `nets` builds networks from what it reads."""
    graph = _package_graph()
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(nxt):] + [node, nxt])
                                     if nxt in stack else f"import cycle through {node} -> {nxt}")
            if nxt not in state:
                visit(nxt, stack + [node])
        state[node] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n, [])


def test_every_trainer_config_shares_one_base():
    """One training-config base (issue 29): every dataclass in train/ with an `epochs` field is a
    TrainingBase, so saving, loading and varying a config work the same for every trainer."""
    import dataclasses
    import importlib
    import inspect

    from emofusion.train.config import TrainingBase

    found = []
    for path in sorted((REPO / "emofusion" / "train").rglob("*.py")):
        module = importlib.import_module(".".join(path.relative_to(REPO).with_suffix("").parts))
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__ and dataclasses.is_dataclass(cls) and \
                    "epochs" in {f.name for f in dataclasses.fields(cls)}:
                found.append(cls)
                assert issubclass(cls, TrainingBase), cls
                assert type(cls.from_dict(cls().to_dict())) is cls and cls.from_dict(cls().to_dict()) == cls()
    assert {c.__name__ for c in found} >= {"TrainConfig", "FaceTrainConfig", "FusionTrainConfig", "HeadSetting"}
