"""Train the small models the chapters load, and save them under chapters/checkpoints/.

Chapters read results from these files instead of training at run time, so their stored
outputs do not depend on how a given CPU rounds thousands of training steps. Regenerate with

    python tools/train_checkpoints.py            # all
    python tools/train_checkpoints.py reverse    # one
"""

import argparse
import copy
import functools
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lib import DecoderOnlyTransformer, Transformer, TransformerConfig, make_reproducible  # noqa: E402
from lib.bpe import BytePairTokenizer  # noqa: E402
from lib.chat import CHAT_TOKENS, ChatTokenizer, train_only_new_rows, with_new_tokens  # noqa: E402
from lib.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from lib.corpus import english_corpus, python_code_corpus, random_windows, word_level_corpus  # noqa: E402
from lib.decoding import sequence_accuracy  # noqa: E402
from lib.finetuning import NEXT_WORDS, SnippetClassifier, fine_tune, make_next_word_task, pretraining_split  # noqa: E402
from lib.instructions import make_instructions, plausible_wrong_answer  # noqa: E402
from lib.lora import add_lora, save_adapters  # noqa: E402
from lib.preference import PreferencePair  # noqa: E402
from lib.pretraining import (  # noqa: E402
    PretrainingRecipe,
    book_tokenizer,
    code_gpt_config,
    code_tokenizer,
    corpus_ids,
    gpt_config,
    pretrain,
)
from lib.recurrent import RecurrentConfig, RecurrentSeq2Seq  # noqa: E402
from lib.tasks import make_pairs, random_batches, task_vocabulary  # noqa: E402
from lib.tokenizers import CharTokenizer  # noqa: E402
from lib.training import (  # noqa: E402
    TrainingHistory,
    cosine_schedule,
    language_model_loss,
    linear_warmup_schedule,
    seq2seq_loss,
    train,
)
from lib.tuning import (  # noqa: E402
    TuningRecipe,
    exact_match,
    greedy_answers,
    preference_tune,
    supervised_fine_tune,
)

CHECKPOINTS = ROOT / "chapters" / "checkpoints"


def mean_losses(history: TrainingHistory, every: int) -> list[float]:
    """The training loss averaged over each run of `every` steps, rounded: the curve a chapter plots."""
    losses = history.losses
    return [round(sum(losses[i : i + every]) / every, 4) for i in range(0, len(losses), every)]


def train_seq2seq(model: torch.nn.Module, recipe: dict, generator: torch.Generator, description: str = "training"):
    """How every sequence-to-sequence checkpoint is trained: Adam, linear warm-up then linear decay,
    gradient clipping, and fresh batches of `recipe["task"]`, all as the recipe says."""
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe["learning_rate"])
    schedule = linear_warmup_schedule(max(1, recipe["warmup_steps"]), recipe["steps"])  # warm-up 0: full rate at once
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    batches = random_batches(
        recipe["task"], recipe["batch_size"], recipe["min_length"], recipe["max_length"],
        recipe.get("num_symbols", 10), generator,
    )  # fmt: skip
    return train(
        model, batches, seq2seq_loss, optimizer, recipe["steps"], scheduler, recipe["clip_grad_norm"],
        description=description,
    )  # fmt: skip


def reverse_recipe(positional: str, steps: int, seed: int = 0) -> dict:
    """How the reverse-task transformers are trained; saved in each checkpoint beside its weights."""
    return {"task": "reverse", "positional": positional, "steps": steps, "learning_rate": 2e-3, "batch_size": 64,
            "warmup_steps": 100, "schedule": "linear warm-up, linear decay", "optimizer": "Adam",
            "clip_grad_norm": 1.0, "min_length": 4, "max_length": 12, "num_symbols": 10, "seed": seed}  # fmt: skip


def train_on_reverse(recipe: dict) -> tuple[Transformer, TrainingHistory]:
    """A small encoder-decoder trained on reversing 4-12 letters; `recipe["positional"]` picks how it sees order."""
    generator = make_reproducible(recipe["seed"])
    vocabulary = task_vocabulary("reverse", num_symbols=recipe["num_symbols"])
    config = TransformerConfig(
        vocab_size=len(vocabulary), d_model=64, num_heads=4, d_ff=128, num_encoder_layers=2, num_decoder_layers=2,
        max_len=32, norm_first=True, positional=recipe["positional"],
    )  # fmt: skip
    model = Transformer(config)
    return model, train_seq2seq(model, recipe, generator, description=recipe["positional"])


def train_reverse() -> None:
    """The attention chapter's model: its cross-attention should form an anti-diagonal."""
    recipe = reverse_recipe("sinusoidal", steps=1500)
    model, history = train_on_reverse(recipe)
    held_out = make_pairs("reverse", 1000, 4, 12, 10, torch.Generator().manual_seed(1234))
    accuracy = sequence_accuracy(model, held_out)
    extra = {"held_out_accuracy": accuracy, "final_loss": sum(history.losses[-50:]) / 50}
    save_checkpoint(model, CHECKPOINTS / "reverse.pt", recipe, extra)
    print(f"reverse: {accuracy:.1%} exact on 1,000 held-out sequences")


def seed_suffix(seed: int) -> str:
    """Seed 0 keeps the plain file name; the chapters' extra seeds get "-seed1", "-seed2"."""
    return "" if seed == 0 else f"-seed{seed}"


def train_positional(kind: str, seed: int = 0) -> None:
    """The positional chapter's four models, differing only in how they are told positions (3 seeds each)."""
    recipe = reverse_recipe(kind, steps=1000, seed=seed)
    model, history = train_on_reverse(recipe)
    loss_curve = mean_losses(history, 10)
    name = f"positional-{kind}{seed_suffix(seed)}"
    save_checkpoint(model, CHECKPOINTS / f"{name}.pt", recipe, {"loss_every_10_steps": loss_curve})
    print(f"{name}: final loss {loss_curve[-1]:.4f}")


def train_word_model(tied: bool, seed: int = 0) -> None:
    """The embedding chapter's language models: next-word prediction on Python's reference text (3 seeds each)."""
    recipe = {"task": "next word", "corpus": "Python reference (pydoc_data.topics)", "max_vocab": 1500,
              "tie_embeddings": tied, "steps": 3000, "learning_rate": 3e-3, "batch_size": 32, "window": 33,
              "warmup_steps": 200, "schedule": "linear warm-up, linear decay", "optimizer": "Adam",
              "clip_grad_norm": 1.0, "dropout": 0.1, "seed": seed}  # fmt: skip
    generator = make_reproducible(recipe["seed"])
    tokenizer, training_ids, _ = word_level_corpus(max_vocab=recipe["max_vocab"])
    config = TransformerConfig(
        vocab_size=len(tokenizer.vocabulary), d_model=64, num_heads=4, d_ff=256, num_decoder_layers=2,
        max_len=64, norm_first=True, dropout=recipe["dropout"], tie_embeddings=tied,
    )  # fmt: skip
    model = DecoderOnlyTransformer(config)
    steps = recipe["steps"]
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe["learning_rate"])
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, linear_warmup_schedule(recipe["warmup_steps"], steps))
    batches = random_windows(training_ids, recipe["batch_size"], recipe["window"], generator)
    history = train(
        model, batches, language_model_loss, optimizer, steps, scheduler, recipe["clip_grad_norm"], description="words"
    )
    loss_curve = mean_losses(history, 10)
    name = ("words-tied" if tied else "words-untied") + seed_suffix(seed)
    save_checkpoint(model, CHECKPOINTS / f"{name}.pt", recipe, {"loss_every_10_steps": loss_curve})
    print(f"{name}: final training loss {loss_curve[-1]:.3f}")


def placement_recipe(norm_first: bool, warmup_steps: int, seed: int) -> dict:
    """The encoder-decoder chapter's Post-LN / Pre-LN runs: a deep, narrow model at a high learning rate."""
    return {"task": "copy", "norm_first": norm_first, "warmup_steps": warmup_steps, "seed": seed, "steps": 600,
            "learning_rate": 1e-2, "batch_size": 32, "min_length": 4, "max_length": 8, "num_symbols": 13,
            "schedule": "linear warm-up (if any), linear decay", "optimizer": "Adam", "clip_grad_norm": 1.0,
            "weights_stored_as": "float16"}  # fmt: skip


def placement_name(norm_first: bool, warmup_steps: int, seed: int) -> str:
    return f"placement-{'pre' if norm_first else 'post'}-warmup{warmup_steps}-seed{seed}"


def train_placement(norm_first: bool, warmup_steps: int, seed: int) -> None:
    """6 + 6 layers, d_model 32, on the copy task: Post-LN or Pre-LN, with or without warm-up.

    Twelve of these (2 placements x 2 warm-ups x 3 seeds) would be too big in float32, so the
    weights are stored in float16 (a 0.05% rounding); the chapter evaluates what is stored.
    """
    recipe = placement_recipe(norm_first, warmup_steps, seed)
    generator = make_reproducible(seed)
    vocabulary = task_vocabulary("copy", num_symbols=recipe["num_symbols"])
    config = TransformerConfig(
        vocab_size=len(vocabulary), d_model=32, num_heads=4, d_ff=64, num_encoder_layers=6, num_decoder_layers=6,
        max_len=16, norm_first=norm_first,
    )  # fmt: skip
    model = Transformer(config)
    history = train_seq2seq(model, recipe, generator)
    loss_curve = mean_losses(history, 10)
    name = placement_name(norm_first, warmup_steps, seed)
    save_checkpoint(model.half(), CHECKPOINTS / f"{name}.pt", recipe, {"loss_every_10_steps": loss_curve})
    print(f"{name}: final training loss {loss_curve[-1]:.3f}")


def train_sort() -> None:
    """The generation chapter's trained encoder-decoder: sorts 4-12 of 10 letters, which needs comparing symbols."""
    recipe = {"task": "sort", "steps": 1500, "learning_rate": 2e-3, "batch_size": 32, "warmup_steps": 100,
              "schedule": "linear warm-up, linear decay", "optimizer": "Adam", "clip_grad_norm": 1.0,
              "min_length": 4, "max_length": 12, "num_symbols": 10, "seed": 0}  # fmt: skip
    generator = make_reproducible(recipe["seed"])
    vocabulary = task_vocabulary("sort", num_symbols=recipe["num_symbols"])
    config = TransformerConfig(
        vocab_size=len(vocabulary), d_model=64, num_heads=4, d_ff=128, num_encoder_layers=2, num_decoder_layers=2,
        max_len=32, norm_first=True,
    )  # fmt: skip
    model = Transformer(config)
    history = train_seq2seq(model, recipe, generator)
    loss_curve = mean_losses(history, 10)
    save_checkpoint(model, CHECKPOINTS / "sort.pt", recipe, {"loss_every_10_steps": loss_curve})
    print(f"sort: final training loss {loss_curve[-1]:.4f}")


RECURRENT_CHAPTER_MODELS = ("rnn-fixed", "gru-fixed", "gru-attention", "transformer")


def train_recurrent_chapter_model(kind: str, seed: int) -> None:
    """The RNN chapter's bottleneck comparison: reverse 4-20 letters, models of about 100k parameters.

    `kind`: an Elman RNN or GRU encoder-decoder with one fixed context vector (Cho et al. 2014), the
    GRU one with Bahdanau attention, or lib's transformer (1+1 layers, d_ff 192). The recurrent ones
    get 600 steps, the transformer 2,000: its steps are about three times cheaper on a CPU.
    """
    recurrent = kind != "transformer"
    recipe = {"task": "reverse", "model": kind, "steps": 600 if recurrent else 2000,
              "learning_rate": 3e-3 if recurrent else 2e-3, "batch_size": 64, "warmup_steps": 100,
              "schedule": "linear warm-up, linear decay", "optimizer": "Adam", "clip_grad_norm": 1.0,
              "min_length": 4, "max_length": 20, "num_symbols": 10, "seed": seed}  # fmt: skip
    generator = make_reproducible(seed)
    vocab_size = len(task_vocabulary("reverse", recipe["num_symbols"]))
    if recurrent:
        cell, context = kind.split("-")
        config = RecurrentConfig(
            vocab_size, embedding_dim=32, hidden_size=64, cell=cell, attention=context == "attention"
        )
        model = RecurrentSeq2Seq(config)
    else:
        model = Transformer(TransformerConfig.tiny(vocab_size, d_ff=192, max_len=64))
    start = time.perf_counter()
    history = train_seq2seq(model, recipe, generator, description=kind)
    extra = {"final_loss": sum(history.losses[-50:]) / 50, "training_seconds": round(time.perf_counter() - start)}
    save_checkpoint(model, CHECKPOINTS / f"recurrent-{kind}-seed{seed}.pt", recipe, extra)
    print(f"recurrent-{kind}-seed{seed}: final loss {extra['final_loss']:.4f}")


PRETRAINING_STEPS = 1500


def train_pretrained_characters() -> None:
    """The training chapter's pretrained model: next-character prediction on 80% of Python's reference text."""
    recipe = {"task": "next character", "corpus": "pydoc_data.topics prose, first 80% of paragraphs",
              "steps": PRETRAINING_STEPS, "learning_rate": 3e-3, "batch_size": 32, "window": 65,
              "warmup_steps": 100, "schedule": "cosine to 0.1", "optimizer": "Adam", "clip_grad_norm": 1.0,
              "seed": 0}  # fmt: skip
    generator = make_reproducible(recipe["seed"])
    tokenizer, pretraining_paragraphs, _ = pretraining_split()
    ids = torch.tensor(tokenizer.encode("\n\n".join(pretraining_paragraphs)), dtype=torch.long)
    config = TransformerConfig(
        vocab_size=len(tokenizer.vocabulary), d_model=64, num_heads=4, d_ff=256, num_decoder_layers=2,
        max_len=64, norm_first=True,
    )  # fmt: skip
    model = DecoderOnlyTransformer(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe["learning_rate"])
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, cosine_schedule(100, recipe["steps"], 0.1))
    batches = random_windows(ids, recipe["batch_size"], recipe["window"], generator)
    history = train(model, batches, language_model_loss, optimizer, recipe["steps"], scheduler, description="pretrain")
    loss_curve = mean_losses(history, 50)
    save_checkpoint(model, CHECKPOINTS / "pretrained-characters.pt", recipe, {"loss_every_50_steps": loss_curve})
    print(f"pretrained-characters: final training loss {loss_curve[-1]:.3f}")


SCRATCH_CLASSIFIER_LABELS = (32, 128)


def train_scratch_classifier(num_labels: int, seed: int) -> None:
    """The training chapter's fair baseline: the pretrained model's network from random weights,
    fine-tuned with its own recipe, as the chapter's `fine_tuned("scratch", ...)` does (the same
    seeds, labelled snippets and lib.finetuning.fine_tune). Stored in float16: 0.23 MB each."""
    recipe = {"task": "which word comes next", "start": "random weights", "labels": num_labels, "steps": 300,
              "learning_rate": 3e-4, "batch_size": 16, "dtype": "float32", "stored_as": "float16",
              "seed": seed}  # fmt: skip
    make_reproducible(0)
    pretrained, _ = load_checkpoint(CHECKPOINTS / "pretrained-characters.pt")
    tokenizer, _, held_out_paragraphs = pretraining_split()
    labelled_pool = make_next_word_task(held_out_paragraphs[0::2], tokenizer, 128, seed=1)  # as in the chapter
    first_letters = tokenizer.encode("".join(word[0] for word in NEXT_WORDS))
    torch.manual_seed(seed)
    model = SnippetClassifier(DecoderOnlyTransformer(pretrained.config), len(NEXT_WORDS), class_token_ids=first_letters)
    labelled = labelled_pool.balanced_subset(num_labels, seed)
    fine_tune(model, labelled, steps=recipe["steps"], seed=seed, learning_rate=recipe["learning_rate"])
    save_checkpoint(model.half(), CHECKPOINTS / scratch_classifier_name(num_labels, seed), recipe)
    print(f"{scratch_classifier_name(num_labels, seed)}: saved")


def scratch_classifier_name(num_labels: int, seed: int) -> str:
    return f"scratch-classifier-{num_labels}-labels-seed{seed}.pt"


def train_addition() -> None:
    """The training chapter's decoding model: adds two numbers of 1-4 digits; trained briefly, so it still errs."""
    recipe = {"task": "addition", "steps": 1200, "learning_rate": 2e-3, "batch_size": 64, "warmup_steps": 100,
              "schedule": "linear warm-up, linear decay", "optimizer": "Adam", "clip_grad_norm": 1.0,
              "min_length": 1, "max_length": 4, "seed": 0}  # fmt: skip
    generator = make_reproducible(recipe["seed"])
    model = Transformer(TransformerConfig.tiny(len(task_vocabulary("addition")), max_len=16))
    history = train_seq2seq(model, recipe, generator, description="addition")
    extra = {"final_loss": sum(history.losses[-50:]) / 50}
    save_checkpoint(model, CHECKPOINTS / "addition.pt", recipe, extra)
    print(f"addition: final training loss {extra['final_loss']:.4f}")


def gpt_name(size: str, tokenizer: str, seed: int) -> str:
    """ "gpt" is the chapter's main model (large, BPE, seed 0); the others name what differs."""
    parts = ["gpt"] + (["chars"] if tokenizer == "characters" else []) + ([size] if size != "large" else [])
    return "-".join(parts) + seed_suffix(seed)


def train_gpt(size: str, tokenizer_kind: str, seed: int) -> None:
    """The GPT chapter's models: `lib.pretraining.pretrain` on the book's English text, 500 steps of 16 x 128 tokens.

    Every size and tokenizer gets the same recipe and so the same number of training tokens.
    Weights are stored in float16 (what the page ships); the chapter evaluates what is stored.
    """
    recipe = PretrainingRecipe(seed=seed)
    if tokenizer_kind == "bpe":
        tokenizer = book_tokenizer()
        vocab_size = tokenizer.vocab_size
    else:
        tokenizer = CharTokenizer.from_text(english_corpus().training_text)
        vocab_size = len(tokenizer.vocabulary)
    training_ids, validation_ids = corpus_ids(tokenizer)
    make_reproducible(seed)  # the initial weights
    model = DecoderOnlyTransformer(gpt_config(vocab_size, size))
    log = pretrain(model, training_ids, validation_ids, recipe)
    name = gpt_name(size, tokenizer_kind, seed)
    recipe_saved = {**recipe.to_dict(), "task": "next token", "size": size, "tokenizer": tokenizer_kind,
                    "corpus": "lib.corpus.english_corpus() training text", "optimizer": "AdamW",
                    "schedule": "linear warm-up, cosine decay", "weights_stored_as": "float16"}  # fmt: skip
    extra = {"losses": [round(loss, 6) for loss in log.losses], "validation_steps": log.validation_steps,
             "validation_losses": [round(loss, 6) for loss in log.validation_losses],
             "training_seconds": round(log.training_seconds, 1), "tokens_seen": log.tokens_seen}  # fmt: skip
    save_checkpoint(model.half(), CHECKPOINTS / f"{name}.pt", recipe_saved, extra)
    print(f"{name}: validation loss {log.validation_losses[-1]:.3f}, {log.tokens_per_second:,.0f} tokens/s")


def save_gpt_tokenizer() -> None:
    """The byte-level BPE every GPT checkpoint uses, as JSON for the page (see lib.bpe)."""
    book_tokenizer().save(CHECKPOINTS / "gpt-bpe.json")
    print("gpt-bpe.json written")


CODE_GPT_RECIPES = {  # the capstone: a compute-sized run, and the GPT chapter's token budget as the baseline
    "long": dict(steps=4600, batch_size=16, context=256, learning_rate=3e-3, warmup_steps=200,
                 eval_every=500),
    "short": dict(steps=250, batch_size=16, context=256, learning_rate=3e-3, warmup_steps=25, eval_every=25),
}  # fmt: skip


@functools.cache
def code_data():
    """(tokenizer, training ids, validation ids) of the standard library's source, encoded once."""
    tokenizer = code_tokenizer()
    return (tokenizer, *corpus_ids(tokenizer, python_code_corpus()))


def code_gpt_name(budget: str, seed: int) -> str:
    return f"code-gpt-{budget}{seed_suffix(seed)}"


def train_code_gpt(budget: str, seed: int, threads: int = 1) -> None:
    """The capstone's models: `pretrain` on Python's standard library, the code the chapter's reader writes.

    "long" is sized by compute (seed 0 is the model the page ships; 45 minutes on one CPU thread);
    "short" has the GPT chapter's budget of about a million training tokens. Stored in float16, as the page ships it.
    """
    tokenizer, training_ids, validation_ids = code_data()
    recipe = PretrainingRecipe(seed=seed, **CODE_GPT_RECIPES[budget])
    make_reproducible(seed, threads)  # the initial weights
    model = DecoderOnlyTransformer(code_gpt_config(tokenizer.vocab_size))
    log = pretrain(model, training_ids, validation_ids, recipe)
    name = code_gpt_name(budget, seed)
    recipe_saved = {**recipe.to_dict(), "task": "next token", "budget": budget, "tokenizer": "code-bpe",
                    "corpus": "lib.corpus.python_code_corpus() training text", "optimizer": "AdamW",
                    "schedule": "linear warm-up, cosine decay", "weights_stored_as": "float16"}  # fmt: skip
    extra = {"losses": [round(loss, 4) for loss in log.losses[::10]], "validation_steps": log.validation_steps,
             "validation_losses": [round(loss, 4) for loss in log.validation_losses],
             "training_seconds": round(log.training_seconds, 1), "tokens_seen": log.tokens_seen,
             "training_tokens": len(training_ids)}  # fmt: skip
    save_checkpoint(model.half(), CHECKPOINTS / f"{name}.pt", recipe_saved, extra)
    print(f"{name}: validation loss {log.validation_losses[-1]:.3f}, {log.tokens_per_second:,.0f} tokens/s")


def save_code_tokenizer() -> None:
    """The capstone's byte-level BPE, learned on the standard library's source, as JSON (see lib.bpe)."""
    code_data()[0].save(CHECKPOINTS / "code-bpe.json")
    print("code-bpe.json written")


GPT_JOBS = [("large", "bpe", 0), ("medium", "bpe", 0), ("small", "bpe", 0), ("small", "bpe", 1), ("small", "bpe", 2),
            ("small", "characters", 0), ("small", "characters", 1), ("small", "characters", 2)]  # fmt: skip

RECIPES = {"reverse": train_reverse}
RECIPES.update(
    {
        f"recurrent-{kind}-seed{seed}": lambda kind=kind, seed=seed: train_recurrent_chapter_model(kind, seed)
        for kind in RECURRENT_CHAPTER_MODELS
        for seed in range(3)
    }
)
RECIPES.update(
    {
        f"words-{'tied' if tied else 'untied'}{seed_suffix(seed)}": lambda t=tied, s=seed: train_word_model(t, s)
        for seed in range(3)
        for tied in (False, True)
    }
)
RECIPES.update({"pretrained-characters": train_pretrained_characters, "addition": train_addition})
RECIPES.update(
    {
        scratch_classifier_name(n, seed).removesuffix(".pt"): lambda n=n, s=seed: train_scratch_classifier(n, s)
        for n in SCRATCH_CLASSIFIER_LABELS
        for seed in range(3)
    }
)
RECIPES.update(
    {
        f"positional-{kind}{seed_suffix(seed)}": lambda kind=kind, seed=seed: train_positional(kind, seed)
        for seed in range(3)
        for kind in ("none", "sinusoidal", "learned", "rotary")
    }
)

RECIPES["sort"] = train_sort
RECIPES.update(
    {
        placement_name(norm_first, warmup, seed): lambda n=norm_first, w=warmup, s=seed: train_placement(n, w, s)
        for norm_first in (False, True)
        for warmup in (0, 100)
        for seed in range(3)
    }
)
RECIPES.update({gpt_name(*job): lambda job=job: train_gpt(*job) for job in GPT_JOBS})
RECIPES.update({code_gpt_name(budget, seed): functools.partial(train_code_gpt, budget, seed)
                for budget in CODE_GPT_RECIPES for seed in range(3)})  # fmt: skip
# jobs that write something other than a .pt checkpoint
OTHER_FILES = {"gpt-bpe": save_gpt_tokenizer, "code-bpe": save_code_tokenizer}


# The modern-transformer chapter: the GPT chapter's small model and recipe, changed one idea at a time.
# GPT-2-like, not GPT-2: exact GELU (GPT-2: tanh), an output bias (GPT-2: none), no depth-scaled init (the variant)
MODERN_BASELINE = dict(activation="gelu", positional="learned", init="normal", scale_embeddings=False)
MODERN_VARIANTS = {
    "gpt2": {},
    "rmsnorm": {"norm": "rmsnorm"},
    "swiglu": {"activation": "swiglu", "d_ff": 170},  # 3 matrices of 64 x 170 ~ 2 of 64 x 256: equal parameters
    "rotary": {"positional": "rotary"},
    "gqa": {"num_kv_heads": 2},
    "mqa": {"num_kv_heads": 1},
    "depth-init": {"depth_scaled_init": True},
    "llama": {
        "norm": "rmsnorm",
        "activation": "swiglu",
        "d_ff": 170,
        "positional": "rotary",
        "num_kv_heads": 2,
        "depth_scaled_init": True,
    },  # fmt: skip
}


@functools.cache
def modern_data() -> tuple:
    """The GPT chapter's tokenizer and token ids, made once for all the modern-transformer jobs."""
    tokenizer = book_tokenizer()
    return (tokenizer, *corpus_ids(tokenizer))


def train_modern(variant: str, seed: int) -> None:
    """The GPT chapter's small model (2 layers, d_model 64) in a GPT-2-like form, or with one change.

    Every variant gets `lib.pretraining.pretrain` with the GPT chapter's recipe (500 steps of
    16 x 128 tokens) and the same seeds; weights are stored in float16 and the chapter evaluates
    what is stored.
    """
    recipe = PretrainingRecipe(seed=seed)
    tokenizer, training_ids, validation_ids = modern_data()
    make_reproducible(seed)  # the initial weights
    config = gpt_config(tokenizer.vocab_size, "small", **{**MODERN_BASELINE, **MODERN_VARIANTS[variant]})
    model = DecoderOnlyTransformer(config)
    log = pretrain(model, training_ids, validation_ids, recipe)
    recipe_saved = {**recipe.to_dict(), "task": "next token", "size": "small", "variant": variant,
                    "corpus": "lib.corpus.english_corpus() training text", "optimizer": "AdamW",
                    "schedule": "linear warm-up, cosine decay", "weights_stored_as": "float16"}  # fmt: skip
    extra = {"losses": [round(loss, 4) for loss in log.losses], "training_seconds": round(log.training_seconds, 1)}
    save_checkpoint(model.half(), CHECKPOINTS / f"modern-{variant}{seed_suffix(seed)}.pt", recipe_saved, extra)
    print(f"modern-{variant}{seed_suffix(seed)}: validation loss {log.validation_losses[-1]:.3f}")


RECIPES.update(
    {
        f"modern-{variant}{seed_suffix(seed)}": lambda v=variant, s=seed: train_modern(v, s)
        for seed in range(3)
        for variant in MODERN_VARIANTS
    }
)


# --- The post-training chapter: supervised fine-tuning, LoRA and DPO on checkable instructions ---------
ASSISTANT_RATES = (3e-4, 1e-3, 3e-3, 1e-2)  # the learning rates each recipe is chosen from, on validation instructions
LORA_RATES = (1e-3, 3e-3, 1e-2, 3e-2, 1e-1)  # LoRA's own grid, chosen per rank, reaching past its best rate
ASSISTANT_SFT = dict(steps=300, batch_size=32, warmup_steps=30)
ASSISTANT_DPO = dict(steps=150, batch_size=32, warmup_steps=15, learning_rate=3e-4, beta=0.1)
DPO_RANK = 8


@functools.cache
def assistant_data() -> tuple:
    """The chat tokenizer, the instructions and the training turns, made once for every assistant job."""
    tokenizer = ChatTokenizer(BytePairTokenizer.load(CHECKPOINTS / "code-bpe.json"))
    data = make_instructions()
    turns = [tokenizer.encode_turn(i.prompt, i.answer) for i in data.training]
    return tokenizer, data, turns


def validation_accuracy(model: torch.nn.Module) -> float:
    tokenizer, data, _ = assistant_data()
    answers = greedy_answers(copy.deepcopy(model).double(), tokenizer, [i.prompt for i in data.validation])
    return exact_match(answers, [i.answer for i in data.validation])


def assistant_start(arm: str, seed: int) -> torch.nn.Module:
    """The model an arm starts from: the capstone's GPT with three new token rows, or the same network at random."""
    tokenizer = assistant_data()[0]
    make_reproducible(seed)
    if arm == "scratch":
        return DecoderOnlyTransformer(code_gpt_config(tokenizer.vocab_size))
    base, _ = load_checkpoint(CHECKPOINTS / "code-gpt-long.pt")
    model = with_new_tokens(base.float(), len(CHAT_TOKENS), torch.Generator().manual_seed(seed))
    if arm.startswith("lora"):
        add_lora(model, int(arm.removeprefix("lora-r")))
        train_only_new_rows(model, len(CHAT_TOKENS))
    return model


def tune_assistant(arm: str, seed: int, learning_rate: float) -> tuple[torch.nn.Module, TuningRecipe, float]:
    tokenizer, _, turns = assistant_data()
    model = assistant_start(arm, seed)
    recipe = TuningRecipe(seed=seed, learning_rate=learning_rate, **ASSISTANT_SFT)
    log = supervised_fine_tune(model, turns, tokenizer.pad_id, recipe)
    return model, recipe, log.training_seconds


def assistant_rates(arm: str) -> tuple[float, ...]:
    return LORA_RATES if arm.startswith("lora") else ASSISTANT_RATES


def save_assistant(arm: str, seed: int, model, recipe: TuningRecipe, seconds: float, sweep: dict) -> None:
    recipe_saved = {**recipe.to_dict(), "arm": arm, "data": "lib.instructions.make_instructions() training split",
                    "data_fingerprint": assistant_data()[1].fingerprint(),
                    "rates_tried_on_validation": list(assistant_rates(arm)),
                    "weights_stored_as": "float16"}  # fmt: skip
    extra = {"training_seconds": round(seconds, 1), "validation_accuracy_by_rate": sweep}
    path = CHECKPOINTS / f"assistant-{arm}-seed{seed}.pt"
    if arm.startswith("lora"):
        rows = {"new_token_rows": model.input.token_embedding.lookup.weight[-len(CHAT_TOKENS) :]}
        save_adapters(model, path, {**recipe_saved, "base": "code-gpt-long"}, extra, rows)
    else:
        save_checkpoint(model.half(), path, recipe_saved, extra)
    print(f"assistant-{arm}-seed{seed}: learning rate {recipe.learning_rate}, {seconds:.0f} s")


def train_assistant_arm(arm: str) -> None:
    """Choose the arm's learning rate on validation instructions with seed 0, then train seeds 1 and 2 with it."""
    sweep, kept = {}, {}
    for rate in assistant_rates(arm):
        model, recipe, seconds = tune_assistant(arm, 0, rate)
        sweep[str(rate)] = round(validation_accuracy(model), 4)
        kept[rate] = (model, recipe, seconds)
        print(f"  {arm} rate {rate}: validation accuracy {sweep[str(rate)]}")
    best = max(assistant_rates(arm), key=lambda rate: sweep[str(rate)])
    save_assistant(arm, 0, *kept[best], sweep)
    for seed in range(1, 3):
        save_assistant(arm, seed, *tune_assistant(arm, seed, best), sweep)


def train_assistant_dpo(nll_weight: float) -> None:
    """DPO with LoRA adapters (rank DPO_RANK) on each fully fine-tuned model; the reference is the adapters off."""
    tokenizer, data, _ = assistant_data()
    pairs = [PreferencePair(i.prompt, i.answer, wrong) for i in data.training if (wrong := plausible_wrong_answer(i))]
    name = "dpo-nll" if nll_weight else "dpo"
    for seed in range(3):
        make_reproducible(seed)
        sft, _ = load_checkpoint(CHECKPOINTS / f"assistant-full-seed{seed}.pt")
        model = add_lora(sft.float(), DPO_RANK)
        recipe = TuningRecipe(seed=seed, nll_weight=nll_weight, **ASSISTANT_DPO)
        log = preference_tune(model, pairs, tokenizer, recipe)
        recipe_saved = {**recipe.to_dict(), "base": f"assistant-full-seed{seed}",
                        "data_fingerprint": data.fingerprint(),
                        "data": "preference pairs of lib.instructions.make_instructions() training split"}  # fmt: skip
        save_adapters(model, CHECKPOINTS / f"assistant-{name}-seed{seed}.pt", recipe_saved,
                      {"training_seconds": round(log.training_seconds, 1)})  # fmt: skip
        print(f"assistant-{name}-seed{seed}: {log.training_seconds:.0f} s")


# The assistant jobs each write several files (a job per arm: its rate is chosen once, for all seeds).
JOB_OUTPUTS = {
    "assistant-full": [f"assistant-full-seed{seed}" for seed in range(3)],
    "assistant-scratch": [f"assistant-scratch-seed{seed}" for seed in range(3)],
    **{f"assistant-lora-r{rank}": [f"assistant-lora-r{rank}-seed{seed}" for seed in range(3)] for rank in (4, 16)},
    "assistant-dpo": [f"assistant-{name}-seed{seed}" for name in ("dpo", "dpo-nll") for seed in range(3)],
}
RECIPES.update(
    {
        "assistant-full": lambda: train_assistant_arm("full"),
        "assistant-scratch": lambda: train_assistant_arm("scratch"),
        "assistant-lora-r4": lambda: train_assistant_arm("lora-r4"),
        "assistant-lora-r16": lambda: train_assistant_arm("lora-r16"),
        "assistant-dpo": lambda: (train_assistant_dpo(0.0), train_assistant_dpo(1.0)),
    }
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    jobs = {**RECIPES, **OTHER_FILES}
    parser.add_argument("names", nargs="*", help=f"some of {sorted(jobs)}; default: all")
    args = parser.parse_args()
    CHECKPOINTS.mkdir(parents=True, exist_ok=True)
    for name in args.names or jobs:
        start = time.perf_counter()
        jobs[name]()
        print(f"  {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
