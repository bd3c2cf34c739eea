"""Ship the fold-1 IA / LT fusions on the pretrained streams: models/<name> and their cards.

    python scripts/ship_fusion.py convert --run RUN_DIR   # RUN_DIR/{ia,lt}/best.pt -> models/{ia,lt},
                                                          # run summaries -> results/fusion/
    emofusion evaluate-real --models models --out results/shipped   # actor 5 + CREMA-D, fusion_actor5.json
    python scripts/ship_fusion.py cards                   # model cards from those results files

Every figure on a card is copied from a committed results file; nothing is typed by hand.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NAMES = {"ia": "ia_fw", "lt": "lt_fw"}
COMMAND = "bash scripts/reproduce_fusion.sh"
RAVDESS = ("RAVDESS (Livingstone SR, Russo FA (2018), PLoS ONE 13(5): e0196391, doi:10.5281/zenodo.1188976), "
           "CC BY-NC-SA 4.0: non-commercial use, with attribution, under the same licence.")


def convert(run: Path, models: Path, results: Path) -> None:
    from emofusion.nets.checkpoint import convert_checkpoint

    results.mkdir(parents=True, exist_ok=True)
    for name in NAMES:
        convert_checkpoint(run / name / "best.pt", models / name)
        for stale in ("card.json", "card.md"):
            (models / name / stale).unlink(missing_ok=True)
        shutil.copyfile(run / name / "summary.json", results / f"{name}_fw_fold1_train.json")
        print(f"models/{name} <- {run / name / 'best.pt'}")


def cards(models: Path, results: Path, shipped: Path) -> None:
    from emofusion.train.model_card import (FACEAPI_NOTICE, RESEARCH_ONLY, WHISPER_NOTICE, plain_card,
                                            write_plain_card)

    real = json.loads((shipped / "real_av.json").read_text())
    for name in NAMES:
        run = json.loads((results / f"{name}_fw_fold1_train.json").read_text())
        tc, best = run["train_config"], run["best"]
        rows = [{"scope": "fold 1 validation actors 7, 8, 19, 20 (voices + FER+ valid faces)", "condition": "full",
                 "accuracy": 100 * best["val_acc"], "macro_f1": 100 * best["val_macro_f1"]}]
        for where, label in (("actor5", "RAVDESS actor 5, 60 real AV recordings (test actor)"),
                             ("cremad", "CREMA-D, 6 real AV clips (smoke test)")):
            for cond in ("", " (faces zeroed)", " (voice zeroed)"):
                r = real[where]["rows"].get(name + cond)
                if r:
                    rows.append({"scope": label, "condition": cond.strip(" ()") or "full",
                                 "accuracy": r["accuracy"], "macro_f1": r["macro_f1"]})
        card = plain_card(
            name, models / name,
            data=("The 1140 RAVDESS speech recordings of fold 1's 19 training actors (Whisper tiny.en hidden states "
                  "of each clip's centred 3.6 s window), each paired afresh every epoch with a face sequence of the "
                  f"same class (calm -> neutral) drawn from {len(run.get('pool', [])) or 'a pool of'} FER+ train and "
                  "CK+48 faces (3 jittered views each, grey, 48 px), with probability "
                  f"{run['mismatch_p']:.2f} a face of another class instead (the face model's accuracy on unseen "
                  f"FER+ valid faces, {100 * run['face_reliability_target']:.1f} %, is the reliability taught), and "
                  f"modality dropout (voice {tc['drop_voice_p']}, face {tc['drop_face_p']}). No RAVDESS video was seen."),
            protocol=(f"fold 1 of the 5-fold subject-wise protocol: trained on actors {run['split']['train']}, "
                      f"epoch {best['epoch']} chosen by macro-F1 on validation actors {run['split']['val']} (their "
                      f"voices with FER+ valid faces); test actors {run['split']['test']} never seen."),
            training=(f"{tc['epochs']} epochs, AdamW lr {tc['lr']} (one-cycle), weight decay {tc['weight_decay']}, "
                      f"batch {tc['batch_size']}, label smoothing {tc['label_smoothing']}, dropout {tc['dropout']}; "
                      "frontends frozen (face-api.js backbone, Whisper encoder); only the layer mix, temporal stacks, "
                      f"fusion and head train (emofusion train-fusion --fusion {NAMES[name]})."),
            rows=rows, source=f"results/fusion/{name}_fw_fold1_train.json, results/shipped/real_av.json",
            command=COMMAND, licence=" ".join([RAVDESS, RESEARCH_ONLY, FACEAPI_NOTICE, WHISPER_NOTICE]))
        write_plain_card(models / name, card)
        print(f"models/{name}/card.md written")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("step", choices=("convert", "cards"))
    p.add_argument("--run", type=Path, help="directory holding ia/ and lt/ runs of emofusion train-fusion")
    p.add_argument("--models", type=Path, default=REPO / "models")
    p.add_argument("--results", type=Path, default=REPO / "results" / "fusion")
    p.add_argument("--shipped", type=Path, default=REPO / "results" / "shipped")
    args = p.parse_args(argv)
    if args.step == "convert":
        if args.run is None:
            p.error("convert needs --run")
        convert(args.run, args.models, args.results)
    else:
        cards(args.models, args.results, args.shipped)
    return 0


if __name__ == "__main__":
    sys.exit(main())
