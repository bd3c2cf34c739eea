"""Copy results tables into README.md so no figure there is typed by hand.

README.md holds blocks `<!-- results:NAME -->` ... `<!-- /results:NAME -->`; each is replaced by
the contents of `results/NAME.md` (written by the command that measured it). `--check` exits 1
when README.md is stale, which the test suite runs.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"(<!-- results:(?P<name>[\w.-]+) -->\n)(?P<body>.*?)(<!-- /results:(?P=name) -->)", re.S)


def render(readme: str, results_dir: Path) -> str:
    def fill(m: re.Match) -> str:
        src = results_dir / f"{m.group('name')}.md"
        body = src.read_text().strip() + "\n" if src.exists() else f"_(no {src.name} yet)_\n"
        return m.group(1) + body + m.group(4)

    return BLOCK.sub(fill, readme)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if README.md is not up to date")
    args = ap.parse_args()
    path = REPO / "README.md"
    old = path.read_text()
    new = render(old, REPO / "results")
    if args.check:
        if new != old:
            print("README.md is stale: run python scripts/update_readme.py", file=sys.stderr)
            return 1
        return 0
    path.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
