"""The models: equal to torch.nn.Transformer, causal, blind to padding, and strict about inputs."""

import pytest
import torch
from torch import nn

from lib import DecoderOnlyTransformer, EncoderOnlyTransformer, Transformer, TransformerConfig
from lib.masks import causal_mask
from lib.model import count_parameters
from torch_reference import copy_into_reference


def small_config(**overrides) -> TransformerConfig:
    settings = dict(
        vocab_size=20, d_model=32, num_heads=4, d_ff=64, num_encoder_layers=2, num_decoder_layers=2, max_len=16
    )
    return TransformerConfig(**{**settings, **overrides})


@pytest.mark.parametrize("norm_first, final_norm", [(False, None), (True, None), (False, True)])
def test_equals_torch_transformer_with_copied_weights(norm_first, final_norm):
    config = small_config(norm_first=norm_first, final_norm=final_norm)
    model = Transformer(config).eval()
    reference = nn.Transformer(32, 4, 2, 2, 64, dropout=0.0, batch_first=True, norm_first=norm_first)
    copy_into_reference(model, reference)
    reference.train()  # dropout is 0; train mode keeps torch off its fused inference kernels
    source = torch.randint(4, 20, (3, 7))
    target = torch.randint(4, 20, (3, 5))
    source[1, 5:] = 0  # padding
    target[2, 3:] = 0
    memory, memory_padding, _ = model.encode(source)
    hidden = model.decoder(model.target_input(target), memory, target == 0, memory_padding)[0]
    expected = reference(
        model.source_input(source),
        model.target_input(target),
        tgt_mask=causal_mask(5),
        src_key_padding_mask=source == 0,
        tgt_key_padding_mask=target == 0,
        memory_key_padding_mask=source == 0,
    )
    torch.testing.assert_close(hidden, expected, atol=1e-5, rtol=1e-5)


def test_forward_with_attention_changes_nothing_and_weights_are_distributions():
    model = Transformer(small_config()).eval()
    source, target = torch.randint(4, 20, (2, 6)), torch.randint(4, 20, (2, 4))
    logits, maps = model.forward_with_attention(source, target)
    torch.testing.assert_close(logits, model(source, target), atol=1e-6, rtol=1e-5)
    assert [w.shape for w in maps.encoder_self] == [(2, 4, 6, 6)] * 2
    assert [w.shape for w in maps.decoder_self] == [(2, 4, 4, 4)] * 2
    assert [w.shape for w in maps.cross] == [(2, 4, 4, 6)] * 2
    for weights in maps.encoder_self + maps.decoder_self + maps.cross:
        torch.testing.assert_close(weights.sum(-1), torch.ones(weights.shape[:-1]))


@pytest.mark.parametrize("positional", ["sinusoidal", "learned", "rotary", "none"])
def test_decoder_never_sees_the_future(positional):
    model = Transformer(small_config(positional=positional)).eval()
    source = torch.randint(4, 20, (1, 6))
    target = torch.randint(4, 20, (1, 8))
    changed = target.clone()
    changed[0, 5] = (target[0, 5] - 4 + 1) % 16 + 4  # a different token at position 5
    before, after = model(source, target), model(source, changed)
    torch.testing.assert_close(before[:, :5], after[:, :5])
    assert not torch.allclose(before[:, 5:], after[:, 5:])


@pytest.mark.parametrize("positional", ["sinusoidal", "rotary"])
def test_decoder_only_model_is_causal(positional):
    model = DecoderOnlyTransformer(small_config(positional=positional)).eval()
    tokens = torch.randint(4, 20, (2, 10))
    changed = tokens.clone()
    changed[:, 7] = (tokens[:, 7] - 4 + 1) % 16 + 4  # a different token at position 7 in every row
    before, after = model(tokens), model(changed)
    torch.testing.assert_close(before[:, :7], after[:, :7])  # the past cannot see the change
    for position in range(7, 10):  # ... and every later position does see it
        assert not torch.allclose(before[:, position], after[:, position])


def test_padding_never_changes_outputs_at_real_tokens():
    model = Transformer(small_config()).eval()
    source = torch.tensor([[5, 6, 7, 0, 0]])
    more_padding = torch.tensor([[5, 6, 7, 0, 0, 0, 0]])
    target = torch.tensor([[1, 8, 9, 0]])
    torch.testing.assert_close(model(source, target)[:, :3], model(more_padding, target)[:, :3], atol=1e-6, rtol=1e-5)
    encoder_only = EncoderOnlyTransformer(small_config()).eval()
    torch.testing.assert_close(encoder_only(source)[:, :3], encoder_only(more_padding)[:, :3], atol=1e-6, rtol=1e-5)


def test_pre_ln_and_post_ln_are_different_models():
    torch.manual_seed(1)
    post = Transformer(small_config(norm_first=False))
    pre = Transformer(small_config(norm_first=True))
    pre.load_state_dict(post.state_dict(), strict=False)
    source, target = torch.randint(4, 20, (1, 5)), torch.randint(4, 20, (1, 5))
    assert not torch.allclose(post(source, target), pre(source, target))


def test_weight_tying_shares_one_matrix():
    tied = Transformer(small_config(tie_embeddings=True))
    untied = Transformer(small_config())
    assert tied.generator.weight is tied.target_input.token_embedding.lookup.weight
    assert count_parameters(untied) - count_parameters(tied) == 20 * 32


@pytest.mark.parametrize(
    "source, target, error, message",
    [
        (torch.tensor([[5, 25]]), torch.tensor([[1, 5]]), IndexError, "id 25, outside the vocabulary \\[0, 20\\)"),
        (torch.tensor([[5, -1]]), torch.tensor([[1, 5]]), IndexError, "id -1"),
        (torch.randint(4, 20, (1, 17)), torch.tensor([[1, 5]]), ValueError, "length 17 exceeds .* max_len 16"),
        (torch.randint(4, 20, (2, 5)), torch.tensor([[1, 5]]), ValueError, "batch size 2 but target has 1"),
        (torch.zeros(1, 0, dtype=torch.long), torch.tensor([[1, 5]]), ValueError, "empty sequence"),
        (torch.tensor([5, 6]), torch.tensor([[1, 5]]), ValueError, "shape \\(batch, seq\\)"),
        (torch.tensor([[5.0, 6.0]]), torch.tensor([[1, 5]]), TypeError, "integer token ids"),
    ],
)
def test_bad_inputs_raise_clear_errors(source, target, error, message):
    with pytest.raises(error, match=message):
        Transformer(small_config())(source, target)


@pytest.mark.parametrize(
    "model_class, settings, message",
    [
        (EncoderOnlyTransformer, dict(tie_embeddings=True, target_vocab_size=40), "output vocabulary to be the input"),
        (DecoderOnlyTransformer, dict(target_vocab_size=30), "leave target_vocab_size unset"),
    ],
)
def test_a_setting_a_model_cannot_honour_is_refused(model_class, settings, message):
    with pytest.raises(ValueError, match=message):
        model_class(small_config(**settings))


def test_all_models_return_logits_and_attention_maps_in_one_form():
    source, target = torch.randint(4, 20, (2, 6)), torch.randint(4, 20, (2, 4))
    calls = [
        (Transformer, (source, target), ["encoder_self", "decoder_self", "cross"]),
        (DecoderOnlyTransformer, (source,), ["decoder_self"]),
        (EncoderOnlyTransformer, (source,), ["encoder_self"]),
    ]
    for model_class, inputs, filled in calls:
        model = model_class(small_config()).eval()
        logits, maps = model.forward_with_attention(*inputs)
        torch.testing.assert_close(logits, model(*inputs))
        for kind in ("encoder_self", "decoder_self", "cross"):
            assert (len(getattr(maps, kind)) == 2) == (kind in filled), (model_class.__name__, kind)


def test_a_non_default_pad_id_trains_and_decodes():
    from lib.decoding import greedy_decode, sequence_accuracy
    from lib.tasks import make_pairs, random_batches
    from lib.training import seq2seq_loss, train

    torch.manual_seed(0)
    # <unk>'s slot (3) pads; id 0 is then an ordinary, unused token. Batches, loss and decoding must all follow.
    config = TransformerConfig.tiny(vocab_size=10, pad_id=3)
    model = Transformer(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    batches = random_batches("copy", 64, 2, 6, 6, torch.Generator().manual_seed(0), pad_id=3)
    history = train(model, batches, seq2seq_loss, optimizer, 300)
    assert history.losses[-1] < 0.1
    pairs = make_pairs("copy", 50, 2, 6, 6, torch.Generator().manual_seed(1))
    assert sequence_accuracy(model, pairs) >= 0.9
    outputs = greedy_decode(model, torch.tensor([[5, 6, 3, 3, 3], [5, 6, 7, 8, 9]]), max_length=7).tolist()
    assert outputs[0] == [5, 6, 2, 3, 3, 3]  # padded source ignored; the finished row is padded with 3
    with pytest.raises(ValueError, match="padded with id 0 but the model's config.pad_id is 3"):
        seq2seq_loss(model, next(random_batches("copy", 4, 2, 6, 6)))
