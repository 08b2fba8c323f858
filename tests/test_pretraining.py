"""Pretraining: the loop's recipe does what it says (decay groups,
warm-up and cosine, a validation loss every few steps), bits per byte are computed per byte, and the shipped GPT
checkpoints were made by `pretrain`: re-running its first steps gives the stored curve."""

import math
from itertools import pairwise
from pathlib import Path

import pytest
import torch

from lib import DecoderOnlyTransformer, make_reproducible
from lib.bpe import BytePairTokenizer
from lib.checkpoint import load_checkpoint
from lib.corpus import english_corpus
from lib.model import count_parameters
from lib.pretraining import (
    GPT_VOCAB_SIZE,
    PretrainingRecipe,
    autocast_for,
    bits_per_byte,
    book_tokenizer,
    byte_lengths,
    code_gpt_config,
    code_tokenizer,
    corpus_ids,
    gpt_config,
    parameter_groups,
    pretrain,
    unigram_bits_per_byte,
)

CHECKPOINTS = Path(__file__).resolve().parent.parent / "chapters" / "checkpoints"


@pytest.fixture(scope="module")
def tokenizer():
    return book_tokenizer()


def test_shipped_tokenizer_is_the_one_training_makes(tokenizer):
    shipped = BytePairTokenizer.load(CHECKPOINTS / "gpt-bpe.json")
    assert shipped.merges == tokenizer.merges and tokenizer.vocab_size == GPT_VOCAB_SIZE


def test_weight_decay_goes_to_matrices_only_and_the_tied_matrix_counts_once(tokenizer):
    model = DecoderOnlyTransformer(gpt_config(GPT_VOCAB_SIZE, "small"))
    decayed, other = parameter_groups(model, 0.1)
    assert all(p.dim() == 2 for p in decayed["params"]) and all(p.dim() == 1 for p in other["params"])
    assert other["weight_decay"] == 0.0 and decayed["weight_decay"] == 0.1
    assert sum(p.numel() for group in (decayed, other) for p in group["params"]) == count_parameters(model)
    assert model.generator.weight is model.input.token_embedding.lookup.weight


def test_the_main_gpt_fits_the_page_budget():
    model = DecoderOnlyTransformer(gpt_config(GPT_VOCAB_SIZE, "large"))
    assert count_parameters(model) < 1_000_000  # under 2 MB in float16


def test_learning_rate_warms_up_then_decays_along_a_cosine(tokenizer):
    training_ids, validation_ids = torch.arange(3, 1003).repeat(3), torch.arange(3, 600)
    recipe = PretrainingRecipe(steps=20, warmup_steps=5, batch_size=2, context=16, eval_every=10, learning_rate=1e-2)
    make_reproducible(0)
    model = DecoderOnlyTransformer(gpt_config(1003, "small", context=16))
    log = pretrain(model, training_ids, validation_ids, recipe)
    rates = log.learning_rates
    assert rates[:5] == pytest.approx([2e-3, 4e-3, 6e-3, 8e-3, 1e-2])
    assert all(a >= b for a, b in pairwise(rates[4:])) and rates[-1] > 0.1 * 1e-2
    assert log.validation_steps == [0, 10, 19] and len(log.losses) == 20
    assert log.tokens_seen == 20 * 2 * 16


def test_bits_per_byte_counts_each_predicted_byte_once():
    class Uniform(torch.nn.Module):
        def forward(self, tokens):
            return torch.zeros(*tokens.shape, 8)

    ids = torch.randint(0, 8, (50,))
    one_byte_each = torch.ones(50, dtype=torch.long)
    assert bits_per_byte(Uniform(), ids, one_byte_each, context=7) == pytest.approx(3.0)  # log2(8) bits per token
    assert bits_per_byte(Uniform(), ids, 2 * one_byte_each, context=7) == pytest.approx(1.5)
    assert unigram_bits_per_byte(torch.arange(8).repeat(10), ids, one_byte_each, 8) == pytest.approx(3.0)


def test_byte_lengths_add_up_to_the_text(tokenizer):
    text = english_corpus().validation_paragraphs[0]
    assert int(byte_lengths(tokenizer)[torch.tensor(tokenizer.encode(text))].sum()) == len(text.encode())


def test_the_live_loop_reproduces_the_checkpoints_first_steps(tokenizer):
    """The chapter's loop made the weights: its first steps give the stored losses.

    Bitwise equality across CPU kernels (avx2, avx512, default) is not guaranteed in float32, so
    the comparison allows 1e-3; on the machine that trained the checkpoint the difference is ~1e-6.
    """
    model, info = load_checkpoint(CHECKPOINTS / "gpt.pt")
    recipe = PretrainingRecipe(**{k: info.recipe[k] for k in PretrainingRecipe().to_dict()})
    training_ids, validation_ids = corpus_ids(tokenizer)
    make_reproducible(recipe.seed)
    fresh = DecoderOnlyTransformer(model.config)
    log = pretrain(fresh, training_ids, validation_ids, recipe, stop_after=8)
    assert log.losses == pytest.approx(info["losses"][:8], abs=1e-3)
    assert math.isclose(info["losses"][0], math.log(GPT_VOCAB_SIZE), abs_tol=0.3)  # starts near uniform guessing


def test_shipped_code_tokenizer_is_the_one_training_makes():
    shipped = BytePairTokenizer.load(CHECKPOINTS / "code-bpe.json")
    assert shipped.merges == code_tokenizer().merges and shipped.vocab_size == GPT_VOCAB_SIZE


def test_the_capstone_model_fits_the_page_budget_in_float16():
    parameters = count_parameters(DecoderOnlyTransformer(code_gpt_config()))
    assert 2 * parameters <= 2_000_000


@pytest.mark.parametrize(
    "change, error, message",
    [
        (dict(context=512), ValueError, "longer than the model's window"),
        (dict(training_ids=torch.arange(100.0)), TypeError, "integer token ids"),
        (dict(training_ids=torch.zeros(0, dtype=torch.long)), ValueError, "is the text empty"),
        (dict(training_ids=torch.full((500,), 5000)), IndexError, "outside the model's vocabulary"),
        (dict(learning_rate=1e6), FloatingPointError, "lower the learning rate"),
    ],
)
def test_pretrain_names_bad_input(change, error, message):
    make_reproducible(0)
    model = DecoderOnlyTransformer(code_gpt_config(d_model=16, num_heads=2, d_ff=32, num_decoder_layers=1))
    data = {"training_ids": torch.randint(3, 1024, (2000,)), "validation_ids": torch.randint(3, 1024, (500,))}
    data.update({k: v for k, v in change.items() if k.endswith("_ids")})
    recipe = PretrainingRecipe(steps=30, batch_size=2, context=16, warmup_steps=1, eval_every=100)
    recipe = PretrainingRecipe(**{**recipe.to_dict(), **{k: v for k, v in change.items() if not k.endswith("_ids")}})
    with pytest.raises(error, match=message):
        pretrain(model, data["training_ids"], data["validation_ids"], recipe)


@pytest.mark.filterwarnings("ignore:CUDA is not available")
def test_bfloat16_autocast_on_a_gpu_and_plain_float32_on_a_cpu():
    on_gpu = autocast_for(torch.device("cuda"))
    assert isinstance(on_gpu, torch.autocast) and on_gpu.fast_dtype == torch.bfloat16
    assert not isinstance(autocast_for(torch.device("cpu")), torch.autocast)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_pretrain_on_a_gpu_trains_in_bfloat16_autocast():
    make_reproducible(0)
    model = DecoderOnlyTransformer(code_gpt_config(d_model=32, num_heads=2, d_ff=64, num_decoder_layers=1))
    ids = torch.randint(3, 1024, (5000,))
    recipe = PretrainingRecipe(steps=20, batch_size=4, context=32, warmup_steps=2)
    log = pretrain(model, ids, ids[:1000], recipe, device="cuda")
    assert next(model.parameters()).device.type == "cuda" and next(model.parameters()).dtype == torch.float32
    assert log.losses[-1] < log.losses[0]
