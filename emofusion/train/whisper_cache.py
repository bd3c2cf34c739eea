"""Whisper hidden states of every RAVDESS speech clip, computed once and kept on disk (fp16).

Why: the encoder is frozen (or only its top blocks train), so its lower layers give the same
answer every epoch. Each clip goes through the product's data path (read_audio at 16 kHz, the
centred 3.6 s window of `fit_window`, `features` with WHISPER_AUDIO), optionally sped up or slowed
down first (speed perturbation: resampled as if recorded at speed x 16 kHz), then every hidden
state of the encoder is stored: `states.npy` (N, n_layer + 2, T', d) float16, memory-mapped.
Resumable: `done.npy` marks finished clips; a restart computes only the rest.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from emofusion.config import WHISPER_AUDIO, MediaConfig

WINDOW_S = MediaConfig().window_s


def ravdess_clips(root: str | Path) -> list[dict]:
    """Every RAVDESS speech file under root (Actor_XX/*.flac|wav): path, actor, label 0..7."""
    root = Path(root)
    clips = []
    for path in sorted(root.glob("Actor_*/*")):
        if path.suffix.lower() not in (".flac", ".wav"):
            continue
        parts = path.stem.split("-")
        clips.append({"file": f"{path.parent.name}/{path.name}", "actor": int(parts[6]),
                      "label": int(parts[2]) - 1})
    return clips


def clip_mel(path: str | Path, speed: float = 1.0, pad30: bool = False) -> np.ndarray:
    """The product's Whisper log-mel of one clip's centred window (after speed perturbation);
    `pad30`: the window zero-padded to Whisper's 30 s first, as Whisper itself transcribes (only
    to measure, on validation actors, whether the own-length input loses anything)."""
    from emofusion.media.audio import features, fit_window, read_audio

    sr = WHISPER_AUDIO.sample_rate
    wave = read_audio(path, sr)
    if speed != 1.0:
        import soxr

        wave = soxr.resample(wave, sr * speed, sr).astype(np.float32)
    wave = fit_window(wave, int(round(WINDOW_S * sr)))
    if pad30:
        wave = np.pad(wave, (0, 30 * sr - len(wave)))
    return features(wave, WHISPER_AUDIO)


def cache_dir(root: str | Path, source: str, speed: float, pad30: bool = False) -> Path:
    return Path(root) / f"{source}-speed{speed:g}{'-pad30' if pad30 else ''}"


def build(data_root: str | Path, out_root: str | Path, source: str = "tiny.en", speed: float = 1.0,
          progress: bool = True, pad30: bool = False) -> Path:
    """Compute (or finish) the hidden-state cache of one encoder at one speed; returns its dir."""
    import torch

    from emofusion.nets.whisper import build_encoder
    from emofusion.pretrained import whisper as W

    out = cache_dir(out_root, source, speed, pad30)
    out.mkdir(parents=True, exist_ok=True)
    clips = ravdess_clips(data_root)
    if not clips:
        raise FileNotFoundError(f"no RAVDESS speech clips under {data_root}")
    state, dims, prov = W.load_encoder_state(source)
    enc = build_encoder(dims)
    enc.load_state_dict(state)
    enc.eval()
    n_states = dims["n_layer"] + 2
    frames = int(round(WINDOW_S * WHISPER_AUDIO.sample_rate)) // WHISPER_AUDIO.hop_length // 2
    shape = (len(clips), n_states, frames, dims["n_state"])
    index = {"source": source, "speed": speed, "pad30": pad30, "window_s": WINDOW_S, "audio": WHISPER_AUDIO.__dict__,
             "shape": list(shape), "provenance": prov, "clips": clips}
    index_path = out / "index.json"
    if index_path.exists() and json.loads(index_path.read_text())["shape"] != list(shape):
        raise RuntimeError(f"{out} holds a cache of another shape; remove it to rebuild")
    index_path.write_text(json.dumps(index, indent=1) + "\n")
    mode = "r+" if (out / "states.npy").exists() else "w+"
    states = np.lib.format.open_memmap(out / "states.npy", mode=mode, dtype=np.float16, shape=shape)
    done_path = out / "done.npy"
    done = np.load(done_path) if done_path.exists() else np.zeros(len(clips), dtype=bool)
    todo = [i for i in range(len(clips)) if not done[i]]
    from tqdm import tqdm

    bar = tqdm(todo, desc=f"whisper {source} x{speed:g}", disable=not progress, file=sys.stdout, mininterval=10)
    with torch.inference_mode():
        for n, i in enumerate(bar, 1):
            mel = clip_mel(Path(data_root) / clips[i]["file"], speed, pad30)
            hs = enc(torch.from_numpy(mel)[None], hidden=True)
            states[i] = torch.stack(hs)[:, 0, :frames].numpy().astype(np.float16)
            done[i] = True
            if n % 100 == 0 or n == len(todo):
                states.flush()
                np.save(done_path, done)
    states.flush()
    np.save(done_path, done)
    return out


def load(root: str | Path, source: str, speed: float = 1.0, pad30: bool = False) -> tuple[np.ndarray, dict]:
    """(states memmap (N, L, T, d) fp16, index) of a finished cache."""
    d = cache_dir(root, source, speed, pad30)
    index = json.loads((d / "index.json").read_text())
    done = np.load(d / "done.npy")
    if not done.all():
        raise RuntimeError(f"{d}: cache unfinished ({int(done.sum())}/{len(done)} clips); run it again")
    return np.load(d / "states.npy", mmap_mode="r"), index


if __name__ == "__main__":  # python -m emofusion.train.whisper_cache DATA OUT SOURCE SPEED...
    import torch

    torch.set_num_threads(1)
    data, out, src = sys.argv[1], sys.argv[2], sys.argv[3]
    for s in sys.argv[4:] or ["1"]:
        build(data, out, src, float(s.replace("pad30", "") or 1), pad30=s.endswith("pad30"))
