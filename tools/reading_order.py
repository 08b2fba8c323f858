"""Nothing is used before it is taught: where each lib name the chapters import is introduced.

tools/lib_introductions.yml is the table. Under `introduced`, each chapter lists the lib names it
teaches (or, for a helper such as `load_checkpoint`, the chapter that first says what it does);
under `forward_links`, a chapter lists the names it uses before the chapter that teaches them, on
purpose, as a box whose inside comes later. `reading_order_problems` checks the table against the
chapters in the order of _toc.yml:

- every lib name a chapter imports (in a code cell or an exercise solution) is in the table, once;
- the chapter said to introduce a name imports it, and no name is listed that no chapter imports;
- a chapter that imports a name taught in a later chapter lists it as a forward link, and its
  text links to that chapter (a MyST `{doc}` link: the sentence pointing ahead);
- a listed forward link is one (the name is taught later), so the list cannot go stale.

Names are compared as defined: `from lib import Transformer` and `from lib.model import Transformer`
are both `model.Transformer`, found by reading lib's own imports, so no kernel (or torch) is needed.
"""

import ast
import json
import re
from pathlib import Path

import yaml

from notebook_contract import PYTHON_BLOCK, ROOT, chapter_notebooks

INTRODUCTIONS = ROOT / "tools" / "lib_introductions.yml"


def module_file(module: str, root: Path = ROOT) -> Path:
    path = root.joinpath(*module.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def defined_name(module: str, name: str, root: Path = ROOT) -> str:
    """Where `from module import name` gets name from, following lib's re-exports: "model.Transformer"."""
    source = module_file(module, root)
    if source.exists():
        for node in ast.parse(source.read_text()).body:
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("lib"):
                originals = [alias.name for alias in node.names if (alias.asname or alias.name) == name]
                if originals:
                    return defined_name(node.module, originals[0], root)
    return f"{module.removeprefix('lib').lstrip('.')}.{name}".lstrip(".")


def chapter_code(notebook: dict) -> list[str]:
    """The code a reader runs: code cells (magics and shell lines dropped), then solutions' python blocks."""
    code = []
    for cell in notebook["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "code":
            code.append("\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))))
        else:
            code += PYTHON_BLOCK.findall(source)
    return code


def lib_names(notebook: dict, root: Path = ROOT) -> set[str]:
    """Every lib name the notebook imports, as defined (`import lib.x` counts as the module `x`)."""
    names = set()
    for code in chapter_code(notebook):
        for node in ast.walk(ast.parse(code)):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "lib":
                names |= {defined_name(node.module, alias.name, root) for alias in node.names}
            elif isinstance(node, ast.Import):
                names |= {alias.name.removeprefix("lib.") for alias in node.names if alias.name.startswith("lib.")}
    return names


def doc_links(notebook: dict) -> set[str]:
    """The documents the notebook's text links to with MyST's {doc} role: {doc}`x` or {doc}`text <x>`."""
    text = "\n".join("".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "markdown")
    targets = re.findall(r"\{doc\}`(?:[^`<]*<([^`>]+)>|([^`<]+))`", text)
    return {(bracketed or bare).strip().split("/")[-1] for bracketed, bare in targets}


def load_introductions(path: Path = INTRODUCTIONS) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    table = yaml.safe_load(path.read_text())
    return table["introduced"], table.get("forward_links") or {}


def reading_order_problems(chapters: dict[str, dict], introduced: dict, forward_links: dict, root: Path = ROOT):
    """Problems, as sentences, with `chapters` (name: notebook) in reading order; [] if there are none."""
    order = list(chapters)
    imported = {name: lib_names(notebook, root) for name, notebook in chapters.items()}
    problems, taught_in = [], {}
    for chapter, names in introduced.items():
        if chapter not in chapters:
            problems.append(f"the table names {chapter}, which is not a chapter of the book")
            continue
        for name in names:
            if name in taught_in:
                problems.append(f"{name} is listed as introduced in both {taught_in[name]} and {chapter}")
            taught_in.setdefault(name, chapter)
            if name not in imported[chapter]:
                problems.append(f"{chapter} is said to introduce {name} but does not import it")
    for name in sorted(set(taught_in) - set().union(*imported.values())):
        problems.append(f"{name} is in the table but no chapter imports it")
    for chapter in order:
        marked = set(forward_links.get(chapter, []))
        for name in sorted(imported[chapter]):
            if name not in taught_in:
                problems.append(f"{chapter} imports {name}, which the table does not say where it is introduced")
                continue
            teacher = taught_in[name]
            if order.index(teacher) <= order.index(chapter):
                if name in marked:
                    problems.append(f"{chapter} marks {name} as a forward link, but {teacher} comes first")
                continue
            if name not in marked:
                problems.append(f"{chapter} uses {name} before {teacher} teaches it, without marking a forward link")
            elif teacher not in doc_links(chapters[chapter]):
                problems.append(f"{chapter} uses {name} ahead of {teacher} but its text never links to {teacher}")
        for name in sorted(marked - imported[chapter]):
            problems.append(f"{chapter} marks {name} as a forward link but does not import it")
    return problems


def book_chapters() -> dict[str, dict]:
    """name: notebook, for the table of contents' notebooks in reading order."""
    return {path.stem: json.loads(path.read_text()) for path in chapter_notebooks()}
