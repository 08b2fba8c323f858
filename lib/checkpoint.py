"""Save and load models as plain tensors and numbers, loadable with `torch.load(weights_only=True)`.

Pickled objects can run code when loaded; weights-only files cannot, so the book only ships those.
"""

from pathlib import Path

import torch
from torch import nn

from lib.config import TransformerConfig
from lib.model import DecoderOnlyTransformer, EncoderOnlyTransformer, Transformer

MODEL_CLASSES = {cls.__name__: cls for cls in (Transformer, DecoderOnlyTransformer, EncoderOnlyTransformer)}


def save_checkpoint(model: nn.Module, path: str | Path, extra: dict | None = None) -> None:
    """Write the model's class name, config and weights (and `extra`: plain numbers, strings, lists)."""
    name = type(model).__name__
    if name not in MODEL_CLASSES:
        raise TypeError(f"can only save lib models {sorted(MODEL_CLASSES)}, got {name}")
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    torch.save({"model_class": name, "config": model.config.to_dict(), "state_dict": state, "extra": extra or {}}, path)


def load_checkpoint(path: str | Path) -> tuple[nn.Module, dict]:
    """Rebuild the saved model in eval mode; returns (model, extra)."""
    saved = torch.load(path, weights_only=True, map_location="cpu")
    model = MODEL_CLASSES[saved["model_class"]](TransformerConfig(**saved["config"]))
    model.load_state_dict(saved["state_dict"])
    return model.eval(), saved["extra"]
