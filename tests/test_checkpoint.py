"""Checkpoints round-trip exactly and load with weights_only=True."""

import pytest
import torch

from lib import DecoderOnlyTransformer, Transformer, TransformerConfig
from lib.checkpoint import checkpoint_info, load_checkpoint, save_checkpoint


def test_round_trip_is_exact(tmp_path):
    model = Transformer(TransformerConfig(vocab_size=12, positional="learned", tie_embeddings=True)).eval()
    path = tmp_path / "model.pt"
    save_checkpoint(model, path, recipe={"task": "copy", "steps": 10}, extra={"final_loss": 0.5})
    torch.load(path, weights_only=True)  # must not need pickle
    loaded, info = load_checkpoint(path)
    assert info.recipe == {"task": "copy", "steps": 10} and info.extra == {"final_loss": 0.5}
    assert (info["steps"], info["final_loss"]) == (10, 0.5)
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


def test_a_tied_matrix_is_stored_once(tmp_path):
    config = dict(vocab_size=500, d_model=32, num_heads=2, d_ff=32)
    for tied in (False, True):
        model = DecoderOnlyTransformer(TransformerConfig(**config, tie_embeddings=tied))
        save_checkpoint(model, tmp_path / f"{tied}.pt")
    saved_bytes = {tied: (tmp_path / f"{tied}.pt").stat().st_size for tied in (False, True)}
    assert saved_bytes[False] - saved_bytes[True] >= 500 * 32 * 4  # one (vocab, d_model) float32 matrix less


def test_recipe_and_extra_may_not_share_a_name(tmp_path):
    model = Transformer(TransformerConfig(vocab_size=12))
    with pytest.raises(ValueError, match="both define \\['steps'\\]"):
        save_checkpoint(model, tmp_path / "x.pt", recipe={"steps": 1}, extra={"steps": 2})


def test_shipped_checkpoints_record_their_recipe():
    from pathlib import Path

    for path in sorted((Path(__file__).parent.parent / "chapters" / "checkpoints").glob("*.pt")):
        recipe = checkpoint_info(path).recipe  # whole models and LoRA adapters alike
        for key in ("steps", "learning_rate", "batch_size", "seed"):
            assert key in recipe, f"{path.name} does not record {key}"


def test_every_shipped_checkpoint_has_a_job_that_makes_it_and_every_job_a_file():
    import importlib.util
    from pathlib import Path

    root = Path(__file__).parent.parent
    spec = importlib.util.spec_from_file_location("train_checkpoints", root / "tools" / "train_checkpoints.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    shipped = {path.stem for path in (root / "chapters" / "checkpoints").glob("*.pt")}
    made = {name for job in tool.RECIPES for name in tool.JOB_OUTPUTS.get(job, [job])}
    missing, orphans = sorted(shipped - made), sorted(made - shipped)
    assert shipped == made, f"files without a job: {missing}; jobs without files: {orphans}"


def test_checkpoint_info_reads_whole_models_and_adapters_and_names_other_files(tmp_path):
    from lib.lora import add_lora, save_adapters

    model = DecoderOnlyTransformer(TransformerConfig(vocab_size=12, num_decoder_layers=1))
    save_checkpoint(model, tmp_path / "whole.pt", recipe={"steps": 3}, extra={"seconds": 1.5})
    save_adapters(add_lora(model, rank=2), tmp_path / "adapters.pt", {"steps": 4}, {"seconds": 2.5})
    assert checkpoint_info(tmp_path / "whole.pt")["steps"] == 3
    assert checkpoint_info(tmp_path / "adapters.pt")["seconds"] == 2.5
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="no recipe recorded"):
        checkpoint_info(tmp_path / "other.pt")
