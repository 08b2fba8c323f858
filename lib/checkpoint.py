"""Save and load models as plain tensors and numbers, loadable with `torch.load(weights_only=True)`.

Pickled objects can run code when loaded; weights-only files cannot, so the book only ships those.
Each file records its model's class and config, its weights (a tied matrix once), the
*recipe* that trained it (task, steps, learning rate, batch size, warm-up, seed, ...), so that
`tools/train_checkpoints.py` and the file can be checked against each other, and `extra`
numbers the training produced (e.g. its loss curve).
"""

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from lib.finetuning import SnippetClassifier
from lib.model import DecoderOnlyTransformer, EncoderOnlyTransformer, Transformer
from lib.recurrent import RecurrentSeq2Seq

MODEL_CLASSES: dict[str, type[nn.Module]] = {
    cls.__name__: cls
    for cls in (Transformer, DecoderOnlyTransformer, EncoderOnlyTransformer, RecurrentSeq2Seq, SnippetClassifier)
}


def register_model_class(cls: type[nn.Module]) -> type[nn.Module]:
    """Let checkpoints save and rebuild `cls` (it needs a `config_class` and a `.config` with `to_dict`)."""
    if not hasattr(cls, "config_class"):
        raise TypeError(f"{cls.__name__} needs a class attribute config_class to be saved in a checkpoint")
    MODEL_CLASSES[cls.__name__] = cls
    return cls


@dataclass
class CheckpointInfo:
    """What a checkpoint says about its model besides the weights. `info[key]` looks in recipe, then extra."""

    recipe: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)

    def __getitem__(self, key: str):
        if key in self.recipe:
            return self.recipe[key]
        return self.extra[key]


def save_checkpoint(model: nn.Module, path: str | Path, recipe: dict | None = None, extra: dict | None = None) -> None:
    """Write the model's class name, config, weights, training recipe and `extra` (plain numbers, strings, lists)."""
    name = type(model).__name__
    if name not in MODEL_CLASSES:
        raise TypeError(f"can only save registered lib models {sorted(MODEL_CLASSES)}, got {name}")
    recipe, extra = dict(recipe or {}), dict(extra or {})
    if clash := sorted(recipe.keys() & extra.keys()):
        raise ValueError(f"recipe and extra both define {clash}; a name must mean one thing")
    torch.save(
        {
            "model_class": name,
            "config": model.config.to_dict(),
            "state_dict": unique_weights(model),
            "recipe": recipe,
            "extra": extra,
        },
        path,
    )


def unique_weights(model: nn.Module) -> dict[str, torch.Tensor]:
    """The state dict with each shared (tied) tensor once, under its first name."""
    seen, weights = set(), {}
    for key, tensor in model.state_dict().items():
        if tensor.data_ptr() in seen and tensor.numel() > 0:
            continue
        seen.add(tensor.data_ptr())
        weights[key] = tensor.detach().clone()
    return weights


def load_checkpoint(path: str | Path) -> tuple[nn.Module, CheckpointInfo]:
    """Rebuild the saved model in eval mode; returns (model, info) with info.recipe and info.extra."""
    saved = torch.load(path, weights_only=True, map_location="cpu")
    if saved.get("model_class") not in MODEL_CLASSES:
        raise ValueError(f"{path}: unknown model class {saved.get('model_class')!r}; known: {sorted(MODEL_CLASSES)}")
    cls = MODEL_CLASSES[saved["model_class"]]
    model = cls(cls.config_class(**saved["config"]))
    expected = unique_weights(model).keys()
    missing = expected - saved["state_dict"].keys()
    unexpected = saved["state_dict"].keys() - model.state_dict().keys()
    if missing or unexpected:
        raise ValueError(
            f"{path}: weights do not fit {cls.__name__}: missing {sorted(missing)}, unexpected {sorted(unexpected)}"
        )
    model.load_state_dict(saved["state_dict"], strict=False)  # a tied matrix is loaded once, under its first name
    model.training_recipe = dict(saved.get("recipe", {}))  # what it was trained on: the explorer's hints read it
    return model.eval(), CheckpointInfo(saved.get("recipe", {}), saved.get("extra", {}))


def checkpoint_info(path: str | Path) -> CheckpointInfo:
    """The recipe and extra a checkpoint file records, without building a model.

    Works for both kinds of file the book ships: a whole model (`save_checkpoint`) and LoRA
    adapters alone (`lib.lora.save_adapters`), which need their base model to be loaded.
    """
    saved = torch.load(path, weights_only=True, map_location="cpu")
    if not isinstance(saved, dict) or "recipe" not in saved:
        raise ValueError(f"{path}: not a checkpoint of this book (no recipe recorded)")
    return CheckpointInfo(dict(saved["recipe"]), dict(saved.get("extra", {})))
