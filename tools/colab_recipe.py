"""Put the same Colab recipe, as a markdown cell, right after the title of every chapter notebook.

Colab opens one notebook from GitHub, without the book's library or checkpoints. The recipe
fetches the repository, installs it with `%pip install` (not `-e`: an editable install works
through a path file that Python reads only when it starts, so the running kernel could not
import `lib` afterwards) and moves into the chapters folder, where the checkpoints are. It is a
markdown cell, so nbval and the stored outputs are untouched; the reader copies it into a code
cell on Colab. `tests/test_install.py` runs these exact lines in a fresh venv's IPython and then
imports lib; tools/notebook_contract.py checks that every chapter carries the current cell.

    python tools/colab_recipe.py                 # every chapters/*.ipynb
    python tools/colab_recipe.py chapters/x.ipynb

Running it again changes nothing once every notebook has the current cell.
"""

import sys
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parent.parent
CELL_ID = "colab-recipe"
BOOK_DIR = "/content/book"  # Colab's working folder is /content; absolute, so a re-run is harmless


def repository_url() -> str:
    return yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]


def recipe_lines(repository: str | None = None, book_dir: str = BOOK_DIR) -> list[str]:
    """The recipe's IPython lines; the test runs them with a local clone and a temporary folder."""
    return [
        f"!git clone --depth 1 {repository or repository_url()} {book_dir}",
        f"%pip install -q {book_dir}",
        f"%cd {book_dir}/chapters",
    ]


def recipe_markdown() -> str:
    code = "\n".join(recipe_lines())
    return (
        "**On Colab?** Colab opens this notebook without the book's library and checkpoints. "
        "Paste these lines into a new code cell at the top and run it once; in JupyterLab, "
        "Binder or a clone of the repository there is nothing to do.\n"
        "\n"
        f"```ipython\n{code}\n```"
    )


def recipe_problems(name, notebook) -> list[str]:
    """Whether the notebook's second cell is the current Colab recipe (for the notebook contract)."""
    cells = notebook["cells"]
    cell = cells[1] if len(cells) > 1 else None
    if cell is None or cell.get("id") != CELL_ID:
        return [f"{name}: the Colab recipe is not its second cell; run `python tools/colab_recipe.py {name}`"]
    source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
    if cell["cell_type"] != "markdown" or source != recipe_markdown():
        return [f"{name}: its Colab recipe is out of date; run `python tools/colab_recipe.py {name}`"]
    return []


def add_recipe(path: Path) -> bool:
    """Insert or refresh the recipe cell after the title cell; True if the file changed."""
    notebook = nbformat.read(path, as_version=4)
    cell = nbformat.v4.new_markdown_cell(recipe_markdown())
    cell["id"] = CELL_ID
    cells = notebook.cells
    existing = [i for i, c in enumerate(cells) if c.get("id") == CELL_ID]
    if existing == [1] and cells[1].cell_type == "markdown" and cells[1].source == cell.source:
        return False
    for index in reversed(existing):
        del cells[index]
    cells.insert(1, cell)
    nbformat.write(notebook, path)
    return True


def main(paths: list[str]) -> None:
    notebooks = [Path(p) for p in paths] or sorted((ROOT / "chapters").glob("*.ipynb"))
    for path in notebooks:
        print(("updated " if add_recipe(path) else "current ") + str(path))


if __name__ == "__main__":
    main(sys.argv[1:])
