"""Copy results tables into README.md and docs/RESULTS.md so no figure there is typed by hand.

A document marks a block `<!-- results:NAME -->` ... `<!-- /results:NAME -->`; BLOCKS below says,
one line per block, which results file (written by the command that measured it) the block is a copy
of. Adding a table = one line here + the two markers where it goes.

    python scripts/update_readme.py           # rewrite the blocks from their results files
    python scripts/update_readme.py --check   # exit 1 if a block is stale, unlisted or listed but
                                              # absent, or its results file is missing (a test runs it)
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"(<!-- results:(?P<name>[\w.-]+) -->\n)(?P<body>.*?)(<!-- /results:(?P=name) -->)", re.S)

# document, block name -> the results file it copies
BLOCKS: dict[tuple[str, str], str] = {
    # README: the models that ship (models/) and what they measurably do
    ("README.md", "real_av"): "results/shipped/real_av.md",
    ("README.md", "fusion_actor5"): "results/fusion/fusion_actor5.md",
    ("README.md", "shipped_audio"): "results/audio/audio_single_5fold.md",
    ("README.md", "face_pretrain_readme"): "results/face/face_pretrain.md",
    # docs/RESULTS.md: the current figures, a topic each (the earlier notebook is docs/archive/, frozen)
    ("docs/RESULTS.md", "real_av"): "results/shipped/real_av.md",
    ("docs/RESULTS.md", "fusion_actor5"): "results/fusion/fusion_actor5.md",
    ("docs/RESULTS.md", "audio_single_5fold"): "results/audio/audio_single_5fold.md",
    ("docs/RESULTS.md", "face_faceapi_compare"): "results/face/face_faceapi_compare.md",
    ("docs/RESULTS.md", "face_faceapi"): "results/face/face_pretrain.md",
    ("docs/RESULTS.md", "calibration"): "results/shipped/calibration.md",
    ("docs/RESULTS.md", "targets"): "results/shipped/targets.md",
}


def documents(blocks: dict[tuple[str, str], str] = BLOCKS) -> list[str]:
    return sorted({doc for doc, _ in blocks})


def render(text: str, doc: str, root: Path, blocks: dict[tuple[str, str], str] = BLOCKS) -> tuple[str, list[str]]:
    """(`text` with every listed block refilled from its results file, problems found)."""
    problems: list[str] = []
    seen: list[str] = []

    def fill(m: re.Match) -> str:
        name = m.group("name")
        seen.append(name)
        source = blocks.get((doc, name))
        if source is None:
            problems.append(f"{doc}: block {name!r} has no line in BLOCKS (scripts/update_readme.py)")
            return m.group(0)
        if not (root / source).is_file():
            problems.append(f"{doc}: block {name!r} copies {source}, which does not exist")
            return m.group(0)
        return m.group(1) + (root / source).read_text().strip() + "\n" + m.group(4)

    new = BLOCK.sub(fill, text)
    problems += [f"{doc}: BLOCKS lists {name!r} but the document has no such block"
                 for d, name in blocks if d == doc and name not in seen]
    problems += [f"{doc}: block {name!r} appears {seen.count(name)} times" for name in sorted(set(seen))
                 if seen.count(name) > 1]
    return new, problems


def run(root: Path, check: bool, blocks: dict[tuple[str, str], str] = BLOCKS) -> list[str]:
    """Refill (or with `check`, only compare) every document; the problems, stale documents included."""
    problems = []
    for doc in documents(blocks):
        path = root / doc
        if not path.is_file():
            problems.append(f"{doc}: no such document")
            continue
        old = path.read_text()
        new, found = render(old, doc, root, blocks)
        problems += found
        if check and new != old:
            problems.append(f"{doc} is stale: run python scripts/update_readme.py")
        elif not check and new != old and not found:
            path.write_text(new)
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if a document is not up to date")
    args = ap.parse_args(argv)
    problems = run(REPO, args.check)
    for p in problems:
        print(p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
