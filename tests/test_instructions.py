"""The instructions: answers Python agrees with, and held-out inputs no training instruction uses."""

import ast

from lib.instructions import TASKS, make_instructions, parse_input, plausible_wrong_answer


def test_no_input_and_no_prompt_is_shared_between_splits():
    data = make_instructions(per_task=200, held_out_per_task=20)
    assert data.overlap() == (0, 0)
    assert len(data.training) == 200 * len(TASKS) and len(data.held_out) == len(data.validation) == 20 * len(TASKS)
    for split in (data.validation, data.held_out):
        assert len({(i.task, i.key) for i in split}) == len(split)  # distinct inputs within a task


def test_every_answer_is_what_python_computes():
    data = make_instructions(per_task=50, held_out_per_task=10)
    computed = {
        "sort": sorted, "reverse": lambda x: x[::-1], "largest": max, "length": len, "first": lambda x: x[0],
        "add": lambda x: x[0] + x[1], "upper": str.upper,
    }  # fmt: skip
    for instruction in data.training + data.held_out:
        value = parse_input(instruction)
        if instruction.task != "upper":
            assert value == ast.literal_eval(
                instruction.key.replace(" + ", ", ") if instruction.task == "add" else instruction.key
            )
        expected = computed[instruction.task](value)
        assert instruction.answer == (expected if isinstance(expected, str) else str(expected))


def test_wrong_answers_are_wrong_and_missing_only_where_the_mistake_is_right():
    data = make_instructions(per_task=100, held_out_per_task=10)
    for instruction in data.training:
        wrong = plausible_wrong_answer(instruction)
        assert wrong != instruction.answer
        if wrong is None:
            assert instruction.task in {"sort", "reverse", "largest", "first"}


def test_the_same_seed_gives_the_same_instructions():
    assert make_instructions(per_task=20, held_out_per_task=5) == make_instructions(per_task=20, held_out_per_task=5)


def test_a_kernel_s_builtins_do_not_change_the_instructions(monkeypatch):
    """ipykernel replaces builtins.input and IPython adds display: the data must not notice."""
    import builtins

    before = make_instructions(per_task=50, held_out_per_task=10)

    def kernel_input(prompt=""):
        return ""

    kernel_input.__module__ = "ipykernel.kernelbase"
    monkeypatch.setattr(builtins, "input", kernel_input)
    monkeypatch.setattr(builtins, "display", lambda *objects: None, raising=False)
    after = make_instructions(per_task=50, held_out_per_task=10)
    assert after == before and after.fingerprint() == before.fingerprint()


def test_the_shipped_checkpoints_were_trained_on_this_split():
    from pathlib import Path

    import torch

    checkpoints = Path(__file__).resolve().parent.parent / "chapters" / "checkpoints"
    fingerprint = make_instructions().fingerprint()
    paths = sorted(checkpoints.glob("assistant-*.pt"))
    assert len(paths) == 18
    for path in paths:
        assert torch.load(path, weights_only=True)["recipe"]["data_fingerprint"] == fingerprint, path.name
