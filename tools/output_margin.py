"""How far each printed number sits from its rounding edge, against how far it moves between CPU settings.

A stored output holds only on another machine if every number computed at run time (above all,
from training) prints the same there. No setting of this machine reproduces another CPU, but
several settings move the last bits of a result the way another CPU would: MKL's code path
(`MKL_CBWR`), ATen's vector kernels (`ATEN_CPU_CAPABILITY`) and the thread count. This tool

1. rewrites each chapter's format specifications to print four more digits (`:.2f` -> `:.6f`,
   `round(x, 3)` -> `round(x, 7)`, `:.1%` -> `:.5%`, `:.3g` -> `:.7g`),
2. executes that copy once per setting, in a fresh kernel as the book does (two at a time),
3. and reports, for every printed number that moved: its stored text, how far it moved across
   the settings, how far its reference value is from the nearest rounding edge of the stored
   precision, and the ratio of the two (the margin). A number whose value would print
   differently under some setting is a failure; so is a margin under `MIN_MARGIN`.

    python tools/output_margin.py                              # every chapter, every setting
    python tools/output_margin.py chapters/training.ipynb      # one chapter
    python tools/output_margin.py --settings native,mkl-compatible chapters/gpt.ipynb

A score over n examples moves in steps of 1/n, not continuously: where one decision could flip,
the cure is a computation whose decisions do not move (float64, a checkpoint) or a coarser
printout, and this report shows whether the decisions moved at all.
"""

import argparse
import configparser
import os
import re
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from notebook_contract import ROOT, chapter_notebooks

# name -> environment. `native` is how the stored outputs are made (tools/execute_notebooks.py).
SETTINGS = {
    "native": {},
    "aten-default": {"ATEN_CPU_CAPABILITY": "default"},
    "aten-avx2": {"ATEN_CPU_CAPABILITY": "avx2"},
    "mkl-avx2": {"MKL_CBWR": "AVX2"},
    "mkl-compatible": {"MKL_CBWR": "COMPATIBLE"},
    "threads-2": {"TRANSFORMER_BOOK_THREADS": "2"},  # read by lib.reproducibility.make_reproducible
    "threads-4": {"TRANSFORMER_BOOK_THREADS": "4"},
}
EXTRA_DIGITS = 4
MIN_MARGIN = 3.0  # an edge must be at least this many times farther than the largest move seen

FORMAT_SPEC = re.compile(r"(:[^{}:'\"\d]*)(\d*)(,?\.)(\d+)([fe%g]\})")  # (:align sign)(width)(,.)(digits)(type})
ROUND_CALL = re.compile(r"(\bround\([^()]*(?:\([^()]*\)[^()]*)*,\s*)(\d+)(\))")
NUMBER = re.compile(r"(?<![\w.])-?\d+(?:,\d{3})*(?:\.\d+)?(?:e[-+]?\d+)?%?")


def more_digits(source: str) -> str:
    """`source` with every float format and round() printing EXTRA_DIGITS more digits."""

    def wider(m: re.Match) -> str:  # a width grows with the digits, so that columns stay apart
        width = str(int(m[2]) + EXTRA_DIGITS) if m[2] else ""
        return f"{m[1]}{width}{m[3]}{int(m[4]) + EXTRA_DIGITS}{m[5]}"

    source = FORMAT_SPEC.sub(wider, source)
    return ROUND_CALL.sub(lambda m: f"{m[1]}{int(m[2]) + EXTRA_DIGITS}{m[3]}", source)


def sanitizers() -> list[tuple[re.Pattern, str]]:
    """nbval's rules from tests/nbval_sanitize.cfg: timings and addresses are not results."""
    config = configparser.ConfigParser(interpolation=None)
    config.read(ROOT / "tests" / "nbval_sanitize.cfg")
    return [(re.compile(config[s]["regex"]), config[s]["replace"]) for s in config.sections()]


def cell_texts(notebook) -> list[str]:
    """Each code cell's text output (streams and text/plain), sanitized as nbval sanitizes it.

    A cell's outputs are joined: the kernel may deliver one printed line in several stream messages.
    """
    rules = sanitizers()
    texts = []
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        outputs = cell.get("outputs", [])
        text = "".join(o.get("text", "") + str(o.get("data", {}).get("text/plain", "")) for o in outputs)
        for pattern, replacement in rules:
            text = pattern.sub(replacement, text)
        texts.append(text)
    return texts


def numbers(text: str) -> list[str]:
    return NUMBER.findall(text)


def value(token: str) -> float:
    return float(token.replace(",", "").rstrip("%"))


def last_place(token: str) -> float:
    """The unit in the last printed place of `token` ("0.46" -> 0.01, "3.2e-05" -> 1e-06)."""
    mantissa, _, exponent = token.replace(",", "").rstrip("%").lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    return 10.0 ** (int(exponent or 0) - decimals)


def execute(path: Path, setting: str) -> list[str]:
    """The chapter with more digits, executed under `setting`: each code cell's sanitized text."""
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.source = more_digits(cell.source)
    environment = {**os.environ, "TRANSFORMER_BOOK_PROGRESS": "0", "OMP_NUM_THREADS": "1", **SETTINGS[setting]}
    client = NotebookClient(
        notebook, timeout=1200, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    client.execute(env=environment)  # the kernel process starts with the setting's variables
    return cell_texts(notebook)


@dataclass
class Row:
    cell: int
    stored: str  # the number as the stored output prints it
    reference: float  # under `native`, with more digits
    moved: float  # the largest distance from `reference` under any setting
    edge: float  # distance from `reference` to the nearest rounding edge of the stored precision
    resolution: float = 0.0  # half a unit in the last place of the more-digits printout

    @property
    def prints_differently(self) -> bool:
        return self.edge < self.moved and not self.exact

    @property
    def exact(self) -> bool:
        """Unmoved and on a rounding edge only as far as four more digits can tell (e.g. 3055/10000
        printed as 0.305): the same bits print the same everywhere."""
        return self.moved == 0 and self.edge > -self.resolution

    @property
    def margin(self) -> float:
        return self.edge / self.moved if self.moved else float("inf")


def compare(stored: list[str], runs: dict[str, list[str]]) -> tuple[list[Row], list[str]]:
    """Rows for every number that moved, and notes on cells whose numbers could not be paired."""
    rows, notes = [], []
    for cell, stored_text in enumerate(stored):
        stored_numbers = numbers(stored_text)
        per_setting = {name: numbers(texts[cell]) for name, texts in runs.items()}
        if any(len(found) != len(stored_numbers) for found in per_setting.values()):
            counts = {name: len(found) for name, found in per_setting.items()}
            notes.append(f"cell {cell}: {len(stored_numbers)} numbers stored, printed with more digits: {counts}")
            continue
        for index, token in enumerate(stored_numbers):
            reference = value(per_setting["native"][index])
            moved = max(abs(value(found[index]) - reference) for found in per_setting.values())
            half = last_place(token) / 2
            edge = half - abs(reference - value(token))
            if moved > 0 or edge < 0:
                resolution = last_place(per_setting["native"][index]) / 2
                rows.append(Row(cell, token, reference, moved, edge, resolution))
    return rows, notes


def report(path: Path, settings: list[str]) -> bool:
    """Print the margins of one chapter; True when every moving number keeps MIN_MARGIN."""
    with ProcessPoolExecutor(max_workers=2) as pool:
        futures = {name: pool.submit(execute, path, name) for name in settings}
        runs = {name: future.result() for name, future in futures.items()}
    stored = cell_texts(nbformat.read(path, as_version=4))
    rows, notes = compare(stored, runs)
    thin = [row for row in rows if row.margin < MIN_MARGIN and not row.exact]
    print(f"\n{path.relative_to(ROOT)}: {len(rows)} printed numbers moved across {', '.join(settings)}; "
          f"{len(thin)} with a margin under {MIN_MARGIN:g}")  # fmt: skip
    for row in sorted(rows, key=lambda r: r.margin):
        verdict = "PRINTS DIFFERENTLY" if row.prints_differently else ("thin" if row in thin else "ok")
        verdict = "exact (unmoved, on an edge only in decimal)" if row.exact else verdict
        print(f"  cell {row.cell:>2}  {row.stored:>10}  moved {row.moved:.2e}  edge {row.edge:.2e}  "
              f"margin {row.margin:8.1f}  {verdict}")  # fmt: skip
    for note in notes:
        print(f"  note: {note}")
    return not thin


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every chapter in _toc.yml")
    parser.add_argument("--settings", default=",".join(SETTINGS), help=f"comma-separated, of {', '.join(SETTINGS)}")
    args = parser.parse_args()
    settings = args.settings.split(",")
    unknown = set(settings) - set(SETTINGS)
    if unknown or "native" not in settings:
        parser.error(f"settings must include native and come from {sorted(SETTINGS)}; unknown: {sorted(unknown)}")
    notebooks = [p.resolve() for p in args.notebooks] or chapter_notebooks()
    results = [report(path, settings) for path in notebooks]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
