"""LoRA: starts as the frozen model, trains only the adapters, equals Hugging Face peft, merges exactly."""

import pytest
import torch

from lib import DecoderOnlyTransformer, TransformerConfig, make_reproducible
from lib.lora import (
    LORA_TARGETS,
    LoRALinear,
    adapters_disabled,
    add_lora,
    load_adapters,
    lora_layers,
    merge_lora,
    save_adapters,
    trainable_parameters,
)


@pytest.fixture
def model() -> DecoderOnlyTransformer:
    make_reproducible(0)
    return DecoderOnlyTransformer(TransformerConfig(vocab_size=40, d_model=32, num_heads=4, d_ff=64, norm_first=True))


def tokens() -> torch.Tensor:
    return torch.randint(3, 40, (2, 9), generator=torch.Generator().manual_seed(1))


def randomize_adapters(model) -> None:
    """B starts at zero (the adapted model starts as the base); give it values so the adapters matter."""
    generator = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for layer in lora_layers(model):
            layer.lora_B.copy_(torch.randn(layer.lora_B.shape, generator=generator) * 0.1)


def test_a_fresh_adapter_changes_nothing_and_only_adapters_train(model):
    before = model(tokens())
    frozen = sum(p.numel() for p in model.parameters())
    add_lora(model, rank=2)
    torch.testing.assert_close(model(tokens()), before, rtol=0, atol=0)
    layers = lora_layers(model)
    assert len(layers) == 4 * model.config.num_decoder_layers
    assert trainable_parameters(model) == sum(2 * (m.base.in_features + m.base.out_features) for m in layers)
    assert all(not p.requires_grad for name, p in model.named_parameters() if ".lora_" not in name)
    assert sum(p.numel() for n, p in model.named_parameters() if ".lora_" not in n) == frozen


def test_lib_lora_equals_peft_lora_with_copied_weights(model):
    peft = pytest.importorskip("peft")
    import copy

    theirs = peft.inject_adapter_in_model(
        peft.LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=list(LORA_TARGETS)), copy.deepcopy(model)
    )
    ours = add_lora(model, rank=4, alpha=8)
    randomize_adapters(ours)
    copied = 0
    for name, module in ours.named_modules():
        if isinstance(module, LoRALinear):
            peft_layer = theirs.get_submodule(name)
            peft_layer.lora_A["default"].weight.data.copy_(module.lora_A)
            peft_layer.lora_B["default"].weight.data.copy_(module.lora_B)
            copied += 1
    assert copied == 4 * model.config.num_decoder_layers
    torch.testing.assert_close(ours(tokens()), theirs(tokens()))


def test_lora_matrices_start_as_peft_initializes_them(model):
    peft = pytest.importorskip("peft")
    ours = add_lora(model, rank=4)
    assert all(torch.equal(layer.lora_B, torch.zeros_like(layer.lora_B)) for layer in lora_layers(ours))
    # peft's default A is nn.Linear's Kaiming-uniform draw: bound 1 / sqrt(in_features)
    layer = lora_layers(ours)[0]
    assert layer.lora_A.abs().max() <= 1 / layer.base.in_features**0.5
    assert peft.LoraConfig().init_lora_weights is True


def test_merging_gives_the_same_outputs_and_plain_linears(model):
    add_lora(model, rank=3)
    randomize_adapters(model)
    adapted = model(tokens())
    merge_lora(model)
    assert not lora_layers(model)
    torch.testing.assert_close(model(tokens()), adapted)


def test_disabled_adapters_give_the_base_model(model):
    base = model(tokens())
    add_lora(model, rank=2)
    randomize_adapters(model)
    assert not torch.allclose(model(tokens()), base)
    with adapters_disabled(model):
        torch.testing.assert_close(model(tokens()), base, rtol=0, atol=0)
    assert not torch.allclose(model(tokens()), base)


def test_saved_adapters_load_onto_the_base(model, tmp_path):
    base_state = {k: v.clone() for k, v in model.state_dict().items()}
    add_lora(model, rank=2)
    randomize_adapters(model)
    save_adapters(model, tmp_path / "a.pt", recipe={"steps": 1})
    fresh = DecoderOnlyTransformer(model.config)
    fresh.load_state_dict(base_state)
    info = load_adapters(fresh, tmp_path / "a.pt")
    assert info["rank"] == 2 and info["recipe"] == {"steps": 1}
    torch.testing.assert_close(fresh(tokens()), model(tokens()), atol=1e-3, rtol=0)  # adapters stored in float16


@pytest.mark.parametrize("rank", [0, 33, -1])
def test_a_rank_outside_the_layer_is_refused(model, rank):
    with pytest.raises(ValueError, match="rank must be from 1 to 32"):
        add_lora(model, rank=rank)


def test_a_model_without_the_targets_is_refused():
    with pytest.raises(ValueError, match="no nn.Linear named"):
        add_lora(torch.nn.Sequential(torch.nn.ReLU()), rank=1)
