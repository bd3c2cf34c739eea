"""face-api.js expression weights from the pinned npm tarball, read, verified and turned into the
state dict of `emofusion.nets.faceapi` (which builds the network: this module imports no model code).

Source: `@vladmandic/face-api@1.7.15` (MIT, Copyright (c) Vladimir Mandic). The tarball comes from
`npm pack` (run here into a cache folder) or is given as a `.tgz`; only three files of it are read
(the manifest, the `.bin`, the LICENSE) and nothing in it is executed. Both weight files are checked
against the sha256 recorded below before use.

Layout (tfjs `io.decodeWeights`, read from tfjs-core): the `.bin` is the manifest's tensors one
after another, in manifest order. A tensor with `quantization: {dtype: uint8, scale, min}` is
stored as one byte per value and decodes to `q * scale + min`; the others (the biases) are
little-endian float32. Filters are in TensorFlow order: conv [kh, kw, in, out], depthwise
[kh, kw, in, 1], pointwise [1, 1, in, out], dense [in, out].

A shipped model dir (safetensors + config + licence) is written by `python -m emofusion.export.faceapi`.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emofusion.errors import EmofusionError

PACKAGE = "@vladmandic/face-api"
VERSION = "1.7.15"
TARBALL = "vladmandic-face-api-1.7.15.tgz"
MANIFEST = "package/model/face_expression_model-weights_manifest.json"
WEIGHTS_BIN = "package/model/face_expression_model.bin"
LICENSE = "package/LICENSE"
SHA256 = {
    MANIFEST: "5b349c17c7836da506e03422cd6461c74085d8bb2713ad4114647dc5d28174c8",
    WEIGHTS_BIN: "9a9840f2cf1f4c7eab95f197512569345c00d2426754d4608b92af30e0300f3d",
}
N_TENSORS = 49
LICENSE_FILE = "LICENSE-face-api.txt"
ATTRIBUTION = (f"face-api.js expression network weights from {PACKAGE}@{VERSION} "
               "(MIT License, Copyright (c) Vladimir Mandic)")


class FaceApiSourceError(EmofusionError, ValueError):
    """The face-api.js tarball or its weight files are absent, altered or truncated."""


@dataclass
class FaceApiFiles:
    manifest: bytes
    weights: bytes
    license: str


def npm_pack(cache: str | Path) -> Path:
    """`npm pack @vladmandic/face-api@1.7.15` into `cache` (once); the .tgz path."""
    cache = Path(cache)
    tgz = cache / TARBALL
    if tgz.is_file():
        return tgz
    npm = shutil.which("npm")
    if npm is None:
        raise FaceApiSourceError(f"npm is not installed: install Node.js/npm, or download {PACKAGE}@{VERSION} "
                                 "elsewhere (`npm pack`) and give the .tgz with --tgz")
    cache.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([npm, "pack", f"{PACKAGE}@{VERSION}", "--pack-destination", str(cache)],
                          capture_output=True, text=True)
    if proc.returncode != 0 or not tgz.is_file():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise FaceApiSourceError(f"npm pack {PACKAGE}@{VERSION} failed: {' | '.join(tail)}")
    return tgz


def read_tarball(tgz: str | Path) -> FaceApiFiles:
    """The three files the converter needs, from the npm tarball (members read as bytes only)."""
    tgz = Path(tgz)
    if not tgz.is_file():
        raise FaceApiSourceError(f"{tgz}: no such file (get it with `npm pack {PACKAGE}@{VERSION}`)")
    try:
        with tarfile.open(tgz, "r:gz") as tar:
            def member(name: str) -> bytes:
                try:
                    f = tar.extractfile(name)
                except KeyError:
                    f = None
                if f is None:
                    raise FaceApiSourceError(f"{tgz.name}: has no {name}; is it {PACKAGE}@{VERSION}?")
                return f.read()

            manifest, weights, lic = member(MANIFEST), member(WEIGHTS_BIN), member(LICENSE)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise FaceApiSourceError(f"{tgz.name}: not a readable .tgz ({exc})") from exc
    return FaceApiFiles(manifest, weights, lic.decode("utf-8", "replace"))


def _check_sha(name: str, data: bytes) -> None:
    got = hashlib.sha256(data).hexdigest()
    if got != SHA256[name]:
        raise FaceApiSourceError(f"{Path(name).name}: sha256 {got} is not the pinned {SHA256[name]} "
                                 f"of {PACKAGE}@{VERSION}; the file was altered or is another version")


def decode_weights(manifest: bytes, weights: bytes) -> dict[str, np.ndarray]:
    """tfjs manifest + .bin -> {name: float32 array in TensorFlow layout} (dequantised)."""
    try:
        spec = json.loads(manifest)
        entries = [w for group in spec for w in group["weights"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise FaceApiSourceError(f"weights manifest is not a tfjs manifest ({exc})") from exc
    sizes = []
    for w in entries:
        q = w.get("quantization")
        if q is not None and q.get("dtype") != "uint8":
            raise FaceApiSourceError(f"{w['name']}: quantization {q.get('dtype')!r} is not handled (uint8 only)")
        if q is None and w.get("dtype") != "float32":
            raise FaceApiSourceError(f"{w['name']}: dtype {w.get('dtype')!r} is not handled (float32 only)")
        sizes.append(int(np.prod(w["shape"])) * (1 if q else 4))
    if len(weights) != sum(sizes):
        raise FaceApiSourceError(f"face_expression_model.bin is {len(weights)} bytes but its manifest needs "
                                 f"{sum(sizes)}: the file is truncated or not the one the manifest describes")
    out, pos = {}, 0
    for w, n in zip(entries, sizes):
        raw = weights[pos : pos + n]
        pos += n
        q = w.get("quantization")
        if q:  # as tfjs: min + q * scale, computed in double, stored as float32
            v = (np.frombuffer(raw, np.uint8).astype(np.float64) * q["scale"] + q["min"]).astype(np.float32)
        else:
            v = np.frombuffer(raw, "<f4").astype(np.float32)
        out[w["name"]] = v.reshape(w["shape"])
    return out


def load_files(tgz: str | Path | None = None, cache: str | Path | None = None) -> FaceApiFiles:
    """The verified files: from `tgz`, else `npm pack` into `cache` (default ~/.cache/emofusion)."""
    if tgz is None:
        tgz = npm_pack(cache or Path.home() / ".cache" / "emofusion" / "faceapi")
    files = read_tarball(tgz)
    _check_sha(MANIFEST, files.manifest)
    decode_weights(files.manifest, files.weights)  # a truncated .bin says so before the sha256 does
    _check_sha(WEIGHTS_BIN, files.weights)
    return files


def to_state_dict(tf_weights: dict[str, np.ndarray]) -> dict[str, "torch.Tensor"]:
    """TensorFlow-layout tensors -> the state dict of `FaceApiExpressionNet` (face.* and head.*)."""
    import torch

    if len(tf_weights) != N_TENSORS:
        raise FaceApiSourceError(f"{len(tf_weights)} tensors, expected {N_TENSORS}")
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a))  # noqa: E731
    sd = {}
    for name, a in tf_weights.items():
        parts = name.split("/")
        if parts[0] == "fc":
            sd["head.weight" if parts[1] == "weights" else "head.bias"] = t(a.T if parts[1] == "weights" else a)
            continue
        block, conv, kind = parts
        p = f"face.{block}.{conv}."
        if kind == "filters":  # [kh, kw, in, out] -> [out, in, kh, kw]
            sd[p + "conv.weight"] = t(a.transpose(3, 2, 0, 1))
        elif kind == "depthwise_filter":  # [kh, kw, in, 1] -> [in, 1, kh, kw]
            sd[p + "depthwise.weight"] = t(a.transpose(2, 3, 0, 1))
        elif kind == "pointwise_filter":  # [1, 1, in, out] -> [out, in, 1, 1]
            sd[p + "pointwise.weight"] = t(a.transpose(3, 2, 0, 1))
        elif kind == "bias":
            sd[p + ("conv.bias" if block == "dense0" and conv == "conv0" else "pointwise.bias")] = t(a)
        else:
            raise FaceApiSourceError(f"unexpected tensor {name}")
    return sd
