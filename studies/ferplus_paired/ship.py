"""Ship the FER+ face model and the voice + FER+ face models: models/<name>/ (safetensors + config)
and a model card (card.json + card.md) holding the data each stream saw, the licences, the measured
rows from results/ and the command that reproduces them.

    python -m studies.ferplus_paired.ship --face RUN/face.pt --paired RUN_DIR --models models
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

RAVDESS = ("RAVDESS (Livingstone SR, Russo FA (2018), PLoS ONE 13(5): e0196391, doi:10.5281/zenodo.1188976), "
           "CC BY-NC-SA 4.0")
FERPLUS = ("FER+ (Barsoum et al. 2016, arXiv:1608.01041; labels MIT, Microsoft) on the FER-2013 images "
           "(Goodfellow et al. 2013), released for research use only")
LICENCE_FACE = (f"Trained on {FERPLUS}. Weights trained on FER-2013 images inherit its "
                "research-only terms; no FER+/FER-2013 image, crop or array is in this repository.")
LICENCE_AV = (f"Derived from {RAVDESS} (non-commercial, attribution, share-alike) and {FERPLUS}: research "
              "use only, non-commercial, with attribution.")
COMMAND = "bash studies/ferplus_paired/reproduce.sh"

DATA = {
    "face": "FER+ train split (28,558 faces; those with a FER+ majority label), trained on the 10-annotator "
            "vote distribution over the 8 FER+ classes; model choice on FER+ valid. Faces drawn at our MTCNN "
            "crop framing (results/face/face_framing.json) at 48 px, grey, with pose / framing / light / "
            "resolution jitter. It never saw RAVDESS, CK+ or CREMA-D. It answers in the RAVDESS "
            "classes: FER+ contempt is dropped, calm is never answered (no face counterpart), and the "
            "answer is corrected for FER+'s class prior (chosen on FER+ valid).",
    "audio": "RAVDESS speech audio of the 15 training actors of fold 1 (1, 3, 4, 6, 9, 10, 11, 12, 13, 17, 18, "
             "21, 22, 23, 24); epoch chosen on validation actors 7, 8, 19, 20. MFCC-40 + deltas, 3.6 s.",
    "fusion": "Voice: RAVDESS speech of the 15 training actors of fold 1 (as models/audio). Face: for every "
              "clip and epoch, a FER+ train face with the clip's emotion (RAVDESS calm paired with FER+ "
              "neutral), drawn as our face path delivers faces (48 px, grey, our crop framing, jitter) and "
              "moving slightly across the 5 frames; the FER+-pretrained face CNN (models/face) frozen, its "
              "features cached. Modality dropout (voice or face removed, 20 % each). Epoch chosen on "
              "validation actors 7, 8, 19, 20 paired with FER+ valid faces. No RAVDESS video was seen in "
              "training; actors 2, 5, 14, 15, 16 (fold 1's test actors) never trained.",
}


def _rows_md(rows: dict[str, Any], names: list[str]) -> list[str]:
    out = ["| condition | accuracy | macro-F1 | non-calm accuracy |", "| --- | --- | --- | --- |"]
    for n in names:
        if n in rows:
            r = rows[n]
            out.append(f"| {n} | {r['accuracy']:.1f} % | {r['macro_f1']:.1f} % | {r['non_calm_accuracy']:.1f} % |")
    return out


def write_card(out_dir: Path, name: str, kind: str, loaded, measured: dict[str, Any], md: list[str]) -> None:
    card = {"name": name, "kind": kind, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "checkpoint": "model.safetensors", "sha256": loaded.sha256,
            "parameters": sum(p.numel() for p in loaded.model.parameters()),
            "inputs": list(loaded.model.inputs), "model_config": loaded.model_cfg.to_dict(),
            "media_config": loaded.media_cfg.to_dict(), "classes": list(loaded.classes),
            "data": DATA["face" if kind == "face" else "audio" if kind == "audio" else "fusion"],
            "licence": LICENCE_FACE if kind == "face" else (f"Derived from {RAVDESS}: non-commercial, with "
                                                             "attribution, same licence." if kind == "audio"
                                                             else LICENCE_AV),
            "metrics": measured, "command": COMMAND, "train_meta": loaded.meta}
    (out_dir / "card.json").write_text(json.dumps(card, indent=1) + "\n")
    lines = [f"# Model card: `{name}`", "",
             f"- **Weights**: `model.safetensors` ({card['parameters']:,} parameters; inputs "
             f"{', '.join(card['inputs'])}; config in `config.json`); `emofusion.load(\"models\")`.",
             f"- **Data seen**: {card['data']}", f"- **Licence**: {card['licence']}",
             f"- **Reproduce**: `{COMMAND}`", "", *md, ""]
    (out_dir / "card.md").write_text("\n".join(lines))


def ship(face_ckpt: Path, paired_dir: Path, models: Path, results: Path = Path("results"),
         names: tuple[str, ...] = ("audio", "ia", "lt")) -> None:
    from emofusion.nets.checkpoint import convert_checkpoint, load_checkpoint

    face_res = json.loads((results / "face_pretrain.json").read_text())
    paired = json.loads((results / "paired_fold1.json").read_text())
    a5, cd = paired["actor5"]["rows"], paired["cremad"]["rows"]
    for name in ("face", *names):
        src = face_ckpt if name == "face" else paired_dir / name / "model.pt"
        out = models / name
        out.mkdir(parents=True, exist_ok=True)
        convert_checkpoint(src, out)
        loaded = load_checkpoint(out)
        kind = "face" if name == "face" else "audio" if name == "audio" else "fusion"
        rows = [name] if kind != "fusion" else [name, f"{name} (voice zeroed)", f"{name} (faces zeroed)"]
        measured = {"actor5": {r: a5[r] for r in rows}, "cremad": {r: cd[r] for r in rows},
                    "source": "results/studies/paired_faces/paired_fold1.json"}
        md = ["## Measured on real audio-visual recordings never trained on (`results/studies/paired_faces/paired_fold1.json`)", "",
              "RAVDESS actor 5 (a fold-1 test actor): its 60 real recordings, face video + voice.", "",
              *_rows_md(a5, rows), "",
              f"CREMA-D, 6 real clips through the product path (smoke test): "
              + ", ".join(f"{r} {round(cd[r]['accuracy'] * 6 / 100)}/6" for r in rows) + "."]
        if kind == "face":
            keys = ("ferplus_test_accuracy", "ckplus_accuracy", "a05_face_accuracy_noncalm")
            measured["face_pretrain"] = {k: face_res[k] for k in keys}
            measured["face_pretrain"]["source"] = "results/face/face_pretrain.json"
            md += ["", "## Face benchmarks (`results/face/face_pretrain.json`)", "",
                   (results / "face_pretrain.md").read_text().strip()]
        write_card(out, name, kind, loaded, measured, md)
        print(f"shipped {out}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--face", required=True, type=Path)
    p.add_argument("--paired", required=True, type=Path)
    p.add_argument("--models", type=Path, default=Path("models"))
    p.add_argument("--names", default="audio,ia,lt")
    a = p.parse_args(argv)
    ship(a.face, a.paired, a.models, names=tuple(n for n in a.names.split(",") if n))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
