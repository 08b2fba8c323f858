"""Stored notebooks keep the contract, and executing a notebook twice gives the same text."""

import configparser
import inspect
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbval.plugin import IPyNbCell

from colab_recipe import recipe_markdown
from nbval_book import OUTPUT_WAIT_S
from notebook_contract import ROOT, chapter_notebooks, contract_problems, toc_files

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


# A cell after which the kernel announces "idle" only LATE_S seconds after its reply, as a kernel on a machine
# whose cores are busy with other work can: the last message nbval waits for comes late.
LATE_S = 6
LATE_IDLE = f"""\
import time
kernel = get_ipython().kernel
publish = kernel._publish_status
def late_idle(status, channel, parent=None):
    if status == "idle":
        kernel._publish_status = publish
        time.sleep({LATE_S})
    publish(status, channel, parent)
kernel._publish_status = late_idle
"""


def run_nbval(folder: Path, *plugins: str) -> subprocess.CompletedProcess:
    """pytest --nbval in `folder` (outside the repository, so pyproject.toml's options do not apply)."""
    command = [sys.executable, "-m", "pytest", "-v", "--durations=0", "--nbval", "--nbval-current-env"]
    for plugin in ("no:cacheprovider", *plugins):
        command += ["-p", plugin]
    path = os.pathsep.join([str(ROOT / "tests"), str(ROOT / "tools"), os.environ.get("PYTHONPATH", "")])
    return subprocess.run(
        command, cwd=folder, capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": path}
    )


def test_a_busy_machine_cannot_fail_a_correct_notebook(tmp_path):
    """nbval alone gives up 5 s after a cell's reply; with the book's plugin, a reply whose last
    message comes LATE_S seconds later still passes."""
    assert "self.output_timeout = 5" in inspect.getsource(IPyNbCell.__init__)  # nbval's own wait
    assert OUTPUT_WAIT_S >= 60 > LATE_S > 5
    write_notebook(tmp_path / "late.ipynb", [code_cell(LATE_IDLE, None), code_cell("print(1 + 1)", None)])
    result = run_nbval(tmp_path, "nbval_book")
    assert result.returncode == 0, result.stdout
    waited = re.search(r"([\d.]+)s call +late.ipynb::Cell 0", result.stdout)
    assert waited and float(waited[1]) >= LATE_S, result.stdout  # the late message did come late


def test_exercise_solutions_run_after_the_chapter_in_its_kernel(tmp_path):
    """A solution may use the chapter's variables; one that fails its assert fails the run."""
    cells = [
        code_cell("make_reproducible = None\nanswer = 42", None),
        solution_cell("ex-right", "assert answer == 42"),
        solution_cell("ex-wrong", "assert answer == 41, 'not the answer'"),
    ]
    write_notebook(tmp_path / "solved.ipynb", cells)
    result = run_nbval(tmp_path, "nbval_book")
    assert "Solution ex-right PASSED" in result.stdout, result.stdout
    assert "Solution ex-wrong FAILED" in result.stdout and "not the answer" in result.stdout, result.stdout
