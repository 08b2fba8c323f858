"""Stored notebooks keep the contract, and executing a notebook twice gives the same text."""

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
from notebook_contract import (
    MAIN_PATH_CELLS,
    OPTIONAL,
    ROOT,
    chapter_notebooks,
    contract_problems,
    load_wrong_answers,
    main_path_cells,
    toc_files,
    wrong_answer_problems,
)
from output_margin import cell_texts
from reading_order import book_chapters, load_introductions, reading_order_problems
from reading_time import FAST_ROUTE, WHOLE_CHAPTER, intro_entry, route_minutes, sections

# The quickest chapter; executing it twice shows the reproducibility helper does its job.
DETERMINISM_NOTEBOOK = ROOT / "chapters" / "attention.ipynb"


@pytest.mark.parametrize("path", chapter_notebooks(), ids=lambda p: p.name)
def test_notebook_keeps_the_contract(path):
    assert contract_problems(path) == []


@pytest.mark.parametrize("path", chapter_notebooks(), ids=lambda p: p.name)
def test_every_solution_has_a_wrong_answer_to_catch(path):
    """tests/wrong_answers.yml gives every solution a plausible wrong answer; nbval checks that its asserts catch it."""
    notebook = json.loads(path.read_text())
    assert wrong_answer_problems(path.name, notebook, load_wrong_answers().get(path.stem)) == []


def test_wrong_answers_name_only_chapters_that_exist():
    chapters = {path.stem for path in chapter_notebooks()}
    assert set(load_wrong_answers()) <= chapters


def test_every_stored_widget_carries_lib_s_current_page_runtime():
    """A stored widget embeds the page's JavaScript under a key made from its text; after a change to
    lib/widget/*.js, every chapter with a widget must be re-executed (nbval would fail them slowly)."""
    from lib.widget.page import RUNTIME_KEY

    stale = {
        path.name: sorted(set(keys) - {RUNTIME_KEY})
        for path in chapter_notebooks()
        if (keys := re.findall(r"(?<!css-)runtime-[0-9a-f]{16}", path.read_text())) and set(keys) != {RUNTIME_KEY}
    }
    assert stale == {}, f"re-execute these chapters (make execute NOTEBOOK=...): {stale}"


# Readers never see the personal note the book grew from, so no chapter quotes or corrects it; a
# common misconception is corrected as a fact about transformers. The intro names the origin once.
NOTE_MENTION = re.compile(r"(?i)\b(seed|study|personal) note\b|\bthe note\b|\bnote's\b|\bVitya\b")


def test_chapters_tell_the_books_own_story_not_the_note_it_grew_from():
    mentions = [
        f"{path.name} cell {index}: {match.group(0)!r}"
        for path in chapter_notebooks()
        for index, cell in enumerate(json.loads(path.read_text())["cells"])
        for match in NOTE_MENTION.finditer("".join(cell["source"]) + json.dumps(cell["metadata"]))  # captions too
    ]
    assert mentions == []
    assert len(NOTE_MENTION.findall((ROOT / "intro.md").read_text())) <= 1


def test_nothing_is_used_before_it_is_taught():
    """Every lib name a chapter imports is taught there or earlier, or is a marked forward link
    (tools/lib_introductions.yml, checked by tools/reading_order.py)."""
    chapters = book_chapters()
    assert list(chapters) == [name.split("/")[-1] for name in toc_files() if name.startswith("chapters/")]
    assert reading_order_problems(chapters, *load_introductions()) == []


def markdown_and_code(text: str, code: str) -> dict:
    cells = [{"cell_type": "markdown", "source": text}, {"cell_type": "code", "source": code}]
    return {"cells": [{"metadata": {}, **cell} for cell in cells]}


def test_reading_order_check_names_each_kind_of_forward_use():
    later = markdown_and_code("# Encoder and decoder", "from lib.model import Transformer")
    early = markdown_and_code("# Positions", "from lib import Transformer  # as re-exported by lib")
    chapters = {"early": early, "later": later}
    taught = {"later": ["model.Transformer"]}
    assert reading_order_problems(chapters, taught, {}) == [
        "early uses model.Transformer before later teaches it, without marking a forward link"
    ]
    assert reading_order_problems(chapters, taught, {"early": ["model.Transformer"]}) == [
        "early uses model.Transformer ahead of later but its text never links to later"
    ]
    pointing = markdown_and_code("A box here; {doc}`the next chapter <later>` opens it.", early["cells"][1]["source"])
    assert reading_order_problems({"early": pointing, "later": later}, taught, {"early": ["model.Transformer"]}) == []
    assert reading_order_problems(chapters, {"early": ["model.Transformer"]}, {"later": ["model.Transformer"]}) == [
        "later marks model.Transformer as a forward link, but early comes first"
    ]
    assert reading_order_problems(chapters, {"later": ["model.Transformer", "model.count_parameters"]}, {}) == [
        "later is said to introduce model.count_parameters but does not import it",
        "model.count_parameters is in the table but no chapter imports it",
        "early uses model.Transformer before later teaches it, without marking a forward link",
    ]
    assert reading_order_problems(chapters, {}, {}) == [
        f"{name} imports model.Transformer, which the table does not say where it is introduced" for name in chapters
    ]


def test_the_intro_quotes_the_computed_times_of_both_routes():
    """The intro's times are tools/reading_time.py's, for every chapter and both routes."""
    intro = (ROOT / "intro.md").read_text()
    assert set(FAST_ROUTE) == {name.split("/")[-1] for name in toc_files() if name.startswith("chapters/")}
    for name in FAST_ROUTE:
        assert intro_entry(name) in intro, f"{name}: `python tools/reading_time.py --update-intro` writes the new times"
    full, fast = route_minutes()
    assert f"about {full / 60:.1f} hours" in intro.replace("\n", " ")
    assert f"about {fast / 60:.1f} hours" in intro.replace("\n", " ")


@pytest.mark.parametrize("name", list(FAST_ROUTE))
def test_each_opening_names_what_the_fast_route_skips(name):
    notebook = json.loads((ROOT / "chapters" / f"{name}.ipynb").read_text())
    opening = "".join(notebook["cells"][0]["source"])
    route = next((line for line in opening.splitlines() if line.startswith("**Fast route**")), None)
    assert route is not None, "the opening should say what the fast route does with this chapter"
    skipped = FAST_ROUTE[name]
    if skipped == WHOLE_CHAPTER:
        assert "skips this chapter" in route
        return
    titles = [title for _, title, _ in sections(notebook)]
    for title in skipped:
        assert title in titles, f"no section {title!r} to skip"
        assert f"*{title}*" in route, f"the opening should name {title!r}"
    assert route.count("*") == 2 * len(skipped) + 4  # the bold label, then one pair of stars per section


def test_optional_sections_are_detours_the_fast_route_skips():
    """A heading that ends in "(optional)" marks a detour; the fast route never walks one."""
    for path in chapter_notebooks():
        notebook = json.loads(path.read_text())
        for _, title, _ in sections(notebook):
            if title.endswith(OPTIONAL):
                skipped = FAST_ROUTE[path.stem]
                assert skipped == WHOLE_CHAPTER or title in skipped, f"{path.stem}: the fast route skips {title!r}"


def test_contract_counts_the_main_path_without_optional_sections(tmp_path):
    def chapter(detour_heading: str) -> list[dict]:
        return [
            code_cell("from lib import make_reproducible", 1),
            markdown_cell("## The idea"),
            *[markdown_cell("text") for _ in range(40)],
            markdown_cell(f"Words first.\n\n## {detour_heading}"),  # a heading inside a cell: that cell is main path
            *[markdown_cell("detour") for _ in range(30)],
            markdown_cell("### A subsection of the detour"),
            markdown_cell("detour"),
            markdown_cell("## Back on the path"),
            markdown_cell("text"),
        ]

    marked = write_notebook(tmp_path / "marked.ipynb", chapter("A detour (optional)"))
    assert main_path_cells(json.loads(marked.read_text())) == 1 + 1 + 40 + 1 + 2
    assert not any("main path" in p for p in contract_problems(marked))
    unmarked = write_notebook(tmp_path / "unmarked.ipynb", chapter("A detour"))
    assert main_path_cells(json.loads(unmarked.read_text())) == 77
    assert any(f"main path runs 77 cells, more than {MAIN_PATH_CELLS}" in p for p in contract_problems(unmarked))


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


def test_wrong_answer_contract_names_missing_unknown_and_unusable_wrong_answers():
    notebook = {"cells": [solution_cell("ex-a", "x = 1\nassert x == 1"), solution_cell("ex-b", "y = 2\nassert y == 2")]}
    wrong = {
        "ex-a": [
            {"why": "off by one", "replace": "x = 1", "with": "x = 2"},  # fine
            {"why": "twice", "replace": "=", "with": "!="},  # occurs three times
            {"why": "absent", "replace": "z = 3", "with": "z = 4"},
            {"why": "broken", "replace": "x = 1", "with": "x = ("},
            {"why": "no change", "replace": "x = 1", "with": "x = 1"},
            {"why": "no with", "replace": "x = 1"},
            {"why": "from after", "replace": "x = 1", "with": "x = 2", "from": "assert"},
            {"why": "from twice", "replace": "x == 1", "with": "x == 2", "from": "x"},
            {"why": "from the assert", "replace": "x == 1", "with": "x == 2", "from": "assert"},  # fine
        ],
        "ex-gone": [{"why": "w", "replace": "a", "with": "b"}],
    }
    problems = wrong_answer_problems("nb.ipynb", notebook, wrong)
    assert not any("'off by one'" in p for p in problems)
    assert any("'twice': its replace text occurs 3 times" in p for p in problems)
    assert any("'absent': its replace text occurs 0 times" in p for p in problems)
    assert any("'broken': not valid Python" in p for p in problems)
    assert any("'no change': replace and with are the same" in p for p in problems)
    assert any("needs the keys why, replace and with (and may have from)" in p for p in problems)
    assert any("'from after': the line with its from text must come before the text it replaces" in p for p in problems)
    assert any("'from twice': its from text occurs 2 times" in p for p in problems)
    assert not any("'from the assert'" in p for p in problems)
    assert any("solution ex-b: no wrong answer" in p for p in problems)
    assert any("wrong answers for 'ex-gone', which is no solution of this notebook" in p for p in problems)
    assert len(problems) == 9


def execute_in_fresh_kernel(notebook, path: Path) -> None:
    """Run `notebook` top to bottom in a new kernel started in the notebook's folder, as the book does."""
    os.environ["TRANSFORMER_BOOK_PROGRESS"] = "0"
    NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()


def test_executing_a_notebook_twice_gives_identical_text():
    runs = []
    for _ in range(2):
        notebook = nbformat.read(DETERMINISM_NOTEBOOK, as_version=4)
        execute_in_fresh_kernel(notebook, DETERMINISM_NOTEBOOK)
        runs.append(cell_texts(notebook))  # sanitized as nbval sanitizes (tools/output_margin.py)
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


def run_nbval(folder: Path, *plugins: str, options: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """pytest --nbval in `folder` (outside the repository, so pyproject.toml's options do not apply)."""
    command = [sys.executable, "-m", "pytest", "-v", "--durations=0", "--nbval", "--nbval-current-env", *options]
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


def test_a_wrong_answer_passes_only_when_the_solutions_asserts_catch_it(tmp_path):
    """Each wrong answer runs after every solution, from the names and torch random state its solution
    started from (or, with `from`, the names it left); it passes if it raises AssertionError and
    fails if it slips through or breaks."""
    cells = [
        code_cell("import torch\nmake_reproducible = None\nanswer = 42", None),
        solution_cell("ex-sum", "total = answer + 1\ndraw = torch.rand(()).item()\nassert total == 43, 'not 43'"),
        solution_cell("ex-slow", "slow = answer * 2  # stands for a long training run\nassert slow == 84"),
        solution_cell("ex-later", "answer = 0  # rebinds a name the chapter defined\nassert answer == 0"),
    ]
    write_notebook(tmp_path / "solved.ipynb", cells)
    wrong = {
        "ex-sum": [
            {"why": "adds two", "replace": "answer + 1", "with": "answer + 2"},
            {"why": "asserts nothing", "replace": "assert total == 43, 'not 43'", "with": "pass"},
            {"why": "misspells a name", "replace": "answer + 1", "with": "answr + 1"},
            # caught only if it sees answer == 42 (not the later solution's 0) and the solution's own draw
            {
                "why": "sees what the solution saw",
                "replace": "assert total == 43, 'not 43'",
                "with": "import __main__\nassert total != 43 or draw != __main__.draw, 'the same names and draw'",
            },
        ],
        "ex-slow": [
            # reruns only the assert, with the solution's slow result; `answer` is still 42 there
            {"why": "halves it", "replace": "assert slow == 84", "with": "assert slow / 2 == 84", "from": "assert"},
            {
                "why": "reruns the slow line",
                "replace": "assert slow == 84",
                "with": "assert 'slow' not in dir()",
                "from": "assert",
            },
        ],
        "ex-later": [{"why": "checks the wrong value", "replace": "answer == 0", "with": "answer == 1"}],
    }
    (tmp_path / "wrong.yml").write_text(json.dumps({"solved": wrong}))  # JSON is YAML
    result = run_nbval(tmp_path, "nbval_book", options=("--wrong-answers", str(tmp_path / "wrong.yml")))
    outcomes = dict(re.findall(r"::(Solution [\w-]+|Wrong answer to [^\n]+?) (PASSED|FAILED)", result.stdout))
    assert outcomes == {
        "Solution ex-sum": "PASSED",
        "Solution ex-slow": "PASSED",
        "Solution ex-later": "PASSED",
        "Wrong answer to ex-sum: adds two": "PASSED",
        "Wrong answer to ex-sum: asserts nothing": "FAILED",
        "Wrong answer to ex-sum: misspells a name": "FAILED",
        "Wrong answer to ex-sum: sees what the solution saw": "PASSED",
        "Wrong answer to ex-slow: halves it": "PASSED",
        "Wrong answer to ex-slow: reruns the slow line": "PASSED",
        "Wrong answer to ex-later: checks the wrong value": "PASSED",
    }, result.stdout
    report = re.sub(r"\x1b\[[\d;]*m", "", result.stdout)  # the kernel's traceback is coloured
    assert "WrongAnswerSlippedThrough: the asserts of solution ex-sum pass this wrong answer: asserts nothing" in report
    assert "WrongAnswerBroke: this wrong answer to ex-sum (misspells a name) raised NameError" in report
