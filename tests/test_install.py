"""Installs declare what they import: pyproject.toml, Binder's requirements, a fresh venv.

The fresh-venv test installs the repository with pip alone (no requirements file, only the
exact versions of requirements.txt as constraints) into a new virtual environment without
system site-packages, then imports every lib module and, for every chapter, everything the
chapter imports and its first code cell, unchanged, in an IPython shell; in the same venv it
then runs Colab's recipe. It takes a minute or more and needs the package index, so it runs
only with TRANSFORMER_BOOK_FRESH_INSTALL=1: `make install-check`, which CI runs after `make test`.
"""

import ast
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared_dependencies() -> set[str]:
    listed = re.search(r"^dependencies = \[(.*?)\]", (ROOT / "pyproject.toml").read_text(), flags=re.M | re.S)
    specs = re.findall(r'"([^"]+)"', listed.group(1))
    return {normalize(re.split(r"[<>=!~\[; ]", spec, maxsplit=1)[0]) for spec in specs}


def pins(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==")
            found[normalize(name)] = version.strip()
    return found


def code_of(notebook: Path) -> list[str]:
    """The chapter's code cells, then the ```python blocks of its markdown (exercise solutions)."""
    cells = json.loads(notebook.read_text())["cells"]
    code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    for cell in cells:
        if cell["cell_type"] == "markdown":
            code += re.findall(r"```python\n(.*?)```", "".join(cell["source"]), flags=re.S)
    return code


def imported_modules(source: str) -> set[str]:
    """Top-level names of the modules `source` imports (IPython magics and shell lines dropped)."""
    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    modules = set()
    for node in ast.walk(ast.parse("\n".join(lines))):
        if isinstance(node, ast.Import):
            modules |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            modules.add(node.module.split(".")[0])
    return modules


def third_party(modules: set[str]) -> set[str]:
    return {m for m in modules if m not in sys.stdlib_module_names and m != "lib"}


def test_pyproject_declares_every_third_party_import_of_lib_and_the_chapters():
    sources = [p.read_text() for p in (ROOT / "lib").rglob("*.py")]
    sources += [code for notebook in CHAPTERS for code in code_of(notebook)]
    modules = third_party(set().union(*(imported_modules(s) for s in sources)))
    distributions = importlib.metadata.packages_distributions()
    needed = {normalize(distributions[m][0]) for m in modules}
    assert {"torch", "anywidget", "matplotlib"} <= needed  # the scan finds what it should
    assert needed - declared_dependencies() == set()


def test_binder_gets_the_cpu_build_of_the_same_torch():
    binder = (ROOT / "binder" / "requirements.txt").read_text().splitlines()
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in binder
    assert "-r ../requirements.txt" in binder  # every other pin, and `-e .`
    assert pins(ROOT / "binder" / "requirements.txt")["torch"] == pins(ROOT / "requirements.txt")["torch"] + "+cpu"
    runtime = (ROOT / "binder" / "runtime.txt").read_text().strip()
    assert runtime == "python-{}.{}".format(*sys.version_info[:2])  # the Python the outputs were made with


def test_binder_start_gives_jupyterlab_the_citations_extension():
    """Binder's JupyterLab, started through binder/start in $HOME (the repository), lists the extension."""
    environment = {**os.environ, "HOME": str(ROOT), "JUPYTER_PATH": ""}
    command = [str(ROOT / "binder" / "start"), sys.executable, "-m", "jupyter", "labextension", "list"]
    listing = subprocess.run(command, env=environment, capture_output=True, text=True, check=True)
    output = listing.stdout + listing.stderr
    assert re.search(r"book-citations v1\.0\.0 .*enabled.*OK", output), output


CHECK_CHAPTERS = r"""
import json, os, pkgutil, sys
import lib
from IPython.core.interactiveshell import InteractiveShell

for module in pkgutil.walk_packages(lib.__path__, "lib."):
    __import__(module.name)
shell = InteractiveShell.instance()
for path, imports, first_cell in json.load(sys.stdin):
    os.chdir(os.path.dirname(path))
    for source in (imports, first_cell):
        result = shell.run_cell(source, silent=True)
        if not result.success:
            sys.exit(f"{path}: failed on\n{source}")
    print("ok", os.path.basename(path))
"""

RUN_RECIPE = r"""
import json, os, sys
from IPython.core.interactiveshell import InteractiveShell

lines, first_cell = json.load(sys.stdin)
shell = InteractiveShell.instance()
assert shell.run_cell("import lib").error_in_exec is not None, "lib must not be importable before the recipe"
for line in lines:  # one cell each, as a reader may also paste them into one cell
    result = shell.run_cell(line)
    if not result.success:
        sys.exit(f"the recipe failed on {line!r}")
check = "import os, lib, lib.checkpoint; print('lib from', lib.__file__); print('cwd', os.getcwd())"
for source in (check, first_cell):
    if not shell.run_cell(source).success:
        sys.exit(f"after the recipe, in the same process, this failed:\n{source}")
"""


@pytest.mark.skipif(
    os.environ.get("TRANSFORMER_BOOK_FRESH_INSTALL") != "1",
    reason="installs torch into a new venv (a minute or more): `make install-check` runs it",
)
def test_pip_install_alone_is_enough_for_every_chapter_and_colabs_recipe_imports_lib(tmp_path):
    """Two promises, one fresh venv (installing torch twice would double the time CI spends here).

    1. `pip install` of the repository alone (no requirements file; requirements.txt's versions
       only as constraints) into a venv without system site-packages is enough: every lib module
       imports, and so does, for every chapter, everything it imports and its first code cell,
       unchanged, in an IPython shell.
    2. Colab's recipe works in one IPython process: with the book's package uninstalled again
       (its dependencies stay, as Colab has most of them), the recipe's lines clone the repository
       (from this checkout's last commit instead of GitHub), `%pip install` it, and then `import
       lib` works in the same process, from the venv.
    """
    from colab_recipe import recipe_lines

    source = tmp_path / "source"  # what pip builds from, so the build leaves nothing in the repository
    shutil.copytree(ROOT / "lib", source / "lib", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    constraints = tmp_path / "constraints.txt"  # versions only: a constraint never adds a package
    constraints.write_text("".join(f"{name}=={version}\n" for name, version in pins(ROOT / "requirements.txt").items()))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", venv], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    environment = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    # PIP_NO_COMPILE: no byte-compiling of every installed file (half of pip's time here); it
    # changes nothing about what is installed, and Python compiles what it imports.
    environment.update(
        MPLBACKEND="agg", PIP_CONSTRAINT=str(constraints), PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_COMPILE="1"
    )
    environment["PATH"] = f"{venv / 'bin'}{os.pathsep}{environment['PATH']}"
    subprocess.run([python, "-m", "pip", "install", "--quiet", source], check=True, timeout=900, env=environment)

    chapters = []
    for notebook in CHAPTERS:
        code = code_of(notebook)
        imports = sorted(third_party(set().union(*(imported_modules(c) for c in code))) | {"lib"})
        chapters.append([str(notebook), "\n".join(f"import {m}" for m in imports), code[0]])
    run = subprocess.run(
        [python, "-c", CHECK_CHAPTERS],
        input=json.dumps(chapters),
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=environment,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.split() == [word for n in CHAPTERS for word in ("ok", n.name)]

    subprocess.run(
        [python, "-m", "pip", "uninstall", "--quiet", "--yes", "transformer-book-lib"], check=True, env=environment
    )
    book = tmp_path / "content" / "book"
    lines = recipe_lines(repository=f"file://{ROOT}", book_dir=str(book))
    run = subprocess.run(
        [python, "-c", RUN_RECIPE],
        input=json.dumps([lines, code_of(CHAPTERS[0])[0]]),
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,
        env=environment,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert f"lib from {venv}" in run.stdout, "lib should come from the venv the recipe installed it into"


def test_colab_recipe_on_the_intro_is_the_one_in_every_chapter():
    """The intro shows the recipe's lines as the chapters' cell does (tools/colab_recipe.py)."""
    from colab_recipe import recipe_lines

    intro = (ROOT / "intro.md").read_text()
    block = re.search(r"```ipython\n(.*?)```", intro, flags=re.S)
    assert block, "intro.md should show the Colab recipe in an ```ipython block"
    assert [line.strip() for line in block[1].strip().splitlines()] == recipe_lines()
