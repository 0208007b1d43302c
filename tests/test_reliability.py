"""RELIABILITY.md lists exactly the cases of tests/reliability.py, each as declared.

Each case's own test checks that the user sees what its row says and that no row is
lost or leaked; this checks the file itself, so neither can drift from the other.
Regenerate it with scripts/reliability.
"""

from __future__ import annotations

import ast
import re

from tests.helpers import PROJECT_ROOT
from tests.reliability import CASES, DOCUMENT, SIZES, Case, Reliability, declared_cells
from tests.reliability import parse_document as parse

REGENERATE = "RELIABILITY.md is out of date: run scripts/reliability"


def test_reliability_md_lists_every_case_as_declared() -> None:
    text = DOCUMENT.read_text()
    size, found = parse(text)
    assert size in SIZES, REGENERATE
    missing = sorted(set(CASES) - set(found))
    stale = sorted(set(found) - set(CASES))
    assert (missing, stale) == ([], []), f"{REGENERATE} (missing {missing}, stale {stale})"
    for case in CASES.values():
        cells, declared = found[case.id], declared_cells(case)
        assert len(cells) == len(declared), REGENERATE
        assert cells[2:4] == ["0", "0"], f"{case.id}: rows lost and leaked must be 0"
        mine = [c for n, c in enumerate(cells) if n != 6]
        assert mine == [c for n, c in enumerate(declared) if n != 6], f"{case.id}: {REGENERATE}"
        assert cells[6], f"{case.id} has no measurement: {REGENERATE}"
    # The prose around the table too: all of it but the measurements is as rendered.
    assert _unmeasured(text) == _unmeasured(_rendered(size)), REGENERATE


def _rendered(size: str) -> str:
    """RELIABILITY.md as the suite would write it at ``size``, measurements made up."""
    recorder = Reliability(size)
    for case in CASES.values():
        recorder.record(case.id, lost=0, leaked=0, seconds=1.5, seen=_line(case), note="a | b")
    return recorder.document()


def _unmeasured(text: str) -> list[str]:
    """The document's lines, the measured cell of each case's row left out."""
    lines = []
    for line in text.splitlines():
        if line.startswith("| `"):
            cells = re.split(r"(?<!\\)\|", line)
            line = "|".join(cells[:7] + cells[8:])
        lines.append(line)
    return lines


def test_every_case_names_a_test_that_exists() -> None:
    for case in CASES.values():
        path, _, name = case.test.partition("::")
        tree = ast.parse((PROJECT_ROOT / path).read_text())
        functions = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
        assert name.split("[", 1)[0] in functions, f"{case.id}: no test {case.test}"


def test_the_document_reads_back_as_rendered() -> None:
    size, found = parse(_rendered("ci"))
    assert size == "ci" and list(found) == list(CASES)
    for case in CASES.values():
        assert found[case.id][6] == "1 run, 1.5 s; a | b"
        assert found[case.id][:6] == declared_cells(case)[:6]


def _line(case: Case) -> str:
    return case.sees.replace("…", "anything")


def test_a_declared_line_matches_only_lines_like_it() -> None:
    case = Case("a-bad-row", "a bad row", "FAILED: seed s2: table posts row … column …: …", "", "")
    assert case.matches("FAILED: seed s2: table posts row 7 column title: too long; fix it")
    assert not case.matches("FAILED: seed s2: table posts column title: too long")
    assert not case.matches("FAILED: the migration stopped: table posts row 7 column title: x")
