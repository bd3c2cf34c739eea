"""Write the published face-api.js expression network as a model dir the product loads:
`model.safetensors` + `config.json` + the package's licence (zero-shot, no training).

    python -m emofusion.export.faceapi OUT_DIR [--tgz FILE.tgz] [--cache DIR]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from emofusion.nets import faceapi as net
from emofusion.pretrained import faceapi as source


def convert(out_dir: str | Path, tgz: str | Path | None = None, cache: str | Path | None = None,
            meta: dict | None = None) -> Path:
    """The original network, zero-shot, into `out_dir`; returns out_dir."""
    from emofusion.nets.checkpoint import convert_checkpoint, save_checkpoint

    out_dir = Path(out_dir)
    files = source.load_files(tgz, cache)
    model = net.from_files(files)
    info = {"kind": "face", "source": f"{source.PACKAGE}@{source.VERSION}", "source_sha256": dict(source.SHA256),
            "licence": source.ATTRIBUTION, "head_classes": list(model.head_classes), "variant": "zero-shot"}
    info.update(meta or {})
    with tempfile.TemporaryDirectory() as tmp:
        pt = save_checkpoint(Path(tmp) / "faceapi.pt", model, net.model_config(), net.media_config(), info)
        convert_checkpoint(pt, out_dir)
    (out_dir / source.LICENSE_FILE).write_text(f"{source.ATTRIBUTION}\n\n{files.license}")
    return out_dir


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m emofusion.export.faceapi", description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path)
    p.add_argument("--tgz", type=Path, help=f"the npm tarball ({source.TARBALL}); default: npm pack into --cache")
    p.add_argument("--cache", type=Path)
    args = p.parse_args(argv)
    try:
        print(convert(args.out, args.tgz, args.cache))
    except source.FaceApiSourceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
