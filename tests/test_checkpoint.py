"""Checkpoints round-trip exactly and load with weights_only=True."""

import torch

from lib import DecoderOnlyTransformer, Transformer, TransformerConfig
from lib.checkpoint import load_checkpoint, save_checkpoint


def test_round_trip_is_exact(tmp_path):
    model = Transformer(TransformerConfig(vocab_size=12, positional="learned", tie_embeddings=True)).eval()
    path = tmp_path / "model.pt"
    save_checkpoint(model, path, extra={"task": "copy", "steps": 10})
    torch.load(path, weights_only=True)  # must not need pickle
    loaded, extra = load_checkpoint(path)
    assert extra == {"task": "copy", "steps": 10}
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    source, target = torch.randint(4, 12, (2, 5)), torch.randint(4, 12, (2, 3))
    assert torch.equal(model(source, target), loaded(source, target))
    assert loaded.generator.weight is loaded.target_input.token_embedding.lookup.weight


def test_decoder_only_round_trip(tmp_path):
    model = DecoderOnlyTransformer(TransformerConfig(vocab_size=9, positional="rotary")).eval()
    save_checkpoint(model, tmp_path / "lm.pt")
    loaded, _ = load_checkpoint(tmp_path / "lm.pt")
    tokens = torch.randint(4, 9, (1, 6))
    assert torch.equal(model(tokens), loaded(tokens))
