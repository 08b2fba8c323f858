"""Write the book's references into the JupyterLab citations extension.

tools/jupyter/labextensions/book-citations/static/remoteEntry.js resolves {cite} roles in
JupyterLab and Notebook 7 (jupyterlab-myst cannot read a .bib file). Its REFERENCES table comes
from references.bib, through the same BibTeX parser the site uses (pybtex), so both show the same
names and years. Run this after editing references.bib:

    python tools/citations_extension.py          # rewrite the table
    python tools/citations_extension.py --check  # exit 1 if it is out of date (the tests do this)
"""

import argparse
import json
import re
import sys
from pathlib import Path

from pybtex.backends.plaintext import Backend as PlainText
from pybtex.database import Person, parse_file
from pybtex.richtext import Text

ROOT = Path(__file__).resolve().parent.parent
BIBLIOGRAPHY = ROOT / "references.bib"
EXTENSION = ROOT / "tools" / "jupyter" / "labextensions" / "book-citations" / "static" / "remoteEntry.js"
BLOCK = re.compile(r"(  // BEGIN REFERENCES[^\n]*\n).*?(\n  // END REFERENCES)", re.DOTALL)


def plain(latex: str) -> str:
    """BibTeX's LaTeX as the text a reader sees: M{\\"u}ller -> Müller, {GPT} -> GPT."""
    return Text.from_latex(latex).render(PlainText())  # not render_as("text"): it searches entry points each call


def last_name(person: Person) -> str:
    return plain(" ".join(person.prelast_names + person.last_names))


def full_name(person: Person) -> str:
    return plain(" ".join(person.first_names + person.middle_names + person.prelast_names + person.last_names))


def short_authors(people: list[Person]) -> str:
    """The author part of an author-year citation, as sphinxcontrib-bibtex's style writes it."""
    names = [last_name(person) for person in people]
    if len(names) == 1:
        return names[0]
    if len(names) == 2:
        return f"{names[0]} and {names[1]}"
    return f"{names[0]} et al."


def references() -> dict[str, dict[str, str]]:
    """Every entry of references.bib: key -> short authors, year and a one-line full reference."""
    table = {}
    for key, entry in parse_file(BIBLIOGRAPHY).entries.items():
        people = entry.persons.get("author", [])
        year = entry.fields.get("year", "")
        names = [full_name(person) for person in people]
        authors = ", ".join(names[:-1] + ["et al."] if names[-1:] == ["others"] else names)  # BibTeX's "and others"
        title = plain(entry.fields.get("title", ""))
        title += "" if title.endswith(("?", "!", ".")) else "."
        table[key] = {"short": short_authors(people), "year": year, "full": f"{authors} ({year}). {title}"}
    return table


def table_source() -> str:
    lines = [f"    {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}" for key, value in references().items()]
    return "  var REFERENCES = {\n" + ",\n".join(lines) + "\n  };"


def up_to_date() -> bool:
    """Whether the extension's table is references.bib as it is now."""
    script = EXTENSION.read_text(encoding="utf-8")
    return with_table(script) == script


def with_table(script: str) -> str:
    if not BLOCK.search(script):
        raise ValueError(f"{EXTENSION} has no BEGIN/END REFERENCES block")
    return BLOCK.sub(lambda match: match.group(1) + table_source() + match.group(2), script)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that the table is up to date")
    args = parser.parse_args()
    if args.check:
        if not up_to_date():
            sys.exit(f"{EXTENSION.relative_to(ROOT)} is out of date: run python tools/citations_extension.py")
        return
    EXTENSION.write_text(with_table(EXTENSION.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"wrote {len(references())} references into {EXTENSION.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
