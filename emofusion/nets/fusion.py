"""The registered networks: audio / video baselines and the IA / IT / LT fusion models.

Every model follows docs/ARCHITECTURE.md: `inputs` names the forward arguments in order; audio is
(B, C, T) float32, faces (B, F, 3, S, S) float32 in [0, 1]; the output is logits (B, num_classes).
Submodules are named by part (`face`, `audio_tcn`, `video_tcn`, `fusion`, `head`) so the
parameter table and pretrained loading can address them.
"""

from __future__ import annotations

import torch
from torch import nn

from emofusion.constants import AUDIO, FACES
from emofusion.nets.config import ModelConfig
from emofusion.nets.attention import AttentionMaps, CrossAttentionBlock, gate_stream
from emofusion.nets.efficientface import EfficientFace
from emofusion.nets.layers import ImageNetNorm
from emofusion.nets.registry import register_model
from emofusion.nets.temporal import AUDIO_DIM, AUDIO_STAGE1_DIM, VIDEO_DIM, VIDEO_STAGE1_DIM, AudioStack, VisualStack

PARTS = ("face", "audio_tcn", "video_tcn", "fusion", "head")


class EmotionNet(nn.Module):
    """Common base: the input contract and the classifier head."""

    inputs: tuple[str, ...] = ()

    def __init__(self, cfg: ModelConfig, head_dim: int):
        super().__init__()
        self.cfg = cfg
        self.drop = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(head_dim, cfg.num_classes)

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(self.drop(features))


class FaceNet(EmotionNet):
    """Adds the per-frame face CNN and the visual temporal stack."""

    def __init__(self, cfg: ModelConfig, head_dim: int):
        super().__init__(cfg, head_dim)
        self.face_norm = ImageNetNorm(grey=cfg.face_grey)
        self.face = EfficientFace()
        self.video_tcn = VisualStack(EfficientFace.out_dim)
        self.face_frozen = False

    def freeze_face(self) -> None:
        """Fix the face CNN (training option for pretrained weights): no gradients, BatchNorm
        statistics kept (eval mode even while the rest trains), and no backward pass through it."""
        self.face_frozen = True
        self.face.requires_grad_(False)
        self.face.eval()

    def train(self, mode: bool = True):
        super().train(mode)
        if self.face_frozen:
            self.face.eval()
        return self

    def encode_faces(self, faces: torch.Tensor) -> torch.Tensor:
        """(B, F, 3, S, S) in [0, 1] -> (B, 1024, F): EfficientFace on all B*F frames at once."""
        n_frames = faces.shape[1]
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.face_frozen):
            x = self.face(self.face_norm(faces.flatten(0, 1)))  # (B*F, 1024)
        return x.unflatten(0, (-1, n_frames)).transpose(1, 2)


class AudioNet(EmotionNet):
    """Audio baseline: Conv1d stack, temporal mean, Linear(128, classes)."""

    inputs = (AUDIO,)

    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg, AUDIO_DIM)
        self.audio_tcn = AudioStack(cfg.audio_channels)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return self.classify(self.audio_tcn(audio).mean(dim=-1))


@register_model("audio")
def audio_model(cfg: ModelConfig) -> AudioNet:
    return AudioNet(cfg)


class VideoNet(FaceNet):
    """Video baseline: EfficientFace per frame, Conv1d stack, temporal mean, Linear(128, classes)."""

    inputs = (FACES,)

    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg, VIDEO_DIM)

    def forward(self, faces: torch.Tensor) -> torch.Tensor:
        return self.forward_encoded(self.encode_faces(faces))

    def forward_encoded(self, face_features: torch.Tensor) -> torch.Tensor:
        """From the face CNN's output (B, 1024, F) on: lets training reuse cached features."""
        return self.classify(self.video_tcn(face_features).mean(dim=-1))


class FusionNet(FaceNet):
    """Both streams; subclasses fuse after stage 1 (IA, IT) or stage 2 (LT). Head Linear(256, classes)."""

    inputs = (AUDIO, FACES)

    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg, AUDIO_DIM + VIDEO_DIM)
        self.audio_tcn = AudioStack(cfg.audio_channels)

    def fuse_stage1(self, a: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return a, v

    def pool(self, a: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Stage-2 outputs (B, 128, Ta), (B, 128, Tv) -> (B, 256)."""
        return torch.cat([a.mean(dim=-1), v.mean(dim=-1)], dim=-1)

    def forward(self, audio: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
        return self.forward_encoded(audio, self.encode_faces(faces))

    def forward_encoded(self, audio: torch.Tensor, face_features: torch.Tensor) -> torch.Tensor:
        """From the face CNN's output (B, 1024, F) on: lets training reuse cached features."""
        a = self.audio_tcn.stage1(audio)
        v = self.video_tcn.stage1(face_features)
        a, v = self.fuse_stage1(a, v)
        return self.classify(self.pool(self.audio_tcn.stage2(a), self.video_tcn.stage2(v)))


class IAFusion(nn.Module):
    """Intermediate attention: each stream is gated over time by the attention the other paid it."""

    def __init__(self, heads: int, gate: str):
        super().__init__()
        self.gate = gate
        self.audio_over_video = AttentionMaps(AUDIO_STAGE1_DIM, VIDEO_STAGE1_DIM, heads)
        self.video_over_audio = AttentionMaps(VIDEO_STAGE1_DIM, AUDIO_STAGE1_DIM, heads)

    def forward(self, a: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        at, vt = a.transpose(1, 2), v.transpose(1, 2)
        on_video = self.audio_over_video(vt, at)  # (B, Ta, Tv): audio queries, video keys
        on_audio = self.video_over_audio(at, vt)  # (B, Tv, Ta)
        return gate_stream(a, on_audio, self.gate), gate_stream(v, on_video, self.gate)


class ITFusion(nn.Module):
    """Intermediate Transformer: cross-attention block outputs added residually to each stream."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        mk = lambda dq, dk: CrossAttentionBlock(dq, dk, cfg.heads, cfg.mlp_ratio, cfg.dropout)  # noqa: E731
        self.audio_over_video = nn.ModuleList(mk(AUDIO_STAGE1_DIM, VIDEO_STAGE1_DIM) for _ in range(cfg.it_blocks))
        self.video_over_audio = nn.ModuleList(mk(VIDEO_STAGE1_DIM, AUDIO_STAGE1_DIM) for _ in range(cfg.it_blocks))

    def forward(self, a: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        at, vt = a.transpose(1, 2), v.transpose(1, 2)
        for av, va in zip(self.audio_over_video, self.video_over_audio):
            at, vt = at + av(vt, at), vt + va(at, vt)
        return at.transpose(1, 2), vt.transpose(1, 2)


class LTFusion(nn.Module):
    """Late Transformer: cross-attention blocks on the stage-2 sequences, then mean-pooled."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        mk = lambda: CrossAttentionBlock(AUDIO_DIM, VIDEO_DIM, cfg.heads, cfg.mlp_ratio, cfg.dropout)  # noqa: E731
        self.audio_over_video = nn.ModuleList(mk() for _ in range(cfg.lt_blocks))
        self.video_over_audio = nn.ModuleList(mk() for _ in range(cfg.lt_blocks))

    def forward(self, a: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        at, vt = a.transpose(1, 2), v.transpose(1, 2)
        for av, va in zip(self.audio_over_video, self.video_over_audio):
            at, vt = av(vt, at), va(at, vt)
        return torch.cat([at.mean(dim=1), vt.mean(dim=1)], dim=-1)


class IANet(FusionNet):
    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg)
        self.fusion = IAFusion(cfg.heads, cfg.gate)

    def fuse_stage1(self, a, v):
        return self.fusion(a, v)


class ITNet(FusionNet):
    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg)
        self.fusion = ITFusion(cfg)

    def fuse_stage1(self, a, v):
        return self.fusion(a, v)


class LTNet(FusionNet):
    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg)
        self.fusion = LTFusion(cfg)

    def pool(self, a, v):
        return self.fusion(a, v)


@register_model("video")
def video_model(cfg: ModelConfig) -> VideoNet:
    return VideoNet(cfg)


@register_model("ia")
def ia_model(cfg: ModelConfig) -> IANet:
    return IANet(cfg)


@register_model("it")
def it_model(cfg: ModelConfig) -> ITNet:
    return ITNet(cfg)


@register_model("lt")
def lt_model(cfg: ModelConfig) -> LTNet:
    return LTNet(cfg)
