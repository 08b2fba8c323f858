"""How much the key/value cache speeds up greedy decoding, against the output length.

Without a cache, every step runs the decoder over the whole prefix again (step t costs
about t token-passes); with it, each step runs one token and reads the cached keys and
values. Both are timed in this process on the same model and source, alternating, and
must produce identical tokens. Goal: at least x10 at 512 new tokens.

    python benchmarks/kv_cache.py
"""

import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lib import Transformer, TransformerConfig, make_reproducible  # noqa: E402
from lib.decoding import greedy_decode  # noqa: E402
from lib.tokenizers import BOS_ID, EOS_ID, PAD_ID  # noqa: E402

LENGTHS = (64, 256, 512)
BATCH_SIZES = (1, 8)
ROUNDS = 3


def benchmark_model() -> Transformer:
    """4 encoder + 4 decoder layers, d_model 128; never says <eos>, so every run decodes the full length."""
    config = TransformerConfig(
        vocab_size=32, d_model=128, num_heads=4, d_ff=512, num_encoder_layers=4, num_decoder_layers=4, max_len=520
    )
    model = Transformer(config).eval()
    with torch.no_grad():
        model.generator.bias[[PAD_ID, BOS_ID, EOS_ID]] = -1e4
    return model


def median_seconds(run) -> float:
    times = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    make_reproducible(0)  # one thread, as in the chapters
    model = benchmark_model()
    print(f"greedy decoding, source 32 tokens, {torch.get_num_threads()} thread(s), median of {ROUNDS}")
    print(f"{'batch':>5} {'new tokens':>10} {'no cache (s)':>13} {'cache (s)':>10} {'speedup':>8}")
    for batch in BATCH_SIZES:
        source = torch.randint(4, 32, (batch, 32))
        for length in LENGTHS:
            cached = greedy_decode(model, source, length)
            uncached = greedy_decode(model, source, length, use_cache=False)
            assert torch.equal(cached, uncached), "the cache changed the tokens"
            slow = median_seconds(lambda s=source, n=length: greedy_decode(model, s, n, use_cache=False))
            fast = median_seconds(lambda s=source, n=length: greedy_decode(model, s, n))
            print(f"{batch:>5} {length:>10} {slow:>13.3f} {fast:>10.3f} {slow / fast:>7.1f}x")


if __name__ == "__main__":
    main()
