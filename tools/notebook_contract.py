"""What every stored notebook must be, checked without starting a kernel.

nbval alone passes a notebook that was never executed and ignores images, so these rules
close the gaps: every code cell ran, in order 1..N, without an error; the first code cell
fixes seeds and threads; the second cell is the current Colab recipe (tools/colab_recipe.py);
every figure has alt text; every exercise solution has code that asserts its conclusion; the
table of contents lists exactly the notebooks that exist. `wrong_answer_problems` checks that
every solution comes with a wrong answer (tests/wrong_answers.yml) that nbval can run.

It lives in tools/ because tools/execute_notebooks.py checks every notebook it writes;
the tests import it from here too.
"""

import ast
import json
import re
from pathlib import Path

import yaml

from colab_recipe import recipe_problems

ROOT = Path(__file__).resolve().parent.parent
WRONG_ANSWERS = ROOT / "tests" / "wrong_answers.yml"
REPRODUCIBLE_CALL = "make_reproducible("


def toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = []
    for entry in toc.get("chapters", []) + [s for part in toc.get("parts", []) for s in part.get("chapters", [])]:
        files.append(entry["file"])
    return files


def chapter_notebooks() -> list[Path]:
    """The notebooks the table of contents lists, in reading order."""
    return [ROOT / f"{name}.ipynb" for name in toc_files() if (ROOT / f"{name}.ipynb").exists()]


def contract_problems(path: Path) -> list[str]:
    """Every way `path` breaks the contract, each naming the notebook and cell."""
    name = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    try:
        notebook = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        return [f"{name}: not valid JSON ({error})"]
    problems = []
    code_cells = [(i, c) for i, c in enumerate(notebook["cells"]) if c["cell_type"] == "code"]
    if not code_cells:
        return [f"{name}: has no code cells"]
    first_source = "".join(code_cells[0][1]["source"])
    if REPRODUCIBLE_CALL not in first_source:
        problems.append(f"{name}: the first code cell must call lib's make_reproducible(...)")
    problems += recipe_problems(name, notebook)
    problems += solution_problems(name, notebook)
    if (main_path := main_path_cells(notebook)) > MAIN_PATH_CELLS:
        problems.append(
            f"{name}: its main path runs {main_path} cells, more than {MAIN_PATH_CELLS}; split the chapter "
            f"or end a detour's heading in {OPTIONAL}"
        )
    for expected, (index, cell) in enumerate(code_cells, start=1):
        where = f"{name}, cell {index}"
        count = cell.get("execution_count")
        if count is None:
            problems.append(f"{where}: was never executed; run `make execute NOTEBOOK={name}`")
        elif count != expected:
            problems.append(f"{where}: execution count {count}, expected {expected} (re-execute top to bottom)")
        for output in cell.get("outputs", []):
            if output["output_type"] == "error":
                problems.append(f"{where}: stored output is an error ({output.get('ename')}: {output.get('evalue')})")
            if "image/png" in output.get("data", {}) and not image_alt_text(cell):
                problems.append(f"{where}: a figure without alt text (set metadata mystnb.image.alt)")
    return problems


MAIN_PATH_CELLS = 55  # a chapter's main path runs no "much past 50 cells" (issue #34): 50 and a few
OPTIONAL = "(optional)"  # how a detour's heading ends: later chapters do not rely on the section
HEADING = re.compile(r"^(#{2,3}) (.+?)\s*$", re.M)


def main_path_cells(notebook: dict) -> int:
    """The cells a reader walks through: all but those inside sections whose heading ends in "(optional)".

    An optional section starts after the cell that holds its heading and ends at the cell holding
    the next heading of the same or a higher level, which is on the main path again.
    """
    optional_level = None  # the level of the optional section we are in, if any
    count = 0
    for cell in notebook["cells"]:
        headings = HEADING.findall("".join(cell["source"])) if cell["cell_type"] == "markdown" else []
        if optional_level is not None and any(len(marks) <= optional_level for marks, _ in headings):
            optional_level = None
        if optional_level is None:
            count += 1
        for marks, title in headings:
            if optional_level is None and title.endswith(OPTIONAL):
                optional_level = len(marks)
    return count


def image_alt_text(cell: dict) -> str:
    return cell.get("metadata", {}).get("mystnb", {}).get("image", {}).get("alt", "")


SOLUTION_BLOCK = re.compile(r"````\{solution\}[ \t]*(?P<label>\S*)(?P<body>.*?)````", re.S)
PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def markdown_text(notebook: dict) -> str:
    return "\n".join("".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "markdown")


def solutions(notebook: dict) -> list[tuple[str, list[str]]]:
    """(label, its ```python blocks) for every exercise solution in the notebook, in order."""
    matches = SOLUTION_BLOCK.finditer(markdown_text(notebook))
    return [(match["label"], PYTHON_BLOCK.findall(match["body"])) for match in matches]


def asserts_something(code: str) -> bool:
    """Whether `code` has an `assert` statement or calls an assert function (torch.testing.assert_close, ...)."""
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Assert):
            return True
        if isinstance(node, ast.Call):
            called = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if called.startswith("assert"):
                return True
    return False


def solution_problems(name, notebook: dict) -> list[str]:
    """A solution must prove its conclusion: code that asserts it, so that a wrong solution fails."""
    found = solutions(notebook)
    if not found:
        return [f"{name}: has no exercise solutions (```{{solution}} blocks with code that asserts their result)"]
    problems = []
    for label, blocks in found:
        where = f"{name}, solution {label or '(unlabelled)'}"
        try:
            proves = any(asserts_something(code) for code in blocks)
        except SyntaxError as error:
            problems.append(f"{where}: its code is not valid Python ({error.msg}, line {error.lineno})")
            continue
        if not proves:
            problems.append(f"{where}: has no ```python code that asserts its conclusion")
    return problems


def solution_code(blocks: list[str]) -> str:
    """A solution's ```python blocks as one program, the way a wrong answer to it is run."""
    return "\n".join(blocks)


def load_wrong_answers(path: Path = WRONG_ANSWERS) -> dict:
    """chapter stem -> solution label -> [{"why", "replace", "with"[, "from"]}, ...], from tests/wrong_answers.yml.

    Each entry is a plausible wrong answer to the solution: its code with the exact text `replace`
    (which occurs once) replaced by `with`. The solution's asserts must fail on it. With `from`, only
    the code from the line that contains that text on is run again, from the names the solution left
    (for a solution whose first lines train something and whose mistake comes after them).
    """
    return yaml.safe_load(Path(path).read_text()) or {}


def wrong_code(code: str, wrong: dict) -> str:
    """`code` with the wrong answer's one change made, from the line that holds `from` on if it has one."""
    changed = code.replace(wrong["replace"], wrong["with"], 1)
    if "from" not in wrong:
        return changed
    return changed[changed.rfind("\n", 0, changed.index(wrong["from"])) + 1 :]


REQUIRED_KEYS = {"why", "replace", "with"}


def wrong_answer_problems(name, notebook: dict, wrong_answers: dict) -> list[str]:
    """Every solution has at least one wrong answer; each names text that occurs once in the solution's
    code and yields valid Python; no wrong answer names a solution the notebook lacks.

    `wrong_answers` is the part of tests/wrong_answers.yml for this notebook: label -> list of entries.
    """
    found = dict(solutions(notebook))
    wrong_answers = wrong_answers or {}
    problems = [
        f"{name}: wrong answers for {label!r}, which is no solution of this notebook"
        for label in wrong_answers
        if label not in found
    ]
    for label, blocks in found.items():
        where, code = f"{name}, solution {label or '(unlabelled)'}", solution_code(blocks)
        entries = wrong_answers.get(label) or []
        if not entries:
            problems.append(f"{where}: no wrong answer in tests/wrong_answers.yml shows that its asserts can fail")
        for entry in entries:
            if not isinstance(entry, dict) or not REQUIRED_KEYS <= set(entry) <= REQUIRED_KEYS | {"from"}:
                problems.append(
                    f"{where}: a wrong answer needs the keys why, replace and with (and may have from): {entry!r}"
                )
                continue
            if not all(isinstance(value, str) for value in entry.values()) or not entry["why"].strip():
                problems.append(f"{where}: a wrong answer's values must be text, why not empty: {entry!r}")
                continue
            what = f"{where}, wrong answer {entry['why']!r}"
            for key in ("replace", "from") if "from" in entry else ("replace",):
                count = code.count(entry[key]) if entry[key] else 0
                if count != 1:
                    problems.append(f"{what}: its {key} text occurs {count} times in the solution's code, not once")
            if any(p.startswith(what + ": its") for p in problems):
                continue
            if entry["replace"] == entry["with"]:
                problems.append(f"{what}: replace and with are the same")
                continue
            if "from" in entry and code.index(entry["from"]) > code.index(entry["replace"]):
                problems.append(f"{what}: the line with its from text must come before the text it replaces")
                continue
            try:
                ast.parse(wrong_code(code, entry))
            except SyntaxError as error:
                problems.append(f"{what}: not valid Python ({error.msg})")
    return problems
