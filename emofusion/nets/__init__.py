"""emofusion.nets: the networks (EfficientFace, temporal stacks, IA/IT/LT fusion), built by name.

`create_model("ia", face_size=112)` builds from the registry; `checkpoint.load_checkpoint` rebuilds a
trained model with its own preprocessing config. Importing this package does not import torch.
"""

from emofusion.nets.config import ModelConfig
from emofusion.nets.registry import create_model, list_models, register_model

__all__ = ["ModelConfig", "create_model", "list_models", "register_model"]
