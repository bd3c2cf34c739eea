"""IA and LT fusion on the two pretrained streams: face-api.js per frame, Whisper's encoder for the voice.

The reference design's fusion (docs/ARCHITECTURE.md; `nets/fusion.py`) with its frontends replaced:

    faces (B, F, 3, S, S) -> face-api.js backbone (frozen) -> (B, 256, F) -> VisualStack -> stage 1 / 2
    log-mel (B, 80, T)    -> Whisper encoder (frozen)      -> every hidden state (L, B, T/2, d)
                          -> learned layer mix + projection -> (B, width, T/2) -> AudioStack -> stage 1 / 2

IA gates each stream after stage 1 by the attention the other stream paid it; LT runs cross-attention
blocks on the stage-2 sequences; both end in Linear(256, classes). Only the parts after the frontends
train, so training runs on cached frontend outputs (`forward_encoded`).

Weights: the face backbone (324 K parameters, MIT, from the shipped face model) is saved with the
fusion; the Whisper encoder is not: like `audio_whisper`, it is filled from the pinned, sha256-checked
Whisper source (emofusion.pretrained.whisper) when the model is built, so a model dir stays small.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from emofusion.constants import AUDIO, FACES, STREAMS
from emofusion.nets.config import ModelConfig
from emofusion.nets.faceapi import FEATURES as FACE_FEATURES
from emofusion.nets.faceapi import RAVDESS_FROM_HEAD, FaceApiBackbone, FaceApiExpressionNet, FaceApiHead
from emofusion.nets.fusion import IAFusion, LTFusion
from emofusion.nets.registry import register_model
from emofusion.nets.temporal import AUDIO_DIM, VIDEO_DIM, AudioStack, VisualStack

# registry name -> the Whisper encoder it reads
SOURCES = {"ia_fw": "tiny.en", "lt_fw": "tiny.en"}


class FrozenWhisper(nn.Module):
    """Whisper's encoder, frozen, returning every hidden state; its weights are left out of
    `state_dict()` and come from the pinned source at build time (a fusion file stays ~2 MB)."""

    def __init__(self, source: str, load_pretrained: bool = True):
        super().__init__()
        from emofusion.nets.whisper import build_encoder
        from emofusion.pretrained import whisper as W

        src = W.source(source)
        self.source = source
        self.n_states, self.dim = src.n_layer + 2, src.n_state
        self.encoder = build_encoder({"n_mels": src.n_mels, "n_state": src.n_state, "n_head": src.n_head,
                                      "n_layer": src.n_layer, "n_ctx": 1500})
        self.provenance: dict = {}
        if load_pretrained:
            state, _, self.provenance = W.load_encoder_state(source)
            self.encoder.load_state_dict(state)
        self.encoder.requires_grad_(False)
        self._register_state_dict_hook(FrozenWhisper._drop)
        self._register_load_state_dict_pre_hook(self._fill)

    @staticmethod
    def _drop(module, state: dict, prefix: str, local_metadata) -> None:
        for key in [k for k in state if k.startswith(prefix + "encoder.")]:
            del state[key]

    def _fill(self, state: dict, prefix: str, *args) -> None:
        for key, value in self.encoder.state_dict().items():
            state.setdefault(f"{prefix}encoder.{key}", value)

    def train(self, mode: bool = True):
        super().train(mode)
        self.encoder.train(False)
        return self

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """(B, 80, T) -> (L, B, ceil(T/2), d)."""
        return torch.stack(self.encoder(mel, hidden=True))


class LayerMix(nn.Module):
    """(L, B, T, d) hidden states -> (B, width, T): each state normalised, mixed with learned
    softmax weights, projected. Which layers carry emotion is learnt, not assumed.

    `norm="standard"` standardises each state per dimension with training-clip statistics (buffers
    set by the trainer); "layer" is LayerNorm per frame, which leaves Whisper's few huge dimensions
    dominant (the voice model's head reached 58 % with it against 75 % standardised on fold 1's
    validation actors: nets/whisper.VoiceHead)."""

    def __init__(self, n_states: int, d: int, width: int, norm: str = "layer"):
        super().__init__()
        if norm not in ("layer", "standard"):
            raise ValueError(f"audio_norm must be 'layer' or 'standard', got {norm!r}")
        self.norm = norm
        self.layer_logits = nn.Parameter(torch.zeros(n_states))
        self.proj = nn.Linear(d, width)
        if norm == "standard":
            self.register_buffer("state_mean", torch.zeros(n_states, d))
            self.register_buffer("state_std", torch.ones(n_states, d))

    def set_standardisation(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        self.state_mean.copy_(mean)
        self.state_std.copy_(std.clamp_min(1e-4))

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        w = torch.softmax(self.layer_logits, dim=0).view(-1, 1, 1, 1)
        if self.norm == "standard":
            x = (states - self.state_mean[:, None, None]) / self.state_std[:, None, None]
        else:
            # the width as a constant, not the tensor's shape: the TorchScript exporter cannot
            # trace a shape-valued normalized_shape (IA fell back to the 8x slower dynamo export)
            x = F.layer_norm(states, (self.proj.in_features,))
        return F.gelu(self.proj((w * x).sum(dim=0))).transpose(1, 2)


class PretrainedFusionNet(nn.Module):
    """Both pretrained frontends (frozen) + the reference's temporal stacks + a fusion + a head."""

    inputs = (AUDIO, FACES)

    def __init__(self, cfg: ModelConfig, source: str, load_pretrained: bool = True):
        super().__init__()
        self.cfg = cfg
        self.voice = FrozenWhisper(source, load_pretrained)
        self.face = FaceApiBackbone()
        self.face.requires_grad_(False)
        self.register_buffer("luma", torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1), persistent=False)
        self.audio_mix = LayerMix(self.voice.n_states, self.voice.dim, cfg.audio_width, cfg.audio_norm)
        self.audio_tcn = AudioStack(cfg.audio_width)
        # face_input "probs": the visual stream reads the face model's frozen head's answers per frame,
        # not the backbone's features (what the face model knows of real video, nothing the fusion
        # could fit to clean training pictures only)
        self.face_probs = FaceApiHead() if cfg.face_input == "probs" else None
        self.video_tcn = VisualStack(len(RAVDESS_FROM_HEAD) if self.face_probs is not None else FACE_FEATURES)
        self.drop = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(AUDIO_DIM + VIDEO_DIM, cfg.num_classes)
        # frontend outputs of all-zero inputs, per input shape and device (forward_streams)
        self._zero_encoded: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}
        self.register_load_state_dict_post_hook(PretrainedFusionNet._forget_zero_encoded)

    @staticmethod
    def _forget_zero_encoded(module, incompatible_keys) -> None:
        module._zero_encoded.clear()  # new frontend weights: new zero-input outputs

    def train(self, mode: bool = True):
        super().train(mode)
        self.face.eval()  # frozen frontends: no statistics change while the fusion trains
        self.voice.train(False)
        return self

    def encode(self, audio: torch.Tensor, faces: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Frontends: ((L, B, T', d) voice states, (B, F, 256) per-frame face features).

        With `cfg.face_grey` the crops are read as grey (luminance in all three channels): the
        fusions learn faces from grey FER+ / CK+ pictures, so real colour video is shown to them
        the same way; `cfg.face_size` 48 likewise matches those pictures' resolution."""
        with torch.no_grad():
            return self.voice(audio), self.encode_faces(faces)

    def encode_faces(self, faces: torch.Tensor) -> torch.Tensor:
        """(B, F, 3, S, S) in [0, 1] -> (B, F, 256): the face frontend alone (training caches of real video)."""
        with torch.no_grad():
            return FaceFeatures(self)(faces)

    def fuse_stage1(self, a: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return a, v

    def pool(self, a: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return torch.cat([a.mean(dim=-1), v.mean(dim=-1)], dim=-1)

    def features_encoded(self, states: torch.Tensor, face_feats: torch.Tensor) -> torch.Tensor:
        """From the frontends' outputs to the pooled (B, 256) fusion features (training on caches)."""
        a = self.audio_tcn.stage1(self.audio_mix(states))
        if self.face_probs is not None:
            face_feats = self.face_probs(face_feats)
        v = self.video_tcn.stage1(face_feats.transpose(1, 2))
        a, v = self.fuse_stage1(a, v)
        return self.pool(self.audio_tcn.stage2(a), self.video_tcn.stage2(v))

    def forward_encoded(self, states: torch.Tensor, face_feats: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.features_encoded(states, face_feats))

    def forward_features(self, audio: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
        return self.features_encoded(*self.encode(audio, faces))

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(self.drop(features))

    def forward(self, audio: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(audio, faces))

    def zero_encoded(self, audio_shape: tuple, faces_shape: tuple) -> tuple[torch.Tensor, torch.Tensor]:
        """The frontends' outputs for an all-zero voice (1 clip of `audio_shape[1:]`) and all-zero
        faces: fixed for a model and an input shape, so computed once. An export traces them as
        constants (`forward_streams` is warmed before tracing)."""
        p = self.head.weight
        # plain ints: a tracer hands out traced sizes, which would miss the warmed entry
        key = (tuple(int(d) for d in audio_shape[1:]), tuple(int(d) for d in faces_shape[1:]), p.device, p.dtype)
        if key not in self._zero_encoded:
            with torch.no_grad():
                states = self.voice(torch.zeros((1, *key[0]), device=p.device, dtype=p.dtype))
                feats = self.encode_faces(torch.zeros((1, *key[1]), device=p.device, dtype=p.dtype))
            self._zero_encoded[key] = (states, feats)
        return self._zero_encoded[key]

    def forward_streams(self, audio: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
        """(B, 3, classes) logits in `STREAMS` order: both streams, the voice alone (faces zeroed),
        the face alone (voice zeroed). Exactly the three runs the predictor's explanation needs,
        with each frontend run once on the clip instead of three times (the zeroed stream's
        frontend output is `zero_encoded`'s constant): only the small fusion layers see 3B."""
        states, feats = self.encode(audio, faces)
        return self.streams_encoded(states, feats, tuple(audio.shape), tuple(faces.shape))

    def streams_encoded(self, states: torch.Tensor, feats: torch.Tensor, audio_shape: tuple,
                        faces_shape: tuple) -> torch.Tensor:
        """`forward_streams` from the frontends' outputs, for inputs of `audio_shape` / `faces_shape`."""
        zero_states, zero_feats = self.zero_encoded(audio_shape, faces_shape)
        b = states.shape[1]
        states3 = torch.cat([states, states, zero_states.expand(-1, b, -1, -1)], dim=1)
        feats3 = torch.cat([feats, zero_feats.expand(b, -1, -1), feats], dim=0)
        logits = self.forward_encoded(states3, feats3)
        return logits.reshape(len(STREAMS), b, -1).transpose(0, 1)


    def frontends(self) -> dict:
        """{AUDIO: the shared Whisper frontend, FACES: the face backbone with this model's
        preprocessing} (nets/frontends.py): IA and LT built on the same face model share both."""
        from emofusion.nets.frontends import Frontend, weights_digest, whisper_frontend

        keys = self.__dict__.setdefault("_frontend_keys", {})
        if "face" not in keys:
            keys["face"] = "faceapi-features:" + weights_digest(self.face, f"grey={self.cfg.face_grey}")[:32]
        return {AUDIO: whisper_frontend(self.voice.encoder, keys), FACES: Frontend(keys["face"], FaceFeatures(self))}

    def forward_from_encoded(self, states: torch.Tensor, feats: torch.Tensor, audio_shape: tuple,
                             faces_shape: tuple) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits, stream logits) from the frontends' outputs: states (B, L, T/2, d), feats (B, F, 256)."""
        streams = self.streams_encoded(states.transpose(0, 1), feats, audio_shape, faces_shape)
        return streams[:, 0], streams


class FaceFeatures(nn.Module):
    """faces (B, F, 3, S, S) -> (B, F, 256): a fusion's face frontend alone (its backbone, grey or not)."""

    def __init__(self, fusion: PretrainedFusionNet):
        super().__init__()
        self.face = fusion.face
        self.register_buffer("luma", fusion.luma, persistent=False)
        self.grey = fusion.cfg.face_grey

    def forward(self, faces: torch.Tensor) -> torch.Tensor:
        b, f = faces.shape[:2]
        x = faces.flatten(0, 1)
        if self.grey:
            x = (x * self.luma).sum(dim=1, keepdim=True).expand(-1, 3, -1, -1)
        return self.face(FaceApiExpressionNet.to_input(x)).unflatten(0, (b, f))


class IAPretrainedNet(PretrainedFusionNet):
    def __init__(self, cfg: ModelConfig, source: str, load_pretrained: bool = True):
        super().__init__(cfg, source, load_pretrained)
        self.fusion = IAFusion(cfg.heads, cfg.gate)

    def fuse_stage1(self, a, v):
        return self.fusion(a, v)


class LTPretrainedNet(PretrainedFusionNet):
    def __init__(self, cfg: ModelConfig, source: str, load_pretrained: bool = True):
        super().__init__(cfg, source, load_pretrained)
        self.fusion = LTFusion(cfg)

    def pool(self, a, v):
        return self.fusion(a, v)


@register_model("ia_fw")
def ia_fw(cfg: ModelConfig) -> IAPretrainedNet:
    return IAPretrainedNet(cfg, SOURCES["ia_fw"])


@register_model("lt_fw")
def lt_fw(cfg: ModelConfig) -> LTPretrainedNet:
    return LTPretrainedNet(cfg, SOURCES["lt_fw"])
