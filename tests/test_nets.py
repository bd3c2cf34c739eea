"""Networks: registry, config round-trip, output shapes and parameter counts."""

from __future__ import annotations

import json

import pytest
import torch

from emofusion.nets.config import ModelConfig
from emofusion.nets.registry import UnknownModelError, create_model, list_models


def test_registry_lists_models_and_rejects_unknown_names():
    names = list_models()
    assert "audio" in names
    with pytest.raises(UnknownModelError) as err:
        create_model("no-such-model")
    for name in names:
        assert name in str(err.value)
    with pytest.raises(ValueError, match="unknown ModelConfig fields"):
        create_model("audio", not_a_field=1)


def test_model_config_json_round_trip():
    cfg = ModelConfig(fusion="ia", face_size=112, gate="raw", heads=2, dropout=0.1)
    again = ModelConfig.from_dict(json.loads(cfg.to_json()))
    assert again == cfg
    with pytest.raises(ValueError, match="unknown ModelConfig keys"):
        ModelConfig.from_dict({"fusion": "ia", "bogus": 1})
    with pytest.raises(ValueError, match="gate"):
        ModelConfig(gate="tanh")


@pytest.mark.parametrize("batch", [1, 3])
def test_audio_model_shape(batch):
    model = create_model("audio").eval()
    assert model.inputs == ("audio",)
    with torch.no_grad():
        out = model(torch.randn(batch, 10, 156))
    assert out.shape == (batch, 8) and out.dtype == torch.float32
