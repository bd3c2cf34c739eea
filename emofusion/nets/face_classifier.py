"""The face expression model: EfficientFace per frame, a FER+ head, answers in RAVDESS classes.

It is trained on single FER+ faces (8 FER+ classes, `frame_logits`) and used on clips: each frame's
FER+ probabilities are mapped to the RAVDESS classes (contempt dropped, calm never: see
data/faces_labelled.py) and averaged over the frames. `forward` returns log(mean probability), so a
softmax of its output is exactly the pooled distribution and the product treats it like any model.
"""

from __future__ import annotations

import torch
from torch import nn

from emofusion.constants import FACES
from emofusion.nets.config import ModelConfig
from emofusion.nets.efficientface import EfficientFace
from emofusion.nets.layers import ImageNetNorm
from emofusion.nets.registry import register_model

# FER+ class order of the head, and for each RAVDESS class the FER+ index feeding it (-1 = calm).
# Kept here (not imported from data/) so the network does not depend on the data loaders.
FERPLUS_HEAD = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt")
RAVDESS_FROM_HEAD = (0, -1, 1, 3, 4, 6, 5, 2)


class FaceExpressionNet(nn.Module):
    """(B, F, 3, S, S) faces in [0, 1] -> (B, 8) RAVDESS-class log-probabilities."""

    inputs = (FACES,)

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.face_norm = ImageNetNorm(grey=cfg.face_grey)
        self.face = EfficientFace()
        self.drop = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(EfficientFace.out_dim, len(FERPLUS_HEAD))
        idx = torch.tensor([max(i, 0) for i in RAVDESS_FROM_HEAD])
        self.register_buffer("to_ravdess", idx, persistent=False)
        self.register_buffer("no_face_class", torch.tensor([i < 0 for i in RAVDESS_FROM_HEAD]), persistent=False)
        # log of the training set's class prior (FER+: 32 % neutral, 1 % disgust). Subtracted before
        # the RAVDESS answer: acted emotions come in equal shares, so the answer should not lean
        # to FER+'s frequent classes (the Bayes correction for a uniform prior). Zeros = none.
        self.register_buffer("log_prior", torch.zeros(len(FERPLUS_HEAD)))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        state_dict.setdefault(prefix + "log_prior", torch.zeros(len(FERPLUS_HEAD)))  # files from before it
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward_features(self, faces: torch.Tensor) -> torch.Tensor:
        """(B, F, 3, S, S) -> (B, F, 1024) per-frame face features."""
        b, f = faces.shape[:2]
        return self.face(self.face_norm(faces.flatten(0, 1))).unflatten(0, (b, f))

    def frame_logits(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 3, S, S) -> (N, 8) FER+ logits: what training and the FER+ / CK+ figures use."""
        return self.head(self.drop(self.face(self.face_norm(images))))

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """(B, F, 1024) -> (B, 8) RAVDESS log(mean over frames of the per-frame, prior-corrected
        probabilities)."""
        fer = torch.softmax(self.head(self.drop(features)) - self.log_prior, dim=-1)  # (B, F, 8)
        rav = fer.index_select(-1, self.to_ravdess).masked_fill(self.no_face_class, 0.0)
        rav = rav / rav.sum(dim=-1, keepdim=True)  # contempt's share spread back by renormalising
        return torch.log(rav.mean(dim=1).clamp_min(1e-12))

    def forward(self, faces: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(faces))


@register_model("face")
def face_model(cfg: ModelConfig) -> FaceExpressionNet:
    return FaceExpressionNet(cfg)
