"""Stored notebooks keep the contract, and executing a notebook twice gives the same text."""

import configparser
import json
import os
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from colab_recipe import recipe_markdown
from notebook_contract import ROOT, chapter_notebooks, contract_problems, solution_code, toc_files

# The quickest chapter; executing it twice shows the reproducibility helper does its job.
DETERMINISM_NOTEBOOK = ROOT / "chapters" / "attention.ipynb"


@pytest.mark.parametrize("path", chapter_notebooks(), ids=lambda p: p.name)
def test_notebook_keeps_the_contract(path):
    assert contract_problems(path) == []


def test_toc_lists_exactly_the_notebooks_that_exist():
    listed = {ROOT / f"{name}.ipynb" for name in toc_files() if name.startswith("chapters/")}
    present = set((ROOT / "chapters").glob("*.ipynb"))
    assert listed == present, f"in toc but missing: {listed - present}; present but not in toc: {present - listed}"


def write_notebook(path: Path, cells: list[dict]) -> Path:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.from_dict(cell) for cell in cells]
    path.write_text(json.dumps(notebook))
    return path


def code_cell(source: str, count, outputs=()) -> dict:
    return {"cell_type": "code", "source": source, "metadata": {}, "execution_count": count, "outputs": list(outputs)}


def test_contract_names_unexecuted_cells_and_stored_errors(tmp_path):
    error = {"output_type": "error", "ename": "ValueError", "evalue": "boom", "traceback": []}
    path = write_notebook(
        tmp_path / "bad.ipynb",
        [code_cell("from lib import make_reproducible", 1), code_cell("1 / 0", 2, [error]), code_cell("x = 1", None)],
    )
    problems = contract_problems(path)
    assert any("bad.ipynb, cell 1: stored output is an error (ValueError: boom)" in p for p in problems)
    assert any("bad.ipynb, cell 2: was never executed" in p for p in problems)


def test_contract_names_out_of_order_counts_and_missing_seed_call(tmp_path):
    path = write_notebook(tmp_path / "order.ipynb", [code_cell("x = 1", 3), code_cell("y = 2", 1)])
    problems = contract_problems(path)
    assert any("first code cell must call lib's make_reproducible" in p for p in problems)
    assert any("order.ipynb, cell 0: execution count 3, expected 1" in p for p in problems)


def markdown_cell(source: str) -> dict:
    return {"cell_type": "markdown", "source": source, "metadata": {}}


def solution_cell(label: str, code: str) -> dict:
    return markdown_cell(f"````{{solution}} {label}\n:class: dropdown\n\nText.\n\n```python\n{code}\n```\n````")


def test_contract_fails_a_solution_whose_code_asserts_nothing(tmp_path):
    cells = [
        code_cell("from lib import make_reproducible", 1),
        solution_cell("ex-proves", "import torch\ntorch.testing.assert_close(torch.ones(2), torch.ones(2))"),
        solution_cell("ex-states", "x = 2 + 2\nprint(x)  # assert x == 4 in a comment proves nothing"),
        markdown_cell("````{solution} ex-prose\n:class: dropdown\n\nOnly words.\n````"),
        solution_cell("ex-broken", "assert (("),
    ]
    problems = contract_problems(write_notebook(tmp_path / "solutions.ipynb", cells))
    assert not any("ex-proves" in p for p in problems)
    assert any("solution ex-states: has no ```python code that asserts its conclusion" in p for p in problems)
    assert any("solution ex-prose: has no ```python code that asserts its conclusion" in p for p in problems)
    assert any("solution ex-broken: its code is not valid Python" in p for p in problems)


def test_contract_accepts_assert_statements_and_fails_a_chapter_without_solutions(tmp_path):
    recipe = {**markdown_cell(recipe_markdown()), "id": "colab-recipe"}  # tools/colab_recipe.py
    proving = [
        markdown_cell("# Title"),
        recipe,
        code_cell("make_reproducible()", 1),
        solution_cell("ex", "assert 2 + 2 == 4"),
    ]
    assert contract_problems(write_notebook(tmp_path / "proving.ipynb", proving)) == []
    bare = [code_cell("make_reproducible()", 1)]
    problems = contract_problems(write_notebook(tmp_path / "bare.ipynb", bare))
    assert any("has no exercise solutions" in p for p in problems)


def execute_in_fresh_kernel(notebook, path: Path) -> None:
    """Run `notebook` top to bottom in a new kernel started in the notebook's folder, as the book does."""
    os.environ["TRANSFORMER_BOOK_PROGRESS"] = "0"
    NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()


def nbval_sanitizers() -> list[tuple[re.Pattern, str]]:
    """The (regex, replacement) rules nbval applies, from tests/nbval_sanitize.cfg: timings, addresses."""
    config = configparser.ConfigParser(interpolation=None)
    config.read(ROOT / "tests" / "nbval_sanitize.cfg")
    return [(re.compile(config[section]["regex"]), config[section]["replace"]) for section in config.sections()]


def text_outputs(notebook) -> list[str]:
    """Each code cell's text output, sanitized as nbval sanitizes it (a timing marked "(timed)" may differ).

    A cell's outputs are joined: the kernel may deliver one printed line in several stream messages.
    """
    texts = []
    for cell in notebook.cells:
        outputs = cell.get("outputs", [])
        text = "".join(output.get("text", "") + str(output.get("data", {}).get("text/plain", "")) for output in outputs)
        for pattern, replacement in nbval_sanitizers():
            text = pattern.sub(replacement, text)
        texts.append(text)
    return texts


def test_executing_a_notebook_twice_gives_identical_text():
    runs = []
    for _ in range(2):
        notebook = nbformat.read(DETERMINISM_NOTEBOOK, as_version=4)
        execute_in_fresh_kernel(notebook, DETERMINISM_NOTEBOOK)
        runs.append(text_outputs(notebook))
    assert runs[0] == runs[1]


@pytest.mark.parametrize("path", chapter_notebooks(), ids=lambda p: p.name)
def test_exercise_solutions_run(path):
    """Solutions are markdown, so nothing else runs them: run each after the chapter, in its kernel."""
    notebook = nbformat.read(path, as_version=4)
    solutions = solution_code(notebook)
    if not solutions:
        pytest.fail(f"{path.name} has no code in its exercise solutions")
    notebook.cells += [nbformat.v4.new_code_cell(code) for code in solutions]
    execute_in_fresh_kernel(notebook, path)
