"""Emotion-labelled face images: FER+ (in the wild), CK+48 (posed) and RAVDESS actor 5's face crops.

These images are research-only (FER-2013, CK+) or CC BY-NC-SA (RAVDESS): they are read from the
shared data folder at run time and nothing made from them is written inside the repository.

Class mapping to the 8 RAVDESS classes, used everywhere a face answer meets a RAVDESS label:
FER+ neutral/happiness/surprise/sadness/anger/disgust/fear and CK+ happy/surprise/sadness/anger/
disgust/fear map one to one. FER+ and CK+ `contempt` have no RAVDESS class: contempt images are
kept for FER+'s own 8-class training and test, left out of every RAVDESS-class figure, and the face
model's contempt probability is dropped when it answers in RAVDESS classes. RAVDESS `calm` has no
face class: the face model never answers calm (probability 0); fusion models learn calm from the voice.
"""

from __future__ import annotations

import lzma
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emofusion.constants import CLASSES

FERPLUS_CLASSES: tuple[str, ...] = (
    "neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt")
_VOTE_COLUMNS = FERPLUS_CLASSES + ("unknown", "NF")
# FER+ class -> RAVDESS class name (None: no counterpart)
FERPLUS_TO_RAVDESS: dict[str, str | None] = {
    "neutral": "neutral", "happiness": "happy", "surprise": "surprised", "sadness": "sad",
    "anger": "angry", "disgust": "disgust", "fear": "fearful", "contempt": None}
CKPLUS_TO_RAVDESS: dict[str, str | None] = {
    "anger": "angry", "contempt": None, "disgust": "disgust", "fear": "fearful", "happy": "happy",
    "sadness": "sad", "surprise": "surprised"}
# For each RAVDESS class, the FER+ class index that feeds it (-1: calm, no face counterpart).
RAVDESS_FROM_FERPLUS: tuple[int, ...] = tuple(
    next((i for i, f in enumerate(FERPLUS_CLASSES) if FERPLUS_TO_RAVDESS[f] == c), -1) for c in CLASSES)


class FaceDataError(Exception):
    """A labelled-face folder is missing or not in the documented layout."""


def shared_data(name: str) -> Path:
    """`$EMOFUSION_SHARED/data/NAME` (default: ../shared next to the working directory's project)."""
    root = Path(os.environ.get("EMOFUSION_SHARED", Path.cwd().parent / "shared"))
    return root / "data" / name


@dataclass
class FerPlus:
    """images (N,48,48) uint8 grey; votes (N,10) float32 (8 emotions, unknown, NF); split (N,) str."""

    images: np.ndarray
    votes: np.ndarray
    split: np.ndarray

    def majority(self) -> np.ndarray:
        """FER+ majority labels (index into FERPLUS_CLASSES), -1 where there is none."""
        return majority_labels(self.votes)

    def soft_targets(self) -> np.ndarray:
        """(N, 8) vote distribution over the 8 emotions (unknown / NF votes left out)."""
        v = self.votes[:, : len(FERPLUS_CLASSES)].astype(np.float32)
        s = v.sum(axis=1, keepdims=True)
        return np.divide(v, s, out=np.zeros_like(v), where=s > 0)

    def select(self, split: str, labelled: bool = True) -> np.ndarray:
        """Indices of a published split; `labelled` keeps images with a majority label only."""
        keep = self.split == split
        if labelled:
            keep &= self.majority() >= 0
        return np.flatnonzero(keep)


def majority_labels(votes: np.ndarray) -> np.ndarray:
    """FER+'s rule: drop single votes; the top label must hold more than half of what remains and
    be an emotion (not unknown / NF)."""
    v = np.where(votes <= 1, 0, votes).astype(np.float32)
    top = v.argmax(axis=1)
    ok = (v.max(axis=1) * 2 > v.sum(axis=1)) & (top < len(FERPLUS_CLASSES))
    return np.where(ok, top, -1)


def load_ferplus(root: str | Path | None = None) -> FerPlus:
    """Read `faces.npy.xz` + `labels.csv` (about 5 s)."""
    import csv

    root = Path(root) if root else shared_data("ferplus")
    npy, csv_path = root / "faces.npy.xz", root / "labels.csv"
    if not npy.is_file() or not csv_path.is_file():
        raise FaceDataError(f"{root}: expected faces.npy.xz and labels.csv (see its README.md)")
    with lzma.open(npy) as f:
        images = np.load(f)
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    if len(rows) != len(images) or images.shape[1:] != (48, 48):
        raise FaceDataError(f"{root}: {len(images)} images {images.shape[1:]} but {len(rows)} label rows")
    votes = np.array([[float(r[c]) for c in _VOTE_COLUMNS] for r in rows], dtype=np.float32)
    split = np.array([r["split"] for r in rows])
    return FerPlus(images, votes, split)


@dataclass
class CkPlus:
    """images (N,48,48) uint8 grey; labels (N,) RAVDESS class index (-1: contempt); subjects (N,) str;
    ck_classes (N,) the folder name."""

    images: np.ndarray
    labels: np.ndarray
    subjects: np.ndarray
    ck_classes: np.ndarray


def load_ckplus(root: str | Path | None = None) -> CkPlus:
    from PIL import Image

    root = Path(root) if root else shared_data("ckplus48")
    files = sorted(p for d in CKPLUS_TO_RAVDESS for p in (root / d).glob("*.png"))
    if not files:
        raise FaceDataError(f"{root}: no <class>/S*.png images (see its README.md)")
    images, labels, subjects, kinds = [], [], [], []
    for p in files:
        img = np.asarray(Image.open(p).convert("L"))
        if img.shape != (48, 48):
            raise FaceDataError(f"{p}: expected 48x48, got {img.shape}")
        images.append(img)
        target = CKPLUS_TO_RAVDESS[p.parent.name]
        labels.append(CLASSES.index(target) if target else -1)
        subjects.append(p.name.split("_")[0])
        kinds.append(p.parent.name)
    return CkPlus(np.stack(images), np.array(labels), np.array(subjects), np.array(kinds))


_A05 = re.compile(r"^01-01-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)_facecroppad\.avi$")


@dataclass
class ActorFaces:
    """One RAVDESS recording's face crops: frames (F,H,W,3) uint8 RGB, its label and FLAC audio."""

    name: str
    frames: np.ndarray
    label: int
    intensity: int
    audio: Path | None


def load_actor_faces(root: str | Path | None = None, speech_root: str | Path | None = None) -> list[ActorFaces]:
    """Every `01-01-EE-II-SS-RR-AA_facecroppad.avi` with its `03-01-...` FLAC (None if absent)."""
    import av

    root = Path(root) if root else shared_data("ravdess-a05-faces")
    speech = Path(speech_root) if speech_root else shared_data("ravdess-speech")
    out = []
    for p in sorted(root.glob("*.avi")):
        m = _A05.match(p.name)
        if not m:
            continue
        emo, inten, stmt, rep, actor = (int(g) for g in m.groups())
        with av.open(str(p)) as container:
            frames = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
        flac = speech / f"Actor_{actor:02d}" / f"03-01-{emo:02d}-{inten:02d}-{stmt:02d}-{rep:02d}-{actor:02d}.flac"
        out.append(ActorFaces(p.stem.replace("_facecroppad", ""), frames, emo - 1, inten,
                              flac if flac.is_file() else None))
    if not out:
        raise FaceDataError(f"{root}: no 01-01-*_facecroppad.avi recordings (see its README.md)")
    return out
