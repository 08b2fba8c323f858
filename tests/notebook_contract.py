"""What every stored notebook must be, checked without starting a kernel.

nbval alone passes a notebook that was never executed and ignores images, so these rules
close the gaps: every code cell ran, in order 1..N, without an error; the first code cell
fixes seeds and threads; every figure has alt text; the table of contents lists exactly
the notebooks that exist.
"""

import json
from pathlib import Path

import yaml

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
