"""nbval, the book's way: each chapter executed once, with room for a busy machine.

A pytest plugin (pyproject.toml loads it with `-p nbval_book`), active only under `--nbval`:

- After a notebook's last cell, its exercise solutions run as further items in the same
  kernel, one item per solution. Solutions are markdown, so nothing else would run them, and
  running them here saves executing every chapter a second time.
- nbval waits a fixed 5 s for a finished cell's last output message. On a machine whose cores
  are busy with other work, that message can come later and a correct notebook fails with
  "Timeout of 5 seconds exceeded waiting for output"; the wait here is `OUTPUT_WAIT_S`.
"""

import os
from collections import defaultdict

import nbformat
import pytest
from nbval.plugin import IPyNbCell, IPyNbFile

from notebook_contract import solutions

OUTPUT_WAIT_S = 120


class ChapterNotebook(IPyNbFile):
    """A notebook's cells, then its exercise solutions, all in one kernel."""

    def collect(self):
        cells = list(super().collect())
        for cell in cells:
            cell.output_timeout = OUTPUT_WAIT_S
            yield cell
        for label, blocks in solutions(self.nb):
            for number, code in enumerate(blocks, start=1):
                name = f"Solution {label}" + (f" ({number} of {len(blocks)})" if len(blocks) > 1 else "")
                # Never executed and without stored outputs, so nbval only checks that it runs.
                cell = nbformat.v4.new_code_cell(code)
                item = IPyNbCell.from_parent(self, name=name, cell_num=len(cells), cell=cell, options=defaultdict(bool))
                item.output_timeout = OUTPUT_WAIT_S
                yield item


def pytest_configure(config):
    if config.option.nbval:  # kernels inherit it: training loops draw no progress bars
        os.environ.setdefault("TRANSFORMER_BOOK_PROGRESS", "0")


@pytest.hookimpl(wrapper=True)
def pytest_collect_file(file_path, parent):
    collectors = yield
    return [
        ChapterNotebook.from_parent(parent, path=file_path) if type(collector) is IPyNbFile else collector
        for collector in collectors
    ]
