"""Train the small models the chapters load, and save them under chapters/checkpoints/.

Chapters read results from these files instead of training at run time, so their stored
outputs do not depend on how a given CPU rounds thousands of training steps. Regenerate with

    python tools/train_checkpoints.py            # all
    python tools/train_checkpoints.py reverse    # one
"""

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lib import DecoderOnlyTransformer, Transformer, TransformerConfig, make_reproducible  # noqa: E402
from lib.checkpoint import save_checkpoint  # noqa: E402
from lib.corpus import random_windows, word_level_corpus  # noqa: E402
from lib.decoding import sequence_accuracy  # noqa: E402
from lib.tasks import make_pairs, random_batches, task_vocabulary  # noqa: E402
from lib.training import (  # noqa: E402
    TrainingHistory,
    language_model_loss,
    linear_warmup_schedule,
    seq2seq_loss,
    train,
)

CHECKPOINTS = ROOT / "chapters" / "checkpoints"


def train_on_reverse(positional: str, steps: int) -> tuple[Transformer, TrainingHistory]:
    """A small encoder-decoder trained on reversing 4-12 letters; `positional` picks how it sees order."""
    generator = make_reproducible(0)
    vocabulary = task_vocabulary("reverse", num_symbols=10)
    config = TransformerConfig(
        vocab_size=len(vocabulary), d_model=64, num_heads=4, d_ff=128, num_encoder_layers=2, num_decoder_layers=2,
        max_len=32, norm_first=True, positional=positional,
    )  # fmt: skip
    model = Transformer(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, linear_warmup_schedule(100, steps))
    batches = random_batches("reverse", 64, 4, 12, 10, generator)
    history = train(model, batches, seq2seq_loss, optimizer, steps, scheduler, description=positional)
    return model, history


def train_reverse() -> None:
    """The attention chapter's model: its cross-attention should form an anti-diagonal."""
    model, history = train_on_reverse("sinusoidal", steps=1500)
    held_out = make_pairs("reverse", 1000, 4, 12, 10, torch.Generator().manual_seed(1234))
    accuracy = sequence_accuracy(model, held_out)
    extra = {"task": "reverse", "steps": 1500, "min_length": 4, "max_length": 12, "held_out_accuracy": accuracy,
             "final_loss": sum(history.losses[-50:]) / 50}  # fmt: skip
    save_checkpoint(model, CHECKPOINTS / "reverse.pt", extra)
    print(f"reverse: {accuracy:.1%} exact on 1,000 held-out sequences")


def train_positional(kind: str) -> None:
    """The positional chapter's four models, differing only in how they are told positions."""
    steps = 1000
    model, history = train_on_reverse(kind, steps)
    loss_curve = [round(sum(history.losses[i : i + 10]) / 10, 4) for i in range(0, steps, 10)]
    extra = {"task": "reverse", "positional": kind, "steps": steps, "min_length": 4, "max_length": 12,
             "loss_every_10_steps": loss_curve}  # fmt: skip
    save_checkpoint(model, CHECKPOINTS / f"positional-{kind}.pt", extra)
    print(f"positional-{kind}: final loss {loss_curve[-1]:.4f}")


def train_word_model(tied: bool) -> None:
    """The embedding chapter's language models: next-word prediction on Python's reference text."""
    generator = make_reproducible(0)
    tokenizer, training_ids, _ = word_level_corpus(max_vocab=1500)
    config = TransformerConfig(
        vocab_size=len(tokenizer.vocabulary), d_model=64, num_heads=4, d_ff=256, num_decoder_layers=2,
        max_len=64, norm_first=True, dropout=0.1, tie_embeddings=tied,
    )  # fmt: skip
    model = DecoderOnlyTransformer(config)
    steps = 3000
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, linear_warmup_schedule(200, steps))
    batches = random_windows(training_ids, 32, 33, generator)
    history = train(model, batches, language_model_loss, optimizer, steps, scheduler, description="words")
    loss_curve = [round(sum(history.losses[i : i + 10]) / 10, 4) for i in range(0, steps, 10)]
    name = "words-tied" if tied else "words-untied"
    save_checkpoint(model, CHECKPOINTS / f"{name}.pt", {"steps": steps, "loss_every_10_steps": loss_curve})
    print(f"{name}: final training loss {loss_curve[-1]:.3f}")


RECIPES = {"reverse": train_reverse}
RECIPES.update({"words-untied": lambda: train_word_model(False), "words-tied": lambda: train_word_model(True)})
RECIPES.update(
    {
        f"positional-{kind}": lambda kind=kind: train_positional(kind)
        for kind in ("none", "sinusoidal", "learned", "rotary")
    }
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"some of {sorted(RECIPES)}; default: all")
    args = parser.parse_args()
    CHECKPOINTS.mkdir(parents=True, exist_ok=True)
    for name in args.names or RECIPES:
        start = time.perf_counter()
        RECIPES[name]()
        print(f"  {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
