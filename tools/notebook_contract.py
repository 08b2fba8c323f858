"""What every stored notebook must be, checked without starting a kernel.

nbval alone passes a notebook that was never executed and ignores images, so these rules
close the gaps: every code cell ran, in order 1..N, without an error; the first code cell
fixes seeds and threads; the second cell is the current Colab recipe (tools/colab_recipe.py);
every figure has alt text; every exercise solution has code that asserts its conclusion; the
table of contents lists exactly the notebooks that exist.

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
