"""lib's GPT-2 against Hugging Face's `GPT2LMHeadModel`: training step time and greedy generation speed.

Both models hold the same weights (Hugging Face's, converted by lib/converters.py) and get the
same inputs. In one process, alternating round by round, it times a training step (forward,
cross-entropy on the next token, backward, SGD update) and greedy generation of 128 new tokens
with each library's key/value cache, and prints the ratios of the medians. Goals: lib's step
time <= 1.0x Hugging Face's, lib's tokens per second >= 1.0x. Dropout is 0 in both, so the
models are the same function (lib's dropout is measured in benchmarks/train_step.py).

    python benchmarks/hf_gpt2.py
"""

import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import transformers

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lib import make_reproducible, presets  # noqa: E402
from lib.converters import gpt2_from_hf  # noqa: E402
from lib.decoding import generate  # noqa: E402

# GPT-2's shape at a size two cores train in well under a second per step.
VOCAB, D_MODEL, HEADS, LAYERS, CONTEXT = 8192, 256, 8, 4, 256
BATCH, SEQ, PROMPT, NEW_TOKENS, ROUNDS = 8, 128, 16, 128, 9


def the_two_models() -> tuple[torch.nn.Module, torch.nn.Module]:
    hf_config = transformers.GPT2Config(
        vocab_size=VOCAB, n_positions=CONTEXT, n_embd=D_MODEL, n_layer=LAYERS, n_head=HEADS, resid_pdrop=0.0,
        embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=VOCAB - 1, eos_token_id=VOCAB - 1,
    )  # fmt: skip
    theirs = transformers.GPT2LMHeadModel(hf_config)
    theirs.generation_config.eos_token_id = None  # generate all NEW_TOKENS, as lib's loop does
    config = presets.gpt2(
        vocab_size=VOCAB, d_model=D_MODEL, num_heads=HEADS, d_ff=4 * D_MODEL, num_decoder_layers=LAYERS,
        max_len=CONTEXT, dropout=0.0, bos_id=VOCAB - 1, eos_id=VOCAB - 1,
    )  # fmt: skip
    ours = gpt2_from_hf(theirs.state_dict(), hf_config, config)  # checks that config computes what hf_config does
    return ours, theirs


def training_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, tokens: torch.Tensor, hf: bool) -> None:
    logits = model(tokens).logits if hf else model(tokens)  # (batch, seq, vocab)
    loss = F.cross_entropy(logits[:, :-1].reshape(-1, VOCAB), tokens[:, 1:].reshape(-1))
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def seconds(run) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def paired_ratio(times: dict[bool, list[float]]) -> float:
    """Median over rounds of lib's time / HF's time in the same round: robust to load that comes and goes."""
    return statistics.median(ours / theirs for ours, theirs in zip(times[False][1:], times[True][1:], strict=True))


def main() -> None:
    make_reproducible(0)  # one thread, as in the chapters
    ours, theirs = the_two_models()
    tokens = torch.randint(0, VOCAB - 1, (BATCH, SEQ))
    with torch.no_grad():
        difference = (ours.eval()(tokens) - theirs.eval()(tokens).logits).abs().max().item()
    print(f"GPT-2 shape: {LAYERS} layers, d_model {D_MODEL}, {HEADS} heads, vocabulary {VOCAB}; 1 thread")
    print(f"same weights: largest logit difference {difference:.1e} (float32)")

    ours.train(), theirs.train()
    optimizers = {
        False: torch.optim.SGD(ours.parameters(), lr=1e-3),
        True: torch.optim.SGD(theirs.parameters(), lr=1e-3),
    }
    step_times = {False: [], True: []}
    contenders = [(False, ours), (True, theirs)]
    for _ in range(ROUNDS + 1):  # the first round warms up and is not counted
        contenders.reverse()  # who goes first alternates, so neither always runs on a warmer cache
        for hf, model in contenders:
            step_times[hf].append(seconds(lambda m=model, h=hf: training_step(m, optimizers[h], tokens, h)))
    lib_step, hf_step = (statistics.median(step_times[hf][1:]) for hf in (False, True))
    print(f"training step, batch {BATCH} x {SEQ} tokens, median of {ROUNDS}: lib {lib_step * 1e3:.0f} ms, "
          f"Hugging Face {hf_step * 1e3:.0f} ms, ratio lib / HF {lib_step / hf_step:.3f} (goal <= 1.0); "
          f"median of the rounds' own ratios {paired_ratio(step_times):.3f}")  # fmt: skip

    ours.eval(), theirs.eval()
    prompt = torch.randint(0, VOCAB - 1, (1, PROMPT))
    outputs = {}

    def run_ours():
        outputs[False] = generate(ours, prompt, NEW_TOKENS)

    def run_theirs():
        outputs[True] = theirs.generate(prompt, max_new_tokens=NEW_TOKENS, do_sample=False, pad_token_id=0)

    generation_times = {False: [], True: []}
    runs = [(False, run_ours), (True, run_theirs)]
    with torch.no_grad():
        for _ in range(ROUNDS + 1):
            runs.reverse()
            for hf, run in runs:
                generation_times[hf].append(seconds(run))
    lib_rate, hf_rate = (NEW_TOKENS / statistics.median(generation_times[hf][1:]) for hf in (False, True))
    rate_ratio = 1 / paired_ratio(generation_times)
    same = int((outputs[False] == outputs[True]).all(dim=0).long().cumprod(0).sum().item()) - PROMPT
    print(f"greedy generation, {NEW_TOKENS} new tokens after {PROMPT}, with the cache, median of {ROUNDS}: "
          f"lib {lib_rate:.0f} tokens/s, Hugging Face {hf_rate:.0f} tokens/s, ratio lib / HF {lib_rate / hf_rate:.3f} "
          f"(goal >= 1.0), median of the rounds' own ratios {rate_ratio:.3f}; the first {same} of {NEW_TOKENS} "
          "new tokens agree")  # fmt: skip


if __name__ == "__main__":
    main()
