"""A tiny chat tokenizer and model for the post-training tests (lib.chat, lib.preference, lib.tuning)."""

from lib import DecoderOnlyTransformer, TransformerConfig, make_reproducible
from lib.bpe import BytePairTokenizer
from lib.chat import ChatTokenizer

CHAT_TEXT = "Sort the list [3, 1, 2]. What is 2 + 3? 5 "


def tiny_chat_tokenizer(vocab_size: int = 300) -> ChatTokenizer:
    return ChatTokenizer(BytePairTokenizer().train(CHAT_TEXT * 20, vocab_size))


def small_decoder(vocab_size: int, max_len: int = 64, tie: bool = False) -> DecoderOnlyTransformer:
    """A 2-layer Pre-LN decoder, d_model 32, seeded."""
    make_reproducible(0)
    config = TransformerConfig(vocab_size=vocab_size, d_model=32, num_heads=4, d_ff=64, norm_first=True,
                               tie_embeddings=tie, max_len=max_len)  # fmt: skip
    return DecoderOnlyTransformer(config)
