"""Benchmark: lib's Transformer against torch.nn.Transformer, and the copy task's time to 99 %.

Run with `python benchmarks/train_step.py` (add `--rounds 20` for tighter medians).
Both models get the same embeddings, output layer and optimizer; rounds alternate between
them in one process so that machine noise hits both alike. The printed `ratio` is the
median lib step time over the median reference step time: below 1 means lib is faster.
The comparison runs with dropout 0 and 0.1, and lib's `Dropout` is timed against
`nn.Dropout` on its own, so that what lib's dropout is worth can be read off directly.
"""

import argparse
import statistics
import time

import torch
from torch import nn

from lib import Transformer, TransformerConfig, make_reproducible
from lib.decoding import sequence_accuracy
from lib.masks import causal_mask
from lib.positional import SinusoidalPositionalEncoding
from lib.tasks import make_pairs, random_batches
from lib.training import seq2seq_loss, train

try:
    from lib.dropout import Dropout  # lib's own dropout, timed against nn.Dropout while lib has one
except ImportError:
    Dropout = None

SIZES = dict(d_model=256, num_heads=8, num_encoder_layers=3, num_decoder_layers=3, d_ff=1024)
BATCH, LENGTH, VOCAB = 32, 64, 1000


class ReferenceModel(nn.Module):
    """torch.nn.Transformer with the same inputs and output layer as lib's model:
    embedding x sqrt(d_model) + sinusoidal positions, dropout, and a linear generator."""

    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.source_embedding = nn.Embedding(config.vocab_size, config.d_model)
        self.target_embedding = nn.Embedding(config.vocab_size, config.d_model)
        self.core = nn.Transformer(
            config.d_model,
            config.num_heads,
            config.num_encoder_layers,
            config.num_decoder_layers,
            config.d_ff,
            dropout=config.dropout,
            batch_first=True,
        )
        self.generator = nn.Linear(config.d_model, config.vocab_size)
        self.scale = config.d_model**0.5
        self.positions = SinusoidalPositionalEncoding(config.d_model, config.max_len)
        self.dropout = nn.Dropout(config.dropout)

    def embed(self, embedding: nn.Embedding, tokens):
        return self.dropout(self.positions(embedding(tokens) * self.scale))

    def forward(self, source, target):
        mask = causal_mask(target.size(1))
        hidden = self.core(
            self.embed(self.source_embedding, source), self.embed(self.target_embedding, target), tgt_mask=mask
        )
        return self.generator(hidden)


def time_steps(model, optimizer, source, target, steps: int) -> list[float]:
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        logits = model(source, target[:, :-1])
        loss = nn.functional.cross_entropy(logits.reshape(-1, VOCAB), target[:, 1:].reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
    return times


def compare_training_step(rounds: int, steps_per_round: int, dropout: float) -> float:
    config = TransformerConfig(vocab_size=VOCAB, max_len=LENGTH + 1, dropout=dropout, **SIZES)
    models = {"lib": Transformer(config), "torch.nn.Transformer": ReferenceModel(config)}
    if Dropout is not None:
        models["lib with nn.Dropout"] = with_torch_dropout(Transformer(config))
    optimizers = {name: torch.optim.Adam(m.parameters(), lr=1e-4) for name, m in models.items()}
    source = torch.randint(4, VOCAB, (BATCH, LENGTH))
    target = torch.randint(4, VOCAB, (BATCH, LENGTH + 1))
    for name, model in models.items():  # warm-up: allocator and kernel selection
        time_steps(model, optimizers[name], source, target, 2)
    times = {name: [] for name in models}
    for _ in range(rounds):
        for name, model in models.items():
            times[name] += time_steps(model, optimizers[name], source, target, steps_per_round)
    medians = {name: statistics.median(t) for name, t in times.items()}
    threads = torch.get_num_threads()
    print(f"training step, dropout {dropout}, batch {BATCH} x length {LENGTH}, {SIZES}, {threads} threads")
    for name, median in medians.items():
        print(f"  {name:22s} median {median * 1000:7.1f} ms over {len(times[name])} steps")
    ratio = medians["lib"] / medians["torch.nn.Transformer"]
    print(f"  ratio (lib / torch.nn.Transformer) = {ratio:.3f}")
    if "lib with nn.Dropout" in medians:
        print(f"  ratio (lib / lib with nn.Dropout) = {medians['lib'] / medians['lib with nn.Dropout']:.3f}")
    return ratio


def with_torch_dropout(model: nn.Module) -> nn.Module:
    """The same model with every lib Dropout replaced by nn.Dropout of the same probability."""
    for module in list(model.modules()):
        for name, child in module.named_children():
            if isinstance(child, Dropout):
                setattr(module, name, nn.Dropout(child.p))
    assert not any(isinstance(m, Dropout) for m in model.modules())
    return model


def compare_dropout(rounds: int, repeats: int = 20) -> None:
    """lib's Dropout against nn.Dropout alone: forward and backward, on the tensors a step drops."""
    shapes = {"feed-forward hidden": (BATCH, LENGTH, SIZES["d_ff"]), "sub-layer output": (BATCH, LENGTH, 256)}
    modules = {"lib Dropout": Dropout(0.1).train(), "nn.Dropout": nn.Dropout(0.1).train()}
    for label, shape in shapes.items():
        x = torch.randn(shape, requires_grad=True)
        grad = torch.randn(shape)
        times = {name: [] for name in modules}
        for _ in range(rounds):
            for name, module in modules.items():
                start = time.perf_counter()
                for _ in range(repeats):
                    module(x).backward(grad)
                times[name].append((time.perf_counter() - start) / repeats)
        medians = {name: statistics.median(t) for name, t in times.items()}
        print(f"dropout 0.1 alone, forward + backward on {label} {tuple(shape)}")
        for name, median in medians.items():
            print(f"  {name:22s} median {median * 1000:7.2f} ms")
        print(f"  ratio (lib / nn.Dropout) = {medians['lib Dropout'] / medians['nn.Dropout']:.3f}")


def time_copy_task() -> None:
    generator = make_reproducible(0, threads=torch.get_num_threads())
    held_out = make_pairs("copy", 1000, 10, 10, 10, torch.Generator().manual_seed(1234))
    config = TransformerConfig.tiny(vocab_size=14)
    model = Transformer(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    batches = random_batches("copy", 64, 10, 10, 10, generator)
    start, steps, accuracy = time.perf_counter(), 0, 0.0
    while accuracy < 0.99 and steps < 5000:
        train(model, batches, seq2seq_loss, optimizer, 50)
        steps += 50
        accuracy = sequence_accuracy(model, held_out)
    wall = time.perf_counter() - start
    print(f"copy task (length 10, 10 symbols): {accuracy:.1%} exact on 1,000 held-out sequences")
    print(f"  after {steps} steps, {wall:.1f} s wall time including evaluation")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--steps-per-round", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip-copy-task", action="store_true", help="only the step and dropout timings")
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    ratios = {p: compare_training_step(args.rounds, args.steps_per_round, p) for p in (0.0, 0.1)}
    print(f"ratio with dropout 0.1 minus ratio with dropout 0: {ratios[0.1] - ratios[0.0]:+.3f}")
    if Dropout is not None:
        compare_dropout(args.rounds)
    if not args.skip_copy_task:
        time_copy_task()


if __name__ == "__main__":
    main()
