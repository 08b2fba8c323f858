"""Re-execute the book's notebooks in place, each in a fresh kernel.

Stored outputs are a contract that `pytest --nbval` re-checks, so they must all come from
this one procedure: a fresh kernel started in `chapters/`, progress bars off, widget
state stored, no per-cell timing metadata. Usage:

    python tools/execute_notebooks.py                       # every chapter
    python tools/execute_notebooks.py chapters/attention.ipynb
"""

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from notebook_contract import chapter_notebooks, contract_problems  # tools/notebook_contract.py, beside this file

ROOT = Path(__file__).resolve().parent.parent


def execute_in_place(path: Path, timeout: int) -> float:
    notebook = nbformat.read(path, as_version=4)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    client = NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        store_widget_state=True,
        record_timing=False,
    )
    start = time.perf_counter()
    client.execute()
    elapsed = time.perf_counter() - start
    for cell in notebook.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            cell.outputs = merge_adjacent_streams(cell.outputs)
    nbformat.write(notebook, path)
    return elapsed


def merge_adjacent_streams(outputs: list) -> list:
    """One stdout block instead of several when a cell printed between long computations.

    (nbval merges streams the same way before comparing, so this changes only how the site looks.)
    """
    merged = []
    for output in outputs:
        previous = merged[-1] if merged else None
        continues_stream = (
            output.output_type == "stream"
            and previous is not None
            and previous.output_type == "stream"
            and previous.name == output.name
        )
        if continues_stream:
            previous.text += output.text
            continue
        merged.append(output)
    return merged


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebook in _toc.yml")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    args = parser.parse_args()
    os.environ["TRANSFORMER_BOOK_PROGRESS"] = "0"  # the kernel inherits it: no progress bars in outputs
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    notebooks = [p.resolve() for p in args.notebooks] or chapter_notebooks()
    failed = False
    for path in notebooks:
        elapsed = execute_in_place(path, args.timeout)
        problems = contract_problems(path)
        print(f"{path.relative_to(ROOT)}: executed in {elapsed:.1f} s" + ("" if not problems else " - PROBLEMS:"))
        for problem in problems:
            print(f"  {problem}")
        failed |= bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
