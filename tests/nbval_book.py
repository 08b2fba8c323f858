"""nbval, the book's way: each chapter executed once, with room for a busy machine.

A pytest plugin (pyproject.toml loads it with `-p nbval_book`), active only under `--nbval`:

- After a notebook's last cell, its exercise solutions run as further items in the same
  kernel, one item per solution. Solutions are markdown, so nothing else would run them, and
  running them here saves executing every chapter a second time.
- Then every wrong answer to a solution (tests/wrong_answers.yml: the solution's code with one
  plausible mistake) runs as one more item, "Wrong answer to LABEL: WHY", which passes only if
  the solution's asserts catch it: it must raise AssertionError. A wrong answer runs in a copy of
  the names the solution saw when it ran, with the torch random state it had then, so it differs
  from the solution only by its mistake, and it cannot change what any later item sees. One with
  `from` reruns only the solution's last lines, in a copy of the names the solution left.
- nbval waits a fixed 5 s for a finished cell's last output message. On a machine whose cores
  are busy with other work, that message can come later and a correct notebook fails with
  "Timeout of 5 seconds exceeded waiting for output"; the wait here is `OUTPUT_WAIT_S`.
"""

import os
from collections import defaultdict
from pathlib import Path

import nbformat
import pytest
from nbval.plugin import IPyNbCell, IPyNbFile

from notebook_contract import WRONG_ANSWERS, load_wrong_answers, solution_code, solutions, wrong_code

OUTPUT_WAIT_S = 120
# In the kernel: (label, "before" or "after") -> (names, torch random state) around the solution.
NAMESPACES = "__solution_namespaces__"


def save_namespace_code(label: str, when: str) -> str:
    """Kernel code that saves, before or after a solution runs, what its wrong answers will start from."""
    return f"""\
import sys as __sys
globals().setdefault({NAMESPACES!r}, {{}})[{label!r}, {when!r}] = (
    dict(globals()), __sys.modules["torch"].get_rng_state() if "torch" in __sys.modules else None)
del __sys
"""


# Kernel code that runs one wrong answer (a call with its code, label and why follows), in a copy of the
# names that save_namespace_code saved under NAMESPACES, or of the kernel's globals if none were saved.
RUN_WRONG_ANSWER = """\
def __run_wrong_answer(code, label, when, why):
    import sys

    class WrongAnswerSlippedThrough(Exception):
        pass

    class WrongAnswerBroke(Exception):
        pass

    names, random_state = globals().get("__solution_namespaces__", {}).get((label, when), (globals(), None))
    torch = sys.modules.get("torch")
    random_state_now = torch.get_rng_state() if torch else None
    if random_state is not None:
        torch.set_rng_state(random_state)
    try:
        exec(compile(code, f"wrong answer to {label}", "exec"), dict(names))
    except AssertionError as caught:
        print(f"caught by the solution's asserts: {type(caught).__name__}: {str(caught)[:300]}")
        return
    except Exception as error:
        raise WrongAnswerBroke(
            f"this wrong answer to {label} ({why}) raised {type(error).__name__}, not AssertionError: "
            "it breaks the code before the asserts can judge it; make it a mistake that runs"
        ) from error
    finally:
        if torch:
            torch.set_rng_state(random_state_now)
    raise WrongAnswerSlippedThrough(f"the asserts of solution {label} pass this wrong answer: {why}")


"""


def run_wrong_answer_code(code: str, label: str, when: str, why: str) -> str:
    return RUN_WRONG_ANSWER + f"__run_wrong_answer({code!r}, {label!r}, {when!r}, {why!r})\ndel __run_wrong_answer\n"


def pytest_addoption(parser):
    parser.addoption(
        "--wrong-answers",
        default=str(WRONG_ANSWERS),
        help="YAML of wrong answers to exercise solutions, run under --nbval (default tests/wrong_answers.yml)",
    )


def book_cell(parent, name, cell_num, code, item_class=IPyNbCell):
    # Never executed and without stored outputs, so nbval only checks that it runs.
    cell = nbformat.v4.new_code_cell(code)
    item = item_class.from_parent(parent, name=name, cell_num=cell_num, cell=cell, options=defaultdict(bool))
    item.output_timeout = OUTPUT_WAIT_S
    return item


class SolutionCell(IPyNbCell):
    """A block of a solution's code; around the solution, the kernel saves what its wrong answers start from."""

    label, first, last = None, True, True

    def save_namespace(self, when: str):
        kernel = self.parent.kernel
        request = kernel.kc.execute(
            save_namespace_code(self.label, when), silent=True, store_history=False, stop_on_error=False
        )
        kernel.await_reply(request, timeout=self.config.option.nbval_cell_timeout)

    def runtest(self):
        if self.first:
            self.save_namespace("before")
        super().runtest()
        if self.last:
            self.save_namespace("after")


class ChapterNotebook(IPyNbFile):
    """A notebook's cells, then its exercise solutions, then the wrong answers to them, all in one kernel."""

    def collect(self):
        cells = list(super().collect())
        for cell in cells:
            cell.output_timeout = OUTPUT_WAIT_S
            yield cell
        found = solutions(self.nb)
        for label, blocks in found:
            for number, code in enumerate(blocks, start=1):
                name = f"Solution {label}" + (f" ({number} of {len(blocks)})" if len(blocks) > 1 else "")
                item = book_cell(self, name, len(cells), code, SolutionCell)
                item.label, item.first, item.last = label, number == 1, number == len(blocks)
                yield item
        wrong_answers = load_wrong_answers(Path(self.config.option.wrong_answers)).get(self.path.stem) or {}
        for label, blocks in found:
            for wrong in wrong_answers.get(label) or []:
                when = "after" if "from" in wrong else "before"
                code = run_wrong_answer_code(wrong_code(solution_code(blocks), wrong), label, when, wrong["why"])
                yield book_cell(self, f"Wrong answer to {label}: {wrong['why']}", len(cells), code)


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
