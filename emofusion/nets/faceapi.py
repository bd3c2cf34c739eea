"""The face-api.js expression network (vladmandic/face-api 1.7.15), re-implemented in PyTorch.

Architecture, read from the package's `src/faceFeatureExtractor` and `src/faceExpressionNet`:
112x112 RGB in 0-255, minus the per-channel mean (122.782, 117.001, 104.298), divided by 255;
four dense blocks (32, 64, 128, 256 channels), each: conv0 (stride 2; a plain 3x3 conv in the first
block, a depthwise-separable one after) then three depthwise-separable 3x3 convs whose inputs are
ReLU(sum of all earlier outputs of the block); a 7x7 average pool (global at 112 px) gives 256
features; one dense layer gives 7 logits in face-api's order (HEAD_CLASSES).

TensorFlow's "same" padding on a stride-2 conv of an even-sized input pads 0 top/left and 1
bottom/right; PyTorch's symmetric padding=1 shifts every sampling grid by a pixel (it changes the
top answer on about 14 % of CK+ faces), so those convs pad explicitly. Weights come from
`emofusion.pretrained.faceapi` (the npm tarball, sha256-checked); parity with the original
JavaScript is tests/test_faceapi.py against tests/fixtures/faceapi_golden.npz.

The product interface matches `FaceExpressionNet`: (B, F, 3, S, S) faces in [0, 1] -> (B, 8)
RAVDESS log(mean over frames of the per-frame probabilities), so the predictor needs no change.
Crops are made by media/faces.py with `VideoConfig(framing="faceapi")` (face-api's own framing,
zero-padded square): the graph itself only resizes to 112 px when given another size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from emofusion.constants import FACES
from emofusion.nets.config import ModelConfig
from emofusion.nets.registry import register_model

INPUT_SIZE = 112
MEAN_RGB = (122.782, 117.001, 104.298)
WIDTHS = (32, 64, 128, 256)
FEATURES = 256
# The one place the head's classes meet RAVDESS's. face-api's 7 classes, in its output order:
HEAD_CLASSES = ("neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised")
# For each RAVDESS class (neutral, calm, happy, sad, angry, fearful, disgust, surprised) the head
# index feeding it. Calm (-1) has no facial expression of its own: the face model gives it
# probability 0 (as the FER+ face model does); fusion models learn calm from the voice.
RAVDESS_FROM_HEAD = (0, -1, 1, 2, 3, 4, 5, 6)


def _pad_same(x: torch.Tensor, stride: int) -> torch.Tensor:
    """TensorFlow 'same' padding for a 3x3 kernel: total = max(k - s, 0) (even input) or
    computed from the size, the extra pixel on the bottom/right."""
    h, w = x.shape[-2:]
    ph = max((-(-h // stride) - 1) * stride + 3 - h, 0)
    pw = max((-(-w // stride) - 1) * stride + 3 - w, 0)
    return F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))


class SeparableConv(nn.Module):
    """tf.separableConv2d(depthwise 3x3, pointwise 1x1, 'same') + bias."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1):
        super().__init__()
        self.stride = stride
        # stride 1: 'same' is one pixel on every side, which the conv pads itself (no separate Pad
        # node in the ONNX graph: ~3 ms of ONNX Runtime's 5 faces); stride 2 pads asymmetrically
        self.depthwise = nn.Conv2d(c_in, c_in, 3, stride=stride, groups=c_in, bias=False,
                                   padding=1 if stride == 1 else 0)
        self.pointwise = nn.Conv2d(c_in, c_out, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x if self.stride == 1 else _pad_same(x, self.stride)))


class PlainConv(nn.Module):
    """tf.conv2d(3x3, stride 2, 'same') + bias: the first block's conv0 (3 input channels)."""

    def __init__(self, c_in: int, c_out: int, stride: int = 2):
        super().__init__()
        self.stride = stride
        self.conv = nn.Conv2d(c_in, c_out, 3, stride=stride, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(_pad_same(x, self.stride))


class DenseBlock4(nn.Module):
    """face-api's denseBlock4: out_k = conv_k(relu(out_1 + ... + out_{k-1})), answer relu(sum)."""

    def __init__(self, c_in: int, c_out: int, first: bool = False):
        super().__init__()
        self.conv0 = PlainConv(c_in, c_out) if first else SeparableConv(c_in, c_out, stride=2)
        self.conv1 = SeparableConv(c_out, c_out)
        self.conv2 = SeparableConv(c_out, c_out)
        self.conv3 = SeparableConv(c_out, c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out1 = torch.relu(self.conv0(x))
        out2 = self.conv1(out1)
        out3 = self.conv2(torch.relu(out1 + out2))
        out4 = self.conv3(torch.relu(out1 + out2 + out3))
        return torch.relu(out1 + out2 + out3 + out4)


class FaceApiBackbone(nn.Module):
    """(N, 3, 112, 112) RGB 0-255 -> (N, 256) pooled features (the original's normalisation inside)."""

    out_dim = FEATURES

    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.tensor(MEAN_RGB).view(1, 3, 1, 1), persistent=False)
        c_in, blocks = 3, []
        for i, c in enumerate(WIDTHS):
            blocks.append(DenseBlock4(c_in, c, first=i == 0))
            c_in = c
        self.dense0, self.dense1, self.dense2, self.dense3 = blocks

    def forward(self, rgb255: torch.Tensor) -> torch.Tensor:
        x = (rgb255 - self.mean) / 255.0
        x = self.dense3(self.dense2(self.dense1(self.dense0(x))))
        return x.mean(dim=(2, 3))  # avgPool 7x7 'valid' on the 7x7 map = the global mean


def ravdess_probs(head_logits: torch.Tensor, head: nn.Module) -> torch.Tensor:
    """(..., 7) head logits -> (..., 8) RAVDESS probabilities (calm 0), with `head`'s log_prior,
    to_ravdess and no_face_class buffers (the face model's, or a fusion's copy of its head)."""
    p = torch.softmax(head_logits - head.log_prior, dim=-1)
    return p.index_select(-1, head.to_ravdess).masked_fill(head.no_face_class, 0.0)


class FaceApiHead(nn.Module):
    """The face model's head, frozen, inside a fusion (`face_input="probs"`): (..., 256) features ->
    (..., 8) RAVDESS log-probabilities per frame, floored at 1e-4 (calm, never a face's answer, is
    the floor)."""

    def __init__(self):
        super().__init__()
        self.head = nn.Linear(FEATURES, len(HEAD_CLASSES))
        self.register_buffer("log_prior", torch.zeros(len(HEAD_CLASSES)))
        self.register_buffer("to_ravdess", torch.tensor([max(i, 0) for i in RAVDESS_FROM_HEAD]), persistent=False)
        self.register_buffer("no_face_class", torch.tensor([i < 0 for i in RAVDESS_FROM_HEAD]), persistent=False)
        self.requires_grad_(False)

    def load_from(self, face_model: "FaceApiExpressionNet") -> None:
        self.head.load_state_dict(face_model.head.state_dict())
        self.log_prior.copy_(face_model.log_prior)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.log(ravdess_probs(self.head(features), self).clamp_min(1e-4))


class FaceApiExpressionNet(nn.Module):
    """(B, F, 3, S, S) faces in [0, 1] -> (B, 8) RAVDESS-class log-probabilities."""

    inputs = (FACES,)
    head_classes = HEAD_CLASSES

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.face = FaceApiBackbone()
        self.drop = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(FEATURES, len(HEAD_CLASSES))
        idx = torch.tensor([max(i, 0) for i in RAVDESS_FROM_HEAD])
        self.register_buffer("to_ravdess", idx, persistent=False)
        self.register_buffer("no_face_class", torch.tensor([i < 0 for i in RAVDESS_FROM_HEAD]), persistent=False)
        # log class prior subtracted before the RAVDESS answer (zeros = none, the original's answer)
        self.register_buffer("log_prior", torch.zeros(len(HEAD_CLASSES)))

    @staticmethod
    def to_input(images: torch.Tensor) -> torch.Tensor:
        """(N, 3, S, S) in [0, 1] -> (N, 3, 112, 112) in 0-255 (bilinear resize only if S != 112)."""
        x = images * 255.0
        if x.shape[-1] != INPUT_SIZE or x.shape[-2] != INPUT_SIZE:
            x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
        return x

    def frame_features(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 3, S, S) in [0, 1] -> (N, 256)."""
        return self.face(self.to_input(images))

    def frame_logits(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 3, S, S) in [0, 1] -> (N, 7) logits in HEAD_CLASSES order (training, FER+/CK+ figures)."""
        return self.head(self.drop(self.frame_features(images)))

    def forward_features(self, faces: torch.Tensor) -> torch.Tensor:
        """(B, F, 3, S, S) -> (B, F, 256) per-frame pooled features (the fusion models' visual input)."""
        b, f = faces.shape[:2]
        return self.frame_features(faces.flatten(0, 1)).unflatten(0, (b, f))

    def head_probs(self, features: torch.Tensor) -> torch.Tensor:
        """(..., 256) -> (..., 8) RAVDESS probabilities per frame (calm 0)."""
        return ravdess_probs(self.head(self.drop(features)), self)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """(B, F, 256) -> (B, 8) log(mean over frames of the per-frame RAVDESS probabilities)."""
        return torch.log(self.head_probs(features).mean(dim=1).clamp_min(1e-12))

    def forward(self, faces: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(faces))


@register_model("face_faceapi")
def face_faceapi(cfg: ModelConfig) -> FaceApiExpressionNet:
    return FaceApiExpressionNet(cfg)


def model_config() -> ModelConfig:
    """The published network as the registry builds it (15 frames: any count works at run time)."""
    return ModelConfig(fusion="face_faceapi", face_size=INPUT_SIZE, n_frames=15)


def media_config(n_frames: int = 5):
    """What the product feeds it: face-api-framed crops of 112 px."""
    from emofusion.config import MediaConfig, VideoConfig

    return MediaConfig(video=VideoConfig(n_frames=n_frames, face_size=INPUT_SIZE, framing="faceapi"))


def from_files(files) -> FaceApiExpressionNet:
    """The original network (eval mode) from verified `emofusion.pretrained.faceapi.FaceApiFiles`."""
    from emofusion.nets.registry import create_model
    from emofusion.pretrained.faceapi import decode_weights, to_state_dict

    model = create_model(model_config())
    sd = to_state_dict(decode_weights(files.manifest, files.weights))
    sd["log_prior"] = model.log_prior.clone()
    model.load_state_dict(sd, strict=True)
    return model.eval()


def pretrained(tgz=None, cache=None) -> FaceApiExpressionNet:
    """The original network from the pinned npm tarball (`tgz`, or `npm pack` into `cache`), sha256-checked."""
    from emofusion.pretrained.faceapi import load_files

    return from_files(load_files(tgz, cache))
