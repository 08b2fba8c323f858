"""Instructions with answers a program can check: the data the post-training chapter tunes on.

Each task asks for something Python could compute (sort a list, add two numbers, write a word in
capitals) in several phrasings, so every answer a model gives is scored exactly, with no judge
model. The inputs are split before any phrasing is filled in: an input held out for evaluation
never appears in a training instruction of any task, so the held-out instructions test whether a
model learned to follow the instruction, not whether it remembers the example.

Everything comes from a seeded generator and from names Python ships (its keywords and
built-in functions): nothing is downloaded.
"""

import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass

TASK_PHRASINGS = {  # task -> phrasings; {x} is the input as Python writes it, {a} and {b} two numbers
    "sort": ("Sort the list {x}.", "Put {x} in increasing order.", "What is sorted({x})?"),
    "reverse": ("Reverse the list {x}.", "Write {x} backwards.", "What is {x}[::-1]?"),
    "largest": ("What is the largest number in {x}?", "Give the maximum of {x}.", "What is max({x})?"),
    "length": ("How many items are in {x}?", "Give the length of {x}.", "What is len({x})?"),
    "first": ("What is the first item of {x}?", "Which number comes first in {x}?", "What is {x}[0]?"),
    "add": ("What is {a} + {b}?", "Add {a} and {b}.", "Compute the sum of {a} and {b}."),
    "upper": ("Write {x} in capital letters.", "What is {x}.upper()?", "Capitalize every letter of {x}."),
}
TASKS = tuple(TASK_PHRASINGS)
HELD_OUT_FRACTION = 0.15  # of the distinct inputs, each for validation and held out, chosen first


@dataclass(frozen=True)
class Instruction:
    """One instruction and its one correct answer; `key` names the input, shared by every phrasing."""

    task: str
    prompt: str
    answer: str
    key: str  # the input as text: "[3, 1, 2]", "23 + 45" or "'print'"


@dataclass
class InstructionData:
    """Training, validation and held-out instructions; no input occurs in two of them.

    Validation instructions choose each recipe's learning rate; held-out ones are only scored.
    """

    training: list[Instruction]
    validation: list[Instruction]
    held_out: list[Instruction]

    def fingerprint(self) -> str:
        """A short hash of every training instruction and answer: checkpoints store it, so a chapter can
        check that it scores the held-out instructions of the very split the checkpoints were trained on."""
        text = "\n".join(f"{i.task}|{i.prompt}|{i.answer}" for i in self.training)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def overlap(self) -> tuple[int, int]:
        """(prompts, inputs) that occur in more than one split: both 0 by construction."""
        splits = (self.training, self.validation, self.held_out)
        prompts = [{i.prompt for i in split} for split in splits]
        keys = [{i.key for i in split} for split in splits]
        shared = lambda sets: len((sets[0] & sets[1]) | (sets[0] & sets[2]) | (sets[1] & sets[2]))  # noqa: E731
        return shared(prompts), shared(keys)


WORDS = (  # keywords, built-in names, methods of built-in types, stdlib modules: 2-8 lowercase letters
    'abc', 'abs', 'add', 'aifc', 'aiter', 'all', 'and', 'anext', 'any', 'append', 'argparse', 'array', 'as', 'ascii',
    'assert', 'ast', 'async', 'asynchat', 'asyncio', 'asyncore', 'atexit', 'audioop', 'await', 'bdb', 'bin',
    'binascii', 'bisect', 'bool', 'break', 'builtins', 'bytes', 'calendar', 'callable', 'casefold', 'center', 'cgi',
    'cgitb', 'chr', 'chunk', 'class', 'clear', 'cmath', 'cmd', 'code', 'codecs', 'codeop', 'colorsys', 'compile',
    'complex', 'continue', 'copy', 'copyreg', 'count', 'crypt', 'csv', 'ctypes', 'curses', 'datetime', 'dbm',
    'decimal', 'decode', 'def', 'del', 'delattr', 'dict', 'difflib', 'dir', 'dis', 'discard', 'divmod', 'doctest',
    'elif', 'else', 'email', 'encode', 'endswith', 'enum', 'errno', 'eval', 'except', 'exec', 'extend', 'fcntl',
    'filecmp', 'filter', 'finally', 'find', 'float', 'fnmatch', 'for', 'format', 'from', 'fromhex', 'fromkeys',
    'ftplib', 'gc', 'get', 'getattr', 'getopt', 'getpass', 'gettext', 'glob', 'global', 'globals', 'graphlib', 'grp',
    'gzip', 'hasattr', 'hash', 'hashlib', 'heapq', 'hex', 'hmac', 'html', 'http', 'id', 'idlelib', 'if', 'imag',
    'imaplib', 'imghdr', 'imp', 'import', 'in', 'index', 'input', 'insert', 'inspect', 'int', 'io', 'is', 'isalnum',
    'isalpha', 'isascii', 'isdigit', 'islower', 'isspace', 'issubset', 'istitle', 'isupper', 'items', 'iter', 'join',
    'json', 'keys', 'keyword', 'lambda', 'len', 'list', 'ljust', 'locale', 'locals', 'logging', 'lower', 'lstrip',
    'lzma', 'mailbox', 'mailcap', 'map', 'marshal', 'math', 'max', 'min', 'mmap', 'msilib', 'msvcrt', 'netrc',
    'next', 'nis', 'nntplib', 'nonlocal', 'not', 'nt', 'ntpath', 'numbers', 'object', 'oct', 'opcode', 'operator',
    'optparse', 'or', 'ord', 'os', 'pass', 'pathlib', 'pdb', 'pickle', 'pipes', 'pkgutil', 'platform', 'plistlib',
    'pop', 'popitem', 'poplib', 'posix', 'pow', 'pprint', 'print', 'profile', 'property', 'pstats', 'pty', 'pwd',
    'pyclbr', 'pydoc', 'pyexpat', 'queue', 'quopri', 'raise', 'random', 'range', 're', 'readline', 'real', 'remove',
    'replace', 'repr', 'reprlib', 'resource', 'return', 'reverse', 'reversed', 'rfind', 'rindex', 'rjust', 'round',
    'rsplit', 'rstrip', 'runpy', 'sched', 'secrets', 'select', 'set', 'setattr', 'shelve', 'shlex', 'shutil',
    'signal', 'site', 'slice', 'smtpd', 'smtplib', 'sndhdr', 'socket', 'sort', 'sorted', 'split', 'spwd', 'ssl',
    'stat', 'str', 'string', 'strip', 'struct', 'sum', 'sunau', 'super', 'swapcase', 'symtable', 'sys', 'syslog',
    'tabnanny', 'tarfile', 'tempfile', 'termios', 'textwrap', 'this', 'time', 'timeit', 'title', 'tkinter', 'token',
    'tokenize', 'tomllib', 'trace', 'try', 'tty', 'tuple', 'turtle', 'type', 'types', 'typing', 'union', 'unittest',
    'update', 'upper', 'urllib', 'uu', 'uuid', 'values', 'vars', 'venv', 'warnings', 'wave', 'weakref', 'while',
    'winreg', 'winsound', 'with', 'wsgiref', 'xdrlib', 'xml', 'xmlrpc', 'yield', 'zfill', 'zip', 'zipapp', 'zipfile',
    'zlib', 'zoneinfo',
)  # fmt: skip


def identifier_words() -> list[str]:
    """Words the code model has read many times: Python's keywords, built-in names, methods of its
    built-in types and standard-library module names, of 2 to 8 lowercase letters, as Python 3.11
    lists them. Written out rather than read from the running interpreter, whose builtins a Jupyter
    kernel changes (it replaces `input`), so a script and a notebook make the same instructions."""
    return list(WORDS)


def random_list(rng: random.Random) -> list[int]:
    return [rng.randrange(10) for _ in range(rng.randint(3, 5))]


def solve(task: str, value) -> str:
    """The correct answer to `task` on its input, as the model should write it."""
    if task == "sort":
        return str(sorted(value))
    if task == "reverse":
        return str(value[::-1])
    if task == "largest":
        return str(max(value))
    if task == "length":
        return str(len(value))
    if task == "first":
        return str(value[0])
    if task == "add":
        return str(value[0] + value[1])
    if task == "upper":
        return value.upper()
    raise ValueError(f"unknown task {task!r}; choose one of {list(TASKS)}")


def input_key(task: str, value) -> str:
    return f"{value[0]} + {value[1]}" if task == "add" else repr(value)


def fill(phrasing: str, task: str, value) -> str:
    if task == "add":
        return phrasing.format(a=value[0], b=value[1])
    return phrasing.format(x=repr(value))


def draw_input(task: str, rng: random.Random, words: list[str]):
    if task == "add":
        return (rng.randrange(100), rng.randrange(100))
    if task == "upper":
        return rng.choice(words)
    return random_list(rng)


def make_instructions(per_task: int = 400, held_out_per_task: int = 40, seed: int = 0) -> InstructionData:
    """`per_task` training instructions of every task, and `held_out_per_task` validation and held-out ones.

    Every distinct input (a list, a pair of numbers, a word) is first assigned to one split at
    random (HELD_OUT_FRACTION each to validation and held-out) and keeps that split for every task
    and phrasing; only then is a phrasing chosen. Validation and held-out inputs are distinct
    within each task.
    """
    if per_task < 1 or held_out_per_task < 1:
        raise ValueError(f"per_task and held_out_per_task must be at least 1, got {per_task}, {held_out_per_task}")
    rng = random.Random(seed)
    words = identifier_words()
    split_of: dict[str, int] = {}  # input key -> 0 training, 1 validation, 2 held out

    def assigned(key: str) -> int:
        if key not in split_of:
            draw = rng.random()
            split_of[key] = 1 if draw < HELD_OUT_FRACTION else 2 if draw < 2 * HELD_OUT_FRACTION else 0
        return split_of[key]

    splits: tuple[list[Instruction], ...] = ([], [], [])
    for task in TASKS:
        wanted = (per_task, held_out_per_task, held_out_per_task)
        made, used = [0, 0, 0], set()
        for _attempt in range(100 * sum(wanted)):
            if tuple(made) == wanted:
                break
            value = draw_input(task, rng, words)
            key = input_key(task, value)
            side = assigned(key)
            if made[side] == wanted[side] or (side > 0 and key in used):
                continue
            used.add(key)
            prompt = fill(rng.choice(TASK_PHRASINGS[task]), task, value)
            splits[side].append(Instruction(task, prompt, solve(task, value), key))
            made[side] += 1
        else:
            raise ValueError(f"task {task!r} has too few distinct inputs for {wanted} instructions; ask for fewer")
    rng.shuffle(splits[0])
    return InstructionData(*splits)


WRONG_ANSWERS: dict[str, Callable] = {  # task -> a plausible wrong answer, from the input and the right one
    "sort": lambda value, right: str(sorted(value, reverse=True)),
    "reverse": lambda value, right: str(value),
    "largest": lambda value, right: str(min(value)),
    "length": lambda value, right: str(len(value) + 1),
    "first": lambda value, right: str(value[-1]),
    "add": lambda value, right: str(int(right) + 10),
    "upper": lambda value, right: value.capitalize(),
}


def parse_input(instruction: Instruction):
    """The input of `instruction` back as a Python value, from its key."""
    if instruction.task == "add":
        left, right = instruction.key.split(" + ")
        return (int(left), int(right))
    if instruction.task == "upper":
        return instruction.key.strip("'")
    return [int(n) for n in instruction.key.strip("[]").split(", ")]


def plausible_wrong_answer(instruction: Instruction) -> str | None:
    """A wrong answer a careless solver might give (sorted the wrong way, the smallest for the largest,
    the last item for the first, ten too many), or None where that mistake gives the right answer
    (a list whose items are all equal, a palindrome)."""
    wrong = WRONG_ANSWERS[instruction.task](parse_input(instruction), instruction.answer)
    return None if wrong == instruction.answer else wrong
