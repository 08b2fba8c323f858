"""The config refuses sizes that cannot work, naming the problem, and derives the rest."""

import pytest

from lib import TransformerConfig
from lib.positional import RotaryScaling


def test_heads_must_divide_d_model():
    with pytest.raises(ValueError, match="d_model \\(30\\) must be divisible by num_heads \\(4\\)"):
        TransformerConfig(d_model=30, num_heads=4)


@pytest.mark.parametrize(
    "settings, message",
    [
        (dict(d_model=0), "d_model must be positive"),
        (dict(dropout=1.0), "dropout must be in \\[0, 1\\)"),
        (dict(positional="relative"), "unknown positional encoding 'relative'"),
        (dict(d_model=12, num_heads=4, positional="rotary"), "rotary positions need an even head dimension, got 3"),
    ],
)
def test_impossible_settings_are_named(settings, message):
    with pytest.raises(ValueError, match=message):
        TransformerConfig(**settings)


def test_derived_sizes():
    config = TransformerConfig(vocab_size=20, target_vocab_size=30, d_model=64, num_heads=8)
    assert config.head_dim == 8 and config.output_vocab_size == 30
    assert TransformerConfig(norm_first=True).use_final_norm and not TransformerConfig().use_final_norm


def test_tiny_preset_accepts_overrides():
    config = TransformerConfig.tiny(vocab_size=14, max_len=32)
    assert (config.num_encoder_layers, config.d_model, config.max_len, config.norm_first) == (1, 64, 32, True)


def test_tiny_preset_accepts_every_override_including_post_ln():
    config = TransformerConfig.tiny(vocab_size=14, norm_first=False, d_model=32)
    assert (config.norm_first, config.d_model, config.use_final_norm) == (False, 32, False)


@pytest.mark.parametrize(
    "settings, message",
    [
        (dict(pad_id=1), "pad_id must differ from bos_id and eos_id"),
        (dict(eos_id=40, vocab_size=32), "eos_id 40 is outside the vocabulary \\[0, 32\\)"),
        (dict(bos_id=-1), "bos_id -1 is outside"),
    ],
)
def test_padding_is_not_a_special_id_and_every_id_is_in_the_vocabulary(settings, message):
    with pytest.raises(ValueError, match=message):
        TransformerConfig(**settings)


@pytest.mark.parametrize(
    "settings, message",
    [
        (dict(num_kv_heads=0), "num_kv_heads must be positive, got 0"),
        (dict(d_model=64.0), "d_model must be an integer, got 64.0"),
        (dict(target_vocab_size=0), "target_vocab_size must be positive, got 0"),
        (
            dict(rotary_scaling=RotaryScaling()),
            "rotary_scaling scales rotary positions, but positional is 'sinusoidal'",
        ),
        (dict(positional="rotary", rotary_scaling="llama3"), "rotary_scaling must be a RotaryScaling or None"),
    ],
)
def test_bad_settings_are_named_like_the_modules_name_them(settings, message):
    with pytest.raises(ValueError, match=message):
        TransformerConfig(**settings)


def test_a_config_with_rotary_scaling_round_trips_through_a_dict():
    config = TransformerConfig(positional="rotary", rotary_scaling=RotaryScaling(factor=4.0, original_max_len=64))
    saved = config.to_dict()
    assert saved["rotary_scaling"]["factor"] == 4.0  # plain values, as a checkpoint stores them
    assert TransformerConfig.from_dict(saved) == config
