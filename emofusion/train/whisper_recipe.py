"""`emofusion train --model audio_whisper`: the Whisper voice network, 5 speaker-independent folds.

The encoder is frozen, so its hidden states are computed once per clip (whisper_cache.py, fp16 on
disk, also for speed-perturbed copies) and each fold trains only the head on them. Every choice is
made on the fold's VALIDATION actors (4 actors from the training side, splits.choose_val), never
on its test actors:

1. frozen linear probe (the baseline): logistic regression on the time-mean of one hidden state;
   the layer and C are those with the best validation accuracy of the fold;
2. the head (nets/whisper.VoiceHead): each candidate setting (CANDIDATES) trains on the fold's
   training actors; the setting with the best mean validation accuracy over the five folds is
   chosen (actor 5 left out of that mean: it is the test actor the shipped fold-1 model is scored
   on), and each fold keeps its epoch with the best validation accuracy (early stopping);
3. each fold's head is then retrained with the chosen setting on training + validation actors and
   stopped at the chosen epoch (decided before any test figure: 4 more actors to learn from).
Later rounds (ROUND2: time masks, mixup; ROUND3: more regularisation; `round N`, then `run
--round N`) search the same way with the shipped setting retrained beside their candidates, and ship
a winner only if it is new (round 3: only if it clears the shipped setting by ROUND_MARGIN).

Then each fold's chosen head becomes a full `audio_whisper` checkpoint (the frozen encoder is not
stored: it is read from the pinned package) and is scored end to end on the fold's test actors
through the product's data path (read_audio, fit_window, features, model). Resumable: finished
pieces (probe.json, cand_*/fold_k.json, fold_k/model.pt) are kept and skipped on restart.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from emofusion.config import WHISPER_AUDIO, MediaConfig
from emofusion.train import whisper_cache as C
from emofusion.train.config import TrainingBase

MODEL_OF = {"tiny.en": "audio_whisper", "base": "audio_whisper_base"}
SOURCE_OF = {v: k for k, v in MODEL_OF.items()}
ACTOR5 = 5  # the test actor the shipped fold-1 model is scored on: never trained on, chooses nothing


@dataclass(frozen=True)
class HeadSetting(TrainingBase):
    """One candidate of the validation search (all else fixed)."""

    source: str = "tiny.en"  # the Whisper encoder (tiny.en or base)
    pad30: bool = False  # states of the window zero-padded to 30 s (Whisper's own input) instead of own length
    lr: float = 3e-3
    speeds: tuple[float, ...] = (1.0,)  # speed copies a training clip is drawn from each epoch
    width: int = 256
    dropout: float = 0.3
    weight_decay: float = 0.05
    epochs: int = 15
    batch_size: int = 32
    label_smoothing: float = 0.1
    seed: int = 0
    time_mask: float = 0.0  # two spans a training clip, each up to this fraction of its frames, set to the mean
    mixup: float = 0.0  # Beta(a, a) mixing of two training clips' states and targets (0: none)

    @property
    def key(self) -> str:
        """Names the candidate's runs; fields at their round-1 values are left out (keys stay stable)."""
        return (f"{self.source}{'_pad30' if self.pad30 else ''}_lr{self.lr:g}_sp{'-'.join(f'{s:g}' for s in self.speeds)}"
                f"_w{self.width}_d{self.dropout:g}"
                + (f"_tm{self.time_mask:g}" if self.time_mask else "") + (f"_mx{self.mixup:g}" if self.mixup else "")
                + (f"_e{self.epochs}" if self.epochs != 15 else "") + (f"_s{self.seed}" if self.seed else ""))

    @property
    def shippable(self) -> bool:
        """Fixed before any figure: what can meet the 40 ms-per-clip target on 2 cores. base's
        encoder alone takes ~73 ms for a 4 s clip, and 30 s padding ~10x tiny's cost; those run
        for the record (validation accuracy) but cannot be chosen to ship."""
        return self.source == "tiny.en" and not self.pad30


SPEEDS3 = (0.9, 1.0, 1.1)
CANDIDATES = (
    HeadSetting(),
    HeadSetting(speeds=SPEEDS3),
    HeadSetting(source="base"),  # the same as the first, on Whisper base (for the record: too slow to ship)
)
# Round 2: regularisers for a head trained on 15 actors; the rule is ROUND2_RULE.
ROUND2 = (
    CANDIDATES[0],
    HeadSetting(time_mask=0.1),
    HeadSetting(time_mask=0.1, mixup=0.4),
)
# Round 3: against round 2's winner (the shipped setting), more of the regularisation that won (longer
# time masks), more dropout, and speed copies with the masks. The shipped setting with another seed
# runs beside them as the noise reference (NOISE_REFERENCE: reported, never chosen). Rule: ROUND3_RULE.
ROUND3 = (
    ROUND2[1],
    ROUND2[1].replace(time_mask=0.2),
    ROUND2[1].replace(dropout=0.5),
    ROUND2[1].replace(speeds=SPEEDS3),
)
NOISE_REFERENCE = {3: ROUND2[1].replace(seed=1)}
ROUNDS = {1: CANDIDATES, 2: ROUND2, 3: ROUND3}
# criterion points (as a fraction) a round's candidate must beat the shipped setting by to replace it
ROUND_MARGIN = {3: 0.010}


def _splits():
    from emofusion.data.splits import protocol_splits

    return list(enumerate(protocol_splits("luna5"), start=1))


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --- the frozen linear probe ---------------------------------------------------------------------

def linear_probe(states: np.ndarray, index: dict, out: Path) -> dict[str, Any]:
    """Per fold: layer and C chosen on validation actors; the chosen probe scored on test actors."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from emofusion.train.metrics import classify

    path = out / "probe.json"
    if path.exists():
        return json.loads(path.read_text())
    actors = np.array([c["actor"] for c in index["clips"]])
    labels = np.array([c["label"] for c in index["clips"]])
    pooled = states.astype(np.float32).mean(axis=2)  # (N, L, d): time-mean of each hidden state
    folds = []
    for k, split in _splits():
        tr, va, te = (np.isin(actors, a) for a in (split.train, split.val, split.test))
        best = None
        for layer in range(pooled.shape[1]):
            scaler = StandardScaler().fit(pooled[tr, layer])
            for c in (0.01, 0.1, 1.0):
                clf = LogisticRegression(C=c, max_iter=2000).fit(scaler.transform(pooled[tr, layer]), labels[tr])
                acc = float((clf.predict(scaler.transform(pooled[va, layer])) == labels[va]).mean())
                if best is None or acc > best[0]:
                    best = (acc, layer, c, scaler, clf)
        acc, layer, c, scaler, clf = best
        pred = clf.predict(scaler.transform(pooled[te, layer]))
        folds.append({"fold": f"fold_{k}", "test_actors": list(split.test), "layer": layer, "C": c,
                      "val_acc": acc, "full": classify(labels[te].tolist(), pred.tolist())})
        _log(f"probe fold {k}: layer {layer} C {c} val {acc:.3f} test {folds[-1]['full']['accuracy']:.3f}")
    res = {"folds": folds, "mean_test_acc": float(np.mean([f["full"]["accuracy"] for f in folds]))}
    path.write_text(json.dumps(res, indent=1) + "\n")
    return res


# --- the head on cached states ----------------------------------------------------------------------

def train_head(setting: HeadSetting, data: dict[float, np.ndarray], labels: np.ndarray, train_idx: np.ndarray,
               val_idx: np.ndarray, n_states: int, d: int, progress: bool = True,
               stop_epoch: int | None = None) -> dict[str, Any]:
    """Train one head; returns per-epoch validation accuracy and the best-epoch head weights.
    `stop_epoch`: no validation; the same schedule, stopped after that epoch (a refit)."""
    import torch
    from torch import nn

    from emofusion.nets.whisper import VoiceHead
    from emofusion.train.augment import mask_state_spans

    torch.manual_seed(setting.seed)
    rng = np.random.default_rng(setting.seed)
    head = VoiceHead(n_states, d, setting.width, 8, setting.dropout)
    stats = torch.zeros(2, n_states, d, dtype=torch.float64)
    for i in range(0, len(train_idx), 64):  # standardisation: the training clips (speed 1) only
        x = torch.from_numpy(data[1.0][train_idx[i:i + 64]].astype(np.float64))  # (b, L, T, d)
        stats[0] += x.sum(dim=(0, 2))
        stats[1] += x.pow(2).sum(dim=(0, 2))
    count = len(train_idx) * data[1.0].shape[2]
    mean = stats[0] / count
    head.set_standardisation(mean.float(), (stats[1] / count - mean.pow(2)).clamp_min(0).sqrt().float())
    opt = torch.optim.AdamW(head.parameters(), lr=setting.lr, weight_decay=setting.weight_decay)
    steps = setting.epochs * int(np.ceil(len(train_idx) / setting.batch_size))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=setting.lr, total_steps=steps, pct_start=0.1)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=setting.label_smoothing)
    y = torch.from_numpy(labels)
    val_x = torch.from_numpy(data[1.0][val_idx].astype(np.float32)).transpose(0, 1)  # prepared states
    history, best = [], (-1.0, -1, None)
    for epoch in range(setting.epochs):
        if stop_epoch is not None and epoch == stop_epoch:
            break
        head.train()
        order = rng.permutation(train_idx)
        speeds = rng.choice(setting.speeds, size=len(order))
        for s in range(0, len(order), setting.batch_size):
            idx, sp = order[s:s + setting.batch_size], speeds[s:s + setting.batch_size]
            x = np.stack([data[float(v)][i] for i, v in zip(idx, sp)]).astype(np.float32)
            if setting.time_mask:
                mask_state_spans(x, head.state_mean.numpy(), setting.time_mask, rng)
            xt = torch.from_numpy(x).transpose(0, 1)
            if setting.mixup:
                lam = float(rng.beta(setting.mixup, setting.mixup))
                perm = torch.from_numpy(rng.permutation(len(idx)))
                logits = head(lam * xt + (1 - lam) * xt[:, perm], prepared=True)
                loss = lam * loss_fn(logits, y[idx]) + (1 - lam) * loss_fn(logits, y[idx][perm])
            else:
                loss = loss_fn(head(xt, prepared=True), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        head.eval()
        if stop_epoch is not None:
            best = (-1.0, epoch + 1, {k: v.detach().clone() for k, v in head.state_dict().items()})
            continue
        with torch.no_grad():
            pred = torch.cat([head(val_x[:, i:i + 64], prepared=True).argmax(1) for i in range(0, val_x.shape[1], 64)])
        acc = float((pred == y[val_idx]).float().mean())
        history.append(acc)
        if acc >= best[0]:  # ties: the later epoch (more training, same validation evidence)
            best = (acc, epoch + 1, {k: v.detach().clone() for k, v in head.state_dict().items()})
        if progress:
            _log(f"  epoch {epoch + 1}/{setting.epochs} val {acc:.3f} (best {best[0]:.3f} @ {best[1]})")
    return {"val_history": history, "best_val": best[0], "best_epoch": best[1], "state": best[2]}


def load_states(cache_root: Path, source: str, speeds: tuple[float, ...],
                pad30: bool = False) -> tuple[dict[float, np.ndarray], dict]:
    """{speed: (N, L, T/2, d) float16}: cached states through nets.whisper.prepare_states, in memory."""
    import torch

    from emofusion.nets.whisper import prepare_states

    data, index = {}, None
    for s in speeds:
        arr, idx = C.load(cache_root, source, s, pad30)
        out = None
        for i in range(0, len(arr), 64):
            x = torch.from_numpy(arr[i:i + 64].astype(np.float32)).transpose(0, 1)
            y = prepare_states(x).transpose(0, 1).numpy().astype(np.float16)
            out = np.empty((len(arr), *y.shape[1:]), np.float16) if out is None else out
            out[i:i + 64] = y
        data[s] = out
        index = index or idx
    return data, index


def criterion(cand: HeadSetting, cdir: Path, cache_root: Path) -> list[float]:
    """Each fold's validation accuracy of its kept head, on the validation actors other than actor 5.

    Actor 5 is a validation actor of folds 3 and 4 but the test actor the shipped fold-1 model is
    scored on, so it takes no part in choosing the setting (it did choose those folds' own epochs,
    which touch only their models)."""
    import torch

    from emofusion.nets.whisper import VoiceHead

    states, index = C.load(cache_root, cand.source, 1.0, cand.pad30)
    actors = np.array([c["actor"] for c in index["clips"]])
    labels = np.array([c["label"] for c in index["clips"]])
    out = []
    for k, split in _splits():
        idx = np.flatnonzero(np.isin(actors, [a for a in split.val if a != ACTOR5]))
        head = VoiceHead(states.shape[1], states.shape[3], cand.width, 8, cand.dropout)
        head.load_state_dict(torch.load(cdir / f"fold_{k}_head.pt", weights_only=True))
        head.eval()
        with torch.no_grad():  # raw cached states: the head prepares them itself, as at inference
            pred = torch.cat([head(torch.from_numpy(states[idx[i:i + 64]].astype(np.float32)).transpose(0, 1)).argmax(1)
                              for i in range(0, len(idx), 64)])
        out.append(float((pred.numpy() == labels[idx]).mean()))
    return out


def choose(summary: dict[str, dict], first: str, margin: float = 0.0) -> str:
    """The finished shippable candidate with the best criterion (ties: the earlier one), unless it
    beats `first` (the shipped setting) by less than `margin`: then `first`."""
    best = max((k for k in summary if summary[k]["shippable"] and not summary[k].get("unfinished")),
               key=lambda key: summary[key]["criterion"])
    base = summary.get(first, {}).get("criterion")
    if margin and base is not None and summary[best]["criterion"] - base < margin - 1e-9:
        return first
    return best


def search(cache_root: Path, data_root: Path, out: Path, candidates=CANDIDATES, progress: bool = True,
           finished_only: bool = False, margin: float = 0.0) -> dict:
    """Every candidate on every fold (validation scores only); the chosen candidate's heads kept.
    The first candidate (a round's shipped setting) stays chosen unless another shippable one beats
    its criterion by at least `margin`. `finished_only`: train nothing; candidates without all five
    folds are listed as unfinished."""
    import torch

    summary, loaded = {}, None
    for cand in candidates:
        cdir = out / f"cand_{cand.key}"
        if finished_only and not all((cdir / f"fold_{k}.json").exists() for k in range(1, 6)):
            vals = [json.loads((cdir / f"fold_{k}.json").read_text())["best_val"] for k in range(1, 6)
                    if (cdir / f"fold_{k}.json").exists()]
            summary[cand.key] = {"setting": asdict(cand), "shippable": cand.shippable, "val_per_fold": vals,
                                 "unfinished": True, "mean_val": float(np.mean(vals)) if vals else None}
            continue
        group = (cand.source, cand.pad30, tuple(sorted(set(cand.speeds) | {1.0})))
        if all((cdir / f"fold_{k}.json").exists() for k in range(1, 6)):
            vals = [json.loads((cdir / f"fold_{k}.json").read_text())["best_val"] for k in range(1, 6)]
            crit = criterion(cand, cdir, cache_root)
            summary[cand.key] = {"setting": asdict(cand), "shippable": cand.shippable, "val_per_fold": vals,
                                 "mean_val": float(np.mean(vals)), "val_per_fold_without_actor5": crit,
                                 "criterion": float(np.mean(crit))}
            continue
        if loaded is None or loaded[0] != group:
            loaded = None  # free the previous group's arrays first
            for sp in group[2]:
                if not (C.cache_dir(cache_root, cand.source, sp, cand.pad30) / "done.npy").exists() or \
                        not np.load(C.cache_dir(cache_root, cand.source, sp, cand.pad30) / "done.npy").all():
                    C.build(data_root, cache_root, cand.source, sp, progress, cand.pad30)
            loaded = (group, *load_states(cache_root, cand.source, group[2], cand.pad30))
        _, data, index = loaded
        labels = np.array([c["label"] for c in index["clips"]])
        actors = np.array([c["actor"] for c in index["clips"]])
        n, n_states, _, d = data[1.0].shape
        cdir = out / f"cand_{cand.key}"
        cdir.mkdir(parents=True, exist_ok=True)
        vals = []
        for k, split in _splits():
            log_path = cdir / f"fold_{k}.json"
            if not log_path.exists():
                _log(f"{cand.key} fold {k}: training on {len(split.train)} actors, validating on {list(split.val)}")
                t = time.perf_counter()
                res = train_head(cand, data, labels, np.flatnonzero(np.isin(actors, split.train)),
                                 np.flatnonzero(np.isin(actors, split.val)), n_states, d, progress)
                torch.save(res.pop("state"), cdir / f"fold_{k}_head.pt")
                res.update(seconds=time.perf_counter() - t, split=split.to_dict())
                log_path.write_text(json.dumps(res, indent=1) + "\n")
            vals.append(json.loads(log_path.read_text())["best_val"])
        crit = criterion(cand, cdir, cache_root)
        summary[cand.key] = {"setting": asdict(cand), "shippable": cand.shippable, "val_per_fold": vals,
                             "mean_val": float(np.mean(vals)), "val_per_fold_without_actor5": crit,
                             "criterion": float(np.mean(crit))}
        _log(f"{cand.key}: mean validation accuracy {np.mean(vals):.3f} (without actor 5: {np.mean(crit):.3f})")
    chosen = choose(summary, candidates[0].key, margin)
    res = {"candidates": summary, "chosen": chosen, **({"margin": margin} if margin else {})}
    (out / "search.json").write_text(json.dumps(res, indent=1) + "\n")
    return res


def tune_top_check(cache_root: Path, out: Path, fold: int = 1, tuned: int = 1, epochs: int = 10,
                   encoder_lr: float = 1e-4, setting: HeadSetting = CANDIDATES[0], progress: bool = True) -> dict:
    """Validation only: the head plus the top `tuned` encoder block(s) trained together, from the
    cached input of those blocks (only they run: cheap on 2 cores). Answers whether tuning the top
    of the encoder is worth a full run; writes OUT/tune_top{tuned}_fold{k}.json (tuned=0: the head
    alone, through the same code and schedule, the comparison); no test actor is read."""
    import torch
    from torch import nn

    from emofusion.nets.config import ModelConfig
    from emofusion.nets.registry import create_model
    from emofusion.nets.whisper import prepare_states

    states, index = C.load(cache_root, "tiny.en", 1.0)
    actors = np.array([c["actor"] for c in index["clips"]])
    labels = torch.from_numpy(np.array([c["label"] for c in index["clips"]]))
    split = dict(_splits())[fold]
    tr = np.flatnonzero(np.isin(actors, split.train))
    va = np.flatnonzero(np.isin(actors, split.val))
    torch.manual_seed(setting.seed)
    rng = np.random.default_rng(setting.seed)
    model = create_model(ModelConfig(fusion="audio_whisper", audio_channels=80, audio_frames=360,
                                     audio_width=setting.width, dropout=setting.dropout, tuned_layers=tuned))
    n_in = model.n_frozen + 1  # cached states up to the last frozen block
    stats = torch.zeros(2, states.shape[1], states.shape[3], dtype=torch.float64)
    for i in range(0, len(tr), 64):
        x = prepare_states(torch.from_numpy(states[tr[i:i + 64]].astype(np.float32)).transpose(0, 1)).double()
        stats[0] += x.sum(dim=(1, 2))
        stats[1] += x.pow(2).sum(dim=(1, 2))
    count = len(tr) * ((states.shape[2] + 1) // 2)
    mean = stats[0] / count
    model.head.set_standardisation(mean.float(), (stats[1] / count - mean.pow(2)).clamp_min(0).sqrt().float())
    enc_params = [p for p in model.encoder.parameters() if p.requires_grad]
    groups = [{"params": list(model.head.parameters()), "lr": setting.lr}]
    groups += [{"params": enc_params, "lr": encoder_lr}] if enc_params else []
    opt = torch.optim.AdamW(groups, weight_decay=setting.weight_decay)
    steps = epochs * int(np.ceil(len(tr) / setting.batch_size))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[g["lr"] for g in groups], total_steps=steps,
                                                pct_start=0.1)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=setting.label_smoothing)
    history, history_no5 = [], []
    for epoch in range(epochs):
        model.train()
        for idx in np.array_split(rng.permutation(tr), int(np.ceil(len(tr) / setting.batch_size))):
            x = torch.from_numpy(states[np.sort(idx), :n_in].astype(np.float32)).transpose(0, 1)
            loss = loss_fn(model.forward_head(model.forward_top(x)), labels[np.sort(idx)])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        model.eval()
        with torch.no_grad():
            pred = torch.cat([model.forward_head(model.forward_top(
                torch.from_numpy(states[va[i:i + 32], :n_in].astype(np.float32)).transpose(0, 1))).argmax(1)
                for i in range(0, len(va), 32)])
        history.append(float((pred == labels[va]).float().mean()))
        keep = torch.from_numpy(actors[va] != 5)  # actor 5: the shipped fold-1 model's test actor
        history_no5.append(float((pred[keep] == labels[va][keep]).float().mean()))
        if progress:
            _log(f"  tune-top fold {fold} epoch {epoch + 1}/{epochs} val {history[-1]:.3f}")
    res = {"fold": fold, "tuned_layers": tuned, "epochs": epochs, "encoder_lr": encoder_lr, "head_setting": asdict(setting),
           "val_history": history, "best_val": max(history), "validation_actors": list(split.val),
           "val_history_without_actor5": history_no5, "best_val_without_actor5": max(history_no5)}
    (out / f"tune_top{tuned}_fold{fold}.json").write_text(json.dumps(res, indent=1) + "\n")
    return res


# --- full models, scored end to end ---------------------------------------------------------------

def media_config() -> MediaConfig:
    return MediaConfig(audio=WHISPER_AUDIO)


def build_fold_model(out: Path, cand_key: str, k: int, meta: dict, head_path: Path | None = None) -> Path:
    """fold_k/model.pt: the registered model with the chosen head (encoder frozen, not stored)."""
    import torch

    from emofusion.nets.checkpoint import save_checkpoint
    from emofusion.nets.config import ModelConfig
    from emofusion.nets.registry import create_model

    setting = json.loads((out / "search.json").read_text())["candidates"][cand_key]["setting"]
    mcfg = ModelConfig(fusion=MODEL_OF[setting["source"]], audio_channels=WHISPER_AUDIO.n_mels, audio_frames=360,
                       audio_width=setting["width"], dropout=setting["dropout"])
    model = create_model(mcfg)
    head_path = head_path or out / f"cand_{cand_key}" / f"fold_{k}_head.pt"
    model.head.load_state_dict(torch.load(head_path, weights_only=True))
    path = out / f"fold_{k}" / "model.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(path, model, mcfg, media_config(), meta)
    return path


def score_end_to_end(model_path: Path, data_root: Path, actors, progress: bool = False) -> dict[str, Any]:
    """Labels and predictions of a saved model on `actors`' clips through the product data path."""
    import torch

    from emofusion.nets.checkpoint import load_checkpoint
    from emofusion.train.metrics import classify

    loaded = load_checkpoint(model_path)
    clips = [c for c in C.ravdess_clips(data_root) if c["actor"] in set(actors)]
    preds = []
    with torch.inference_mode():
        for c in clips:
            mel = C.clip_mel(Path(data_root) / c["file"])
            preds.append(int(loaded.model(torch.from_numpy(mel)[None]).argmax(1)))
    labels = [c["label"] for c in clips]
    return {"labels": labels, "predicted": preds, "files": [c["file"] for c in clips], **classify(labels, preds)}


def run(cache_root: str | Path, data_root: str | Path, out: str | Path, source: str = "tiny.en",
        progress: bool = True, finished_only: bool = False, refit: bool = True, candidates=CANDIDATES,
        margin: float = 0.0) -> dict:
    """The whole recipe (resumable): caches, probe, search over `candidates`, fold models,
    end-to-end test scores."""
    import torch

    from emofusion.train.metrics import summarise_folds

    cache_root, data_root, out = Path(cache_root), Path(data_root), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    C.build(data_root, cache_root, source, 1.0, progress)  # the others are built when search needs them
    states, index = C.load(cache_root, source, 1.0)
    probe = linear_probe(states, index, out)
    del states
    found = search(cache_root, data_root, out, candidates=candidates, progress=progress, finished_only=finished_only,
                   margin=margin)
    chosen = found["chosen"]
    source = found["candidates"][chosen]["setting"]["source"]
    folds, refit_data = [], None
    for k, split in _splits():
        flog = json.loads((out / f"cand_{chosen}" / f"fold_{k}.json").read_text())
        meta = {"fold": k, "split": split.to_dict(), "whisper": index["provenance"], "recipe": "whisper_recipe",
                "chosen": chosen, "epoch": flog["best_epoch"], "val_acc": flog["best_val"]}
        path = out / f"fold_{k}" / "model.pt"
        _forget_other_setting(out / f"fold_{k}", chosen)
        head_path = None
        if refit:  # the chosen setting and epoch, retrained on training + validation actors
            head_path = out / f"fold_{k}" / "refit_head.pt"
            meta["refit"] = "training + validation actors, the chosen setting, stopped at the chosen epoch"
            if not head_path.exists():
                setting = HeadSetting(**{**found["candidates"][chosen]["setting"],
                                         "speeds": tuple(found["candidates"][chosen]["setting"]["speeds"])})
                if refit_data is None:
                    refit_data = load_states(cache_root, setting.source, tuple(sorted(set(setting.speeds) | {1.0})))
                data, index2 = refit_data
                labels = np.array([c["label"] for c in index2["clips"]])
                actors = np.array([c["actor"] for c in index2["clips"]])
                _log(f"fold {k}: refit on {len(split.train) + len(split.val)} actors, {flog['best_epoch']} epochs")
                res = train_head(setting, data, labels, np.flatnonzero(np.isin(actors, split.train + split.val)),
                                 np.array([], dtype=int), data[1.0].shape[1], data[1.0].shape[3], progress,
                                 stop_epoch=flog["best_epoch"])
                head_path.parent.mkdir(parents=True, exist_ok=True)
                torch.save(res["state"], head_path)
        if not path.exists():
            build_fold_model(out, chosen, k, meta, head_path)
        res_path = out / f"fold_{k}" / "test.json"
        if not res_path.exists():
            _log(f"fold {k}: scoring {list(split.test)} end to end")
            res_path.write_text(json.dumps(score_end_to_end(path, data_root, split.test), indent=1) + "\n")
        test = json.loads(res_path.read_text())
        full = {key: test[key] for key in ("n", "accuracy", "macro_f1", "per_class", "confusion")}
        folds.append({"full": full, "fold": f"fold_{k}", "test_actors": list(split.test),
                      "selection": {"epoch": flog["best_epoch"], "val_acc": flog["best_val"],
                                    "val_n": 60 * len(split.val)},
                      "training": {"epochs": len(flog["val_history"]), "seconds": flog["seconds"],
                                   "minutes": flog["seconds"] / 60}})
        _log(f"fold {k}: test accuracy {full['accuracy']:.3f}")
    results = {
        "configuration": MODEL_OF[source], "fusion": MODEL_OF[source], "protocol": "5fold", "n_folds": 5,
        "train_config": {"recipe": "emofusion.train.whisper_recipe", "source": source, "n_val": 4, "refit": refit,
                         "candidates": [asdict(c) for c in candidates], "chosen": chosen,
                         "selection": "setting: best mean validation accuracy over the 5 folds' validation "
                                      "actors other than actor 5 (folds 3 and 4 validate on it; it is the test actor "
                                      "the shipped fold-1 model is scored on); epoch: best validation accuracy of each "
                                      "fold; test actors unused"},
        "model_config": json.loads(json.dumps(torch.load(out / "fold_1" / "model.pt", weights_only=True)["model_config"])),
        "cache": str(cache_root.resolve()), "provenance": _provenance(index),
        "summary": {"full": summarise_folds([f["full"] for f in folds])},
        "folds": folds, "search": found, "linear_probe": probe,
    }
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    return results


def _forget_other_setting(fold_dir: Path, chosen: str) -> None:
    """A fold's refit head, model and test scores belong to one setting: when a later round chooses
    another, they are removed so the resumable run rebuilds them instead of reusing them."""
    import shutil

    import torch

    mark = fold_dir / "setting.txt"
    if mark.exists():
        stale = mark.read_text().strip() != chosen
    elif (fold_dir / "model.pt").exists():  # made before the mark existed: its meta names the setting
        stale = torch.load(fold_dir / "model.pt", weights_only=True, map_location="cpu").get("meta", {}).get("chosen") != chosen
    else:
        stale = False
    if stale:
        shutil.rmtree(fold_dir)
    fold_dir.mkdir(parents=True, exist_ok=True)
    mark.write_text(chosen + "\n")


def _provenance(index: dict) -> dict:
    from emofusion import provenance as P

    return {"machine": P.machine(), "versions": P.versions(), "whisper": index["provenance"]}




# --- shipping, actor 5, latency -------------------------------------------------------------------



def actor5(models_dir: Path, data_root: Path, name: str = "audio") -> dict[str, Any]:
    """The shipped model on actor 5's 60 speech recordings through the product (emofusion.load)."""
    import emofusion
    from emofusion.constants import CLASSES
    from emofusion.train.metrics import classify

    predictor = emofusion.load(models_dir, names=name, backend="torch")
    clips = [c for c in C.ravdess_clips(data_root) if c["actor"] == ACTOR5]
    labels, preds = [], []
    for c in clips:
        d = predictor.analyze(Path(data_root) / c["file"]).to_dict()
        labels.append(c["label"])
        preds.append(CLASSES.index(d["models"][name]["top"]))
    return {"model": name, "sha256": predictor.models[name].sha256, "actor": ACTOR5,
            "files": [c["file"] for c in clips], "labels": labels, "predicted": preds, **classify(labels, preds)}


def latency(models_dir: Path, data_root: Path, name: str = "audio", repeats: int = 50,
            threads: tuple[int, ...] = (1, 2)) -> dict[str, Any]:
    """ms for one 3.6 s window: Whisper log-mel (features) + encoder + head, p50 / p90 per thread count."""
    import torch

    from emofusion.media.audio import features, fit_window, read_audio
    from emofusion.nets.checkpoint import load_checkpoint

    loaded = load_checkpoint(models_dir / name)
    media = loaded.media_cfg
    wave = fit_window(read_audio(Path(data_root) / "Actor_05/03-01-05-01-01-01-05.flac", media.audio.sample_rate),
                      media.window_samples)
    import os

    out: dict[str, Any] = {"clip_s": media.window_s, "repeats": repeats,
                           "load_average_before": list(os.getloadavg())}  # other jobs share these 2 cores
    before = torch.get_num_threads()
    for n in threads:
        torch.set_num_threads(n)
        times, feat_times = [], []
        with torch.inference_mode():
            for i in range(repeats + 5):
                t0 = time.perf_counter()
                mel = features(wave, media.audio)
                t1 = time.perf_counter()
                loaded.model(torch.from_numpy(mel)[None])
                t2 = time.perf_counter()
                if i >= 5:  # warm-up
                    times.append(1000 * (t2 - t0))
                    feat_times.append(1000 * (t1 - t0))
        out[f"threads_{n}"] = {"p50_ms": float(np.percentile(times, 50)), "p90_ms": float(np.percentile(times, 90)),
                               "features_p50_ms": float(np.percentile(feat_times, 50))}
    torch.set_num_threads(before)
    try:  # the web app's default backend: the same model exported to ONNX, run by ONNX Runtime
        from emofusion.infer.backends import create_backend

        for n in threads:
            backend = create_backend(models_dir / name, kind="onnxruntime", threads=n)
            times = []
            for i in range(repeats + 5):
                t0 = time.perf_counter()
                backend.run({"audio": features(wave, media.audio)[None]})
                if i >= 5:
                    times.append(1000 * (time.perf_counter() - t0))
            out[f"onnxruntime_threads_{n}"] = {"p50_ms": float(np.percentile(times, 50)),
                                               "p90_ms": float(np.percentile(times, 90))}
    except Exception as exc:  # report, do not fail the run: torch figures stand alone
        out["onnxruntime_error"] = f"{type(exc).__name__}: {exc}"
    out["load_average_after"] = list(os.getloadavg())
    return out


def ship(run_dir: Path, out_dir: Path, results_path: Path, fold: int = 1, name: str = "audio",
         convert: bool = True) -> dict[str, Any]:
    """RUN/fold_k/model.pt -> OUT/{model.safetensors, config.json} (head only: the frozen encoder
    is read from the pinned package on load) + card.json / card.md written from the results file."""
    from emofusion.nets.checkpoint import convert_checkpoint, load_checkpoint
    from emofusion.export import card as MC

    if convert:
        convert_checkpoint(run_dir / f"fold_{fold}" / "model.pt", out_dir)
    card = MC.build_card(name, out_dir, results_path, fold, "bash scripts/reproduce_whisper.sh", "speech")
    results = json.loads(results_path.read_text())
    card["head_parameters"] = int(sum(p.numel() for p in load_checkpoint(out_dir).model.head.parameters()))
    card["data"] = ("All 1440 RAVDESS speech recordings (24 actors x 60 clips), through the product's audio path "
                    "(read_audio at 16 kHz, the centred 3.6 s window, Whisper's log-mel; "
                    "emofusion/train/whisper_cache.py).")
    card["encoder"] = results["provenance"]["whisper"]
    card["licence"] = MC.LICENCE + " " + MC.whisper_licence()
    for extra in ("actor5", "latency"):
        if extra in results:
            card[extra] = {k: v for k, v in results[extra].items() if k not in ("files", "labels", "predicted")}
    return MC.save_card(out_dir, card, MC.voice_markdown(card, results))


PREVIOUS = "audio_abl_kd8_res_ema_5fold"  # the former headline (row 60, audio_res), kept for comparison
NOTES = (
    "Head design, fixed before this search on fold 1's validation actors only: the hidden states are "
    "standardised per dimension (training-clip statistics) instead of LayerNorm per frame (lr 1e-3: 58 % "
    "validation accuracy after 8 epochs with LayerNorm, 75 % after 10 standardised); lr 3e-3 reached 78 % "
    "in 10 epochs, so the search uses lr 3e-3 and 15 epochs.",
    "Measured after the shipped model was fixed, validation actors only, none of them shipped: the window "
    "zero-padded to 30 s instead of its own length, 1.7 points below it on the criterion at 22x the encoder "
    "time (results/audio/whisper_pad30.md); the top encoder block tuned with the head, 1.0 point below the head "
    "alone over 5 folds (results/audio/tune_top_5fold.md; fold 1's first check below); round 3's further "
    "regularisers, none 1.0 point above the shipped setting (results/audio/audio_whisper_round3.md).",
    "Whisper base scored higher on validation (criterion 76.6 % against tiny.en's 73.9 %) but was not eligible: "
    "the rule, fixed before any figure, excluded it for latency from the issue's CTranslate2 timings (base "
    "encoder 73 ms, tiny 29 ms per 4 s clip). Timed since on the product's own path, base misses the 40 ms "
    "target (93.9 ms on ONNX Runtime, 2 threads, against tiny.en's 29.8: results/audio/whisper_base_latency.md).",
)


def search_notes(search_: dict) -> list[str]:
    """The notes under the search table; a later round's rule where its candidates are the table's."""
    return [*NOTES, *(ROUND_RULES[n] for n in ROUND_RULES if set(search_["candidates"]) == {c.key for c in ROUNDS[n]})]


def finish(run_dir: Path, data_root: Path, models_dir: Path, results_dir: Path, name: str = "audio") -> dict:
    """Ship fold 1 as models/NAME, score it on actor 5 and time it, then write
    RESULTS/audio_single_5fold.{json,md} (the former headline's rows kept in the markdown) and the card."""
    import shutil

    from emofusion.nets.checkpoint import convert_checkpoint

    results = json.loads((run_dir / "results.json").read_text())
    out_dir = models_dir / name
    convert_checkpoint(run_dir / "fold_1" / "model.pt", out_dir)
    for stale in ("card.json", "card.md"):  # the former model's card must not describe these weights
        (out_dir / stale).unlink(missing_ok=True)
    results["notes"] = search_notes(results["search"])
    results["actor5"] = actor5(models_dir, data_root, name)
    _log(f"actor 5: {results['actor5']['accuracy']:.3f}")
    results["latency"] = latency(models_dir, data_root, name)
    _log(f"latency: {results['latency']}")
    head = results_dir / "audio_single_5fold.json"
    old = json.loads(head.read_text()) if head.exists() else None
    if old is not None and old.get("configuration") != results["configuration"]:  # move the former headline
        for ext in (".json", ".md", "_confusion.png"):
            src = results_dir / f"audio_single_5fold{ext}"
            if src.exists():
                shutil.copyfile(src, results_dir / f"{PREVIOUS}{ext}")
    if old is not None and set(old["search"]["candidates"]) != set(results["search"]["candidates"]):
        results["earlier_searches"] = [*old.get("earlier_searches", []), old["search"]]  # keep every round's table
    elif old is not None:
        results["earlier_searches"] = old.get("earlier_searches", [])
    if old is not None and old.get("tune_top"):
        results["tune_top"] = old["tune_top"]  # the round-1 check of tuning the top block (refresh-search)
    previous = next((p for p in (results_dir / f"{PREVIOUS}.json", results_dir / "ablation" / f"{PREVIOUS}.json")
                     if p.exists()), results_dir / f"{PREVIOUS}.json")  # the ablation's rows live in ablation/
    results["previous"] = json.loads(previous.read_text())["summary"]["full"] if previous.exists() else None
    head.write_text(json.dumps(results, indent=1) + "\n")
    (results_dir / "audio_single_5fold.md").write_text(results_markdown(results))
    (results_dir / "audio_whisper_search.md").write_text(search_markdown(results))
    from emofusion.train.plots import confusion_png

    confusion_png(results["summary"]["full"]["pooled"]["confusion"], results_dir / "audio_single_5fold_confusion.png",
                  f"{results['configuration']}: all folds summed")
    ship(run_dir, out_dir, head, 1, name)
    return results


def _pm(v: dict) -> str:
    return f"{100 * v['mean']:.1f} +- {100 * v['std']:.1f} %"


def results_markdown(r: dict[str, Any]) -> str:
    """The headline file (short: README quotes it whole); the search is in search_markdown's file."""
    s, probe = r["summary"]["full"], r["linear_probe"]
    probe_accs = [f["full"]["accuracy"] for f in probe["folds"]]
    lines = [f"# {r['configuration']}: Whisper {r['train_config']['source']} encoder (frozen) + head, 5 folds", "",
             "| configuration | accuracy | macro F1 |", "| --- | --- | --- |",
             f"| {r['configuration']}: encoder + head | {_pm(s['accuracy'])} | {_pm(s['macro_f1'])} |",
             f"| encoder + linear probe (baseline) | {100 * np.mean(probe_accs):.1f} +- "
             f"{100 * np.std(probe_accs, ddof=1):.1f} % | - |"]
    if r.get("previous"):
        p = r["previous"]
        lines.append(f"| former headline audio_res (`{PREVIOUS}`) | {_pm(p['accuracy'])} | {_pm(p['macro_f1'])} |")
    lines += ["", "ONE network per fold, scored end to end on its test actors. Every choice was made on 4 "
              "validation actors of each fold's training side, never on test actors (head setting: best mean "
              "validation accuracy over the folds, actor 5 left out; epoch: best of the fold; probe: layer and C per fold)"
              + ("; each fold's head was then retrained with that setting on training + validation actors and "
                 "stopped at that epoch" if r["train_config"].get("refit") else "")
              + ". The search is in `results/audio/audio_whisper_search.md`.", "",
              "| fold | test actors | accuracy | macro F1 | epoch (val) | probe (layer, C) |",
              "| --- | --- | --- | --- | --- | --- |"]
    for f, p in zip(r["folds"], probe["folds"]):
        lines.append(f"| {f['fold'][-1]} | {f['test_actors']} | {100 * f['full']['accuracy']:.1f} % | "
                     f"{100 * f['full']['macro_f1']:.1f} % | {f['selection']['epoch']} "
                     f"({100 * f['selection']['val_acc']:.1f} %) | {100 * p['full']['accuracy']:.1f} % "
                     f"({p['layer']}, {p['C']:g}) |")
    if "actor5" in r:
        a = r["actor5"]
        lines += ["", f"Shipped fold-1 model (`models/audio`), actor 5's {a['n']} recordings via `emofusion.load`: "
                  f"{100 * a['accuracy']:.1f} %."]
    if "latency" in r:
        lat = r["latency"]
        ort = ""
        if "onnxruntime_threads_1" in lat:
            ort = (f"; ONNX Runtime (the web app's backend) {lat['onnxruntime_threads_1']['p50_ms']:.1f} ms on 1, "
                   f"{lat['onnxruntime_threads_2']['p50_ms']:.1f} ms on 2")
        lines += [f"One 3.6 s window, log-mel + encoder + head, p50: torch {lat['threads_1']['p50_ms']:.1f} ms on 1 "
                  f"thread, {lat['threads_2']['p50_ms']:.1f} ms on 2{ort} (1-minute load average "
                  f"{lat['load_average_before'][0]:.1f} before the run, 2 cores; target 40 ms)."]
    return "\n".join(lines) + "\n"


def _search_table(search_: dict) -> list[str]:
    lines = ["| candidate | eligible | fold 1 | fold 2 | fold 3 | fold 4 | fold 5 | mean validation accuracy | "
             "the same without actor 5 (the criterion) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for key, c in search_["candidates"].items():
        mark = " (chosen)" if key == search_["chosen"] else ""
        vals = [f"{100 * v:.1f}" for v in c["val_per_fold"]] + ["not run"] * (5 - len(c["val_per_fold"]))
        mean = "-" if c["mean_val"] is None else f"{100 * c['mean_val']:.1f} %"
        if c.get("unfinished"):
            mean += f" (unfinished: {len(c['val_per_fold'])} of 5 folds)"
        crit = f"{100 * c['criterion']:.1f} %" if c.get("criterion") is not None else "-"
        lines.append(f"| `{key}`{mark} | {'yes' if c['shippable'] else 'no'} | " + " | ".join(vals)
                     + f" | {mean} | {crit} |")
    return lines


ROUND2_RULE = ("Round 2 (written before any of its figures): the shipped setting retrained on the same caches, "
               "the same with two time masks a clip (each up to 10 % of its frames), and the same with mixup "
               "(Beta(0.4, 0.4)) as well; same folds, epochs and criterion (mean validation accuracy, actor 5 left "
               "out). The winner is the best criterion, ties to the shipped setting; a new winner replaces the "
               "shipped model (`run --round 2`: refit on training + validation actors, end-to-end test scores), "
               "otherwise nothing shipped changes.")


ROUND3_RULE = ("Round 3 (written before any of its figures): the shipped setting (round 2's winner, time masks "
               "0.1) retrained beside three candidates: longer time masks (each up to 20 % of the frames), dropout "
               "0.5, and speed copies (0.9, 1.1) with the time masks; same folds, epochs and criterion (mean "
               "validation accuracy, actor 5 left out). The shipped setting with another seed runs as the noise "
               "reference: reported, never chosen. The best candidate replaces the shipped setting only if its "
               "criterion beats the shipped setting's by at least 1.0 point (`run --round 3`: refit, end-to-end "
               "test scores); otherwise nothing shipped changes.")
ROUND_RULES = {2: ROUND2_RULE, 3: ROUND3_RULE}


def round_markdown(n: int, found: dict, shipped_key: str, reference: dict | None = None) -> str:
    """results/audio/audio_whisper_roundN.md: the round's table and what its rule decided."""
    winner = found["chosen"]
    verdict = ("the shipped setting stays (no candidate beat it " + ("on the criterion)" if not found.get("margin")
               else f"by {100 * found['margin']:.1f} point(s) on the criterion)")
               if winner == shipped_key else f"`{winner}` replaces the shipped setting")
    lines = ["# audio_whisper: search round " + str(n), "", ROUND_RULES[n], "", *_search_table(found)]
    if reference:
        lines += ["", "Noise reference (the shipped setting, another seed; never chosen):", "",
                  *_search_table({"candidates": reference["candidates"], "chosen": None})]
    return "\n".join([*lines, "", f"Decision: {verdict}.", ""])


def search_round(n: int, cache_root: Path, data_root: Path, out: Path) -> dict[str, Any]:
    """Round n's search (its noise reference first, where it has one) and what its rule decided."""
    reference = None
    if n in NOISE_REFERENCE:
        reference = search(cache_root, data_root, out, candidates=(NOISE_REFERENCE[n],))
    found = search(cache_root, data_root, out, candidates=ROUNDS[n], margin=ROUND_MARGIN.get(n, 0.0))
    shipped = ROUNDS[n][0].key
    return {"rule": ROUND_RULES[n], "search": found, "shipped_setting": shipped,
            "replaces_shipped": found["chosen"] != shipped,
            **({"noise_reference": reference} if reference else {})}


def search_markdown(r: dict[str, Any]) -> str:
    search_ = r["search"]
    lines = [f"# {r['configuration']}: the validation search", "",
             "Folds: the 5 speaker-independent folds of emofusion/data/splits.py (luna5). In each fold 4 actors "
             "of the training side are validation actors (splits.choose_val); heads train on the rest. "
             f"Selection: {r['train_config']['selection']}. Candidates that cannot meet the 40 ms latency target (Whisper "
             "base) were trained for the record but were not eligible to ship (fixed before any figure). Test "
             "actors were used only for the figures in `results/audio/audio_single_5fold.md`.", "",
             *_search_table(search_)]
    for note in r.get("notes", []):
        lines += ["", note]
    for k, earlier in enumerate(r.get("earlier_searches", []), start=1):
        lines += ["", f"Round {k} of the search (its chosen setting shipped before the round above):", "",
                  *_search_table(earlier)]
    if r.get("tune_top"):
        lines += ["", "Tuning the top encoder block with the head (lr 1e-4 for the block, the chosen head setting, a "
                  "10-epoch schedule, fold 1's validation actors; `python -m emofusion.train.whisper_recipe tune-top`):", "",
                  "| tuned blocks | validation accuracy per epoch | best |", "| --- | --- | --- |"]
        for t in r["tune_top"]:
            lines.append(f"| {t['tuned_layers']} | {', '.join(f'{100 * v:.1f}' for v in t['val_history'])} | "
                         f"{100 * t['best_val']:.1f} % |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """python -m emofusion.train.whisper_recipe run CACHE DATA OUT [--finished-only] [--no-refit] [--round N] |
    round N CACHE DATA OUT RESULTS |
    probe CACHE OUT | candidate CACHE DATA OUT I | finish RUN DATA MODELS RESULTS |
    refresh-search CACHE DATA RUN RESULTS | notes RESULTS"""
    import torch

    argv = sys.argv[1:] if argv is None else argv
    torch.set_num_threads(1)
    if argv[0] == "run":  # run CACHE DATA OUT [--finished-only] [--no-refit] [--round N]
        rnd = int(argv[argv.index("--round") + 1]) if "--round" in argv else 1
        run(argv[1], argv[2], argv[3], finished_only="--finished-only" in argv, refit="--no-refit" not in argv,
            candidates=ROUNDS[rnd], margin=ROUND_MARGIN.get(rnd, 0.0))
    elif argv[0] == "round":  # round N CACHE DATA OUT RESULTS: round N's search and its decision
        n = int(argv[1])
        record = search_round(n, Path(argv[2]), Path(argv[3]), Path(argv[4]))
        results_dir = Path(argv[5])
        (results_dir / f"audio_whisper_round{n}.json").write_text(json.dumps(record, indent=1) + "\n")
        (results_dir / f"audio_whisper_round{n}.md").write_text(
            round_markdown(n, record["search"], record["shipped_setting"], record.get("noise_reference")))
        _log(f"round {n}: {record['search']['chosen']} (replaces the shipped setting: {record['replaces_shipped']})")
    elif argv[0] == "probe":  # probe CACHE OUT: the linear-probe baseline alone
        states, index = C.load(argv[1], "tiny.en", 1.0)
        linear_probe(states, index, Path(argv[2]))
    elif argv[0] == "candidate":  # candidate CACHE DATA OUT I: one search candidate (to run several at once)
        search(Path(argv[1]), Path(argv[2]), Path(argv[3]), candidates=(CANDIDATES[int(argv[4])],))
    elif argv[0] == "refresh-search":  # refresh-search CACHE DATA RUN RESULTS: add candidates finished since
        found = search(Path(argv[1]), Path(argv[2]), Path(argv[3]), finished_only=True)
        head = Path(argv[4]) / "audio_single_5fold.json"
        results = json.loads(head.read_text())
        if found["chosen"] != results["search"]["chosen"]:
            raise RuntimeError("the chosen setting would change: run the whole recipe again")
        results["search"] = found
        results["notes"] = search_notes(results["search"])
        results["tune_top"] = [json.loads(p.read_text()) for p in sorted(Path(argv[3]).glob("tune_top*_fold1.json"))]
        head.write_text(json.dumps(results, indent=1) + "\n")
        (Path(argv[4]) / "audio_whisper_search.md").write_text(search_markdown(results))
    elif argv[0] == "notes":  # notes RESULTS: the search record's notes (NOTES) again, nothing retrained
        head = Path(argv[1]) / "audio_single_5fold.json"
        results = json.loads(head.read_text())
        results["notes"] = search_notes(results["search"])
        head.write_text(json.dumps(results, indent=1) + "\n")
        (Path(argv[1]) / "audio_whisper_search.md").write_text(search_markdown(results))
    elif argv[0] == "tune-top":  # tune-top CACHE OUT [FOLD]: validation check of tuning the top block
        tune_top_check(Path(argv[1]), Path(argv[2]), int(argv[3]) if len(argv) > 3 else 1,
                       int(argv[4]) if len(argv) > 4 else 1)
    elif argv[0] == "card":  # card RUN MODELS RESULTS: rewrite models/audio's card from the results file
        ship(Path(argv[1]), Path(argv[2]) / "audio", Path(argv[3]) / "audio_single_5fold.json", convert=False)
    elif argv[0] == "latency":  # latency DATA MODELS RESULTS: time it again (a quieter machine), update files
        head = Path(argv[3]) / "audio_single_5fold.json"
        results = json.loads(head.read_text())
        results["latency"] = latency(Path(argv[2]), Path(argv[1]))
        head.write_text(json.dumps(results, indent=1) + "\n")
        (Path(argv[3]) / "audio_single_5fold.md").write_text(results_markdown(results))
    elif argv[0] == "finish":
        finish(Path(argv[1]), Path(argv[2]), Path(argv[3]), Path(argv[4]))
    else:
        print(main.__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
