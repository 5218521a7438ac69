"""The instructors' guide (book/instructors.md) cannot drift from the autograder it describes.

What is checked, by reading the page's Markdown source (no book build needed):

* every ``python -m autograder COMMAND ...`` on the page, in a code block or an inline
  code span, names a real subcommand, and every option written in it is accepted by
  that subcommand's parser (:func:`autograder.cli.build_parser`); every subcommand is
  mentioned at least once;
* an inline code span that is just an option (```--jobs N```, ```--sandbox none```) is
  accepted by at least one subcommand; other tools' options are written inside their
  command on the page (```nbgrader collect --update```), so they are not checked here;
* every ``make TARGET`` shown is a target of the Makefile;
* every message in the tables of the section "What the messages mean" (the code spans
  of the first column, ``…`` standing for a variable part) matches the start of a string
  in ``autograder/**/*.py``; and every ``raise AutograderError(...)`` with a literal message
  in ``autograder/`` is explained by some row;
* the CSV columns and nbgrader's region markers named on the page are the code's;
* the page is in ``_toc.yml``, right after the assignments page.
"""

from __future__ import annotations

import argparse
import ast
import re
from pathlib import Path

import yaml

import autograder
from autograder.cli import build_parser
from autograder.instructor.release import MARKERS

from conftest import toc_files

REPO = Path(__file__).resolve().parents[1]
GUIDE = REPO / "book" / "instructors.md"
PAGE = "book/instructors"
MESSAGES_HEADING = "## What the messages mean"
#: Stands for a variable part of a message in the guide's tables.
ELLIPSIS = "\u2026"
#: A message row must show at least this many literal characters (so "…" alone cannot match).
MIN_LITERAL_CHARS = 8
#: Marks a variable part of a message in a template built from the source.
HOLE = "\x00"


# --------------------------------------------------------------------------- reading the page


def _page_lines() -> list[tuple[int, str]]:
    """(line number, text) of the page without its YAML front matter."""
    lines = GUIDE.read_text(encoding="utf-8").split("\n")
    start = 0
    if lines and lines[0].strip() == "---":
        start = next(i for i in range(1, len(lines)) if lines[i].strip() == "---") + 1
    return [(i + 1, lines[i]) for i in range(start, len(lines))]


def _split_code(lines: list[tuple[int, str]]) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """(code-block lines, prose lines); fences of backticks or tildes, indented or not.

    The executed ``{code-cell}`` blocks are Python, not commands shown to the reader: left out.
    """
    code, prose, fence, executed = [], [], None, False
    for number, line in lines:
        stripped = line.lstrip()
        if fence is None:
            m = re.match(r"(`{3,}|~{3,})(.*)", stripped)
            if m:
                fence, executed = m.group(1), m.group(2).strip().startswith("{code-cell}")
            else:
                prose.append((number, line))
        elif stripped.startswith(fence) and stripped.strip() == stripped.strip()[0] * len(stripped.strip()):
            fence = None
        elif not executed:
            code.append((number, line))
    assert fence is None, f"{GUIDE.name}: a code fence {fence!r} is never closed"
    return code, prose


def _inline_spans(prose: list[tuple[int, str]]) -> list[tuple[int, str]]:
    return [(number, m.group(1)) for number, line in prose for m in re.finditer(r"`([^`]+)`", line)]


def _shell_texts() -> list[tuple[int, str]]:
    """Every code-block line (shell comments cut off) and every inline code span."""
    code, prose = _split_code(_page_lines())
    texts = [(number, re.sub(r"(^|\s)#.*$", "", line)) for number, line in code]
    return texts + _inline_spans(prose)


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("autograder.cli.build_parser() has no subcommands")


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return set(parser._option_string_actions)


def _autograder_commands() -> list[tuple[int, str, list[str]]]:
    """(line, text, tokens after 'python -m autograder') for every command on the page."""
    found = []
    for number, text in _shell_texts():
        for m in re.finditer(r"python -m autograder\b(.*)", text):
            rest = re.split(r"\|\||\||;|&&|\)", m.group(1))[0]
            found.append((number, text.strip(), rest.split()))
    return found


# --------------------------------------------------------------------------- commands and options


def test_every_autograder_command_and_option_on_the_page_exists():
    subs = _subparsers()
    commands = _autograder_commands()
    assert len(commands) >= 20, f"found only {len(commands)} `python -m autograder` commands in {GUIDE.name}"
    problems, mentioned = [], set()
    for number, text, tokens in commands:
        if not tokens:
            continue  # the tool named on its own
        command, *args = tokens
        if command in ("-h", "--help", "...") or re.fullmatch(r"[A-Z_]+", command):
            continue  # help, or a placeholder for any subcommand
        if command not in subs:
            problems.append(f"line {number}: `{text}`: there is no subcommand {command!r} "
                            f"(python -m autograder has: {', '.join(sorted(subs))})")
            continue
        mentioned.add(command)
        accepted = _options(subs[command])
        for arg in args:
            if not arg.startswith("-") or re.fullmatch(r"-\d[\d.]*", arg):
                continue
            flag = arg.split("=", 1)[0]
            if flag not in accepted:
                problems.append(
                    f"line {number}: `{text}`: `python -m autograder {command}` does not accept {flag} "
                    f"(it accepts {', '.join(sorted(accepted))}); add the option to autograder/cli.py "
                    "or correct the guide"
                )
    missing = sorted(set(subs) - mentioned)
    if missing:
        problems.append(f"the guide never shows these subcommands: {', '.join(missing)}")
    assert not problems, f"{GUIDE.relative_to(REPO)} disagrees with autograder/cli.py:\n" + "\n".join(problems)


def test_every_option_named_on_its_own_exists():
    subs = _subparsers()
    every = set().union(*(_options(p) for p in subs.values()))
    _, prose = _split_code(_page_lines())
    spans = [(n, s) for n, s in _inline_spans(prose) if re.fullmatch(r"--?[A-Za-z][\w-]*(?:[ =]\S+)?", s)]
    assert len(spans) >= 5, f"found only {len(spans)} option spans such as `--jobs` in {GUIDE.name}"
    problems = [
        f"line {number}: `{span}`: no `python -m autograder` subcommand accepts {span.split()[0].split('=')[0]}"
        for number, span in spans
        if span.split()[0].split("=")[0] not in every
    ]
    assert not problems, (
        f"{GUIDE.relative_to(REPO)} names options the autograder does not have (add them to "
        "autograder/cli.py or correct the guide; write another tool's option inside its command):\n"
        + "\n".join(problems)
    )


def test_make_targets_on_the_page_exist():
    targets = set(re.findall(r"^([A-Za-z][\w-]*):", (REPO / "Makefile").read_text(), flags=re.M))
    used = [(n, m.group(1)) for n, text in _shell_texts() for m in re.finditer(r"\bmake ([a-z][\w-]*)", text)]
    assert used, f"{GUIDE.name} shows no make target"
    problems = [f"line {n}: `make {t}` is not a Makefile target" for n, t in used if t not in targets]
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------- messages


def _template(node: ast.AST) -> str | None:
    """A string expression as text with HOLE for each variable part; None if not a string."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else HOLE for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _template(node.left), _template(node.right)
        if left is None and right is None:
            return None
        return (HOLE if left is None else left) + (HOLE if right is None else right)
    return None


def _source_trees() -> dict[str, ast.Module]:
    return {
        str(path.relative_to(REPO)): ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for path in sorted((REPO / "autograder").rglob("*.py"))
    }


def _source_templates() -> set[str]:
    """Every whole string expression of autograder/**/*.py as a template (not the pieces of one)."""
    found = set()

    def visit(node: ast.AST) -> None:
        text = _template(node)
        if text is not None:
            if text.strip(HOLE):
                found.add(text)
            return
        for child in ast.iter_child_nodes(node):
            visit(child)

    for tree in _source_trees().values():
        visit(tree)
    return found


def _raised_messages() -> list[tuple[str, int, str]]:
    """(file, line, template) of every ``raise AutograderError(<literal message>)``."""
    found = []
    for name, tree in _source_trees().items():
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and node.exc.args):
                continue
            func = node.exc.func
            called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            text = _template(node.exc.args[0])
            if called == "AutograderError" and text and text.strip(HOLE):
                found.append((name, node.lineno, text))
    return found


def _table_cells(row: str) -> list[str]:
    """The cells of a Markdown table row; a '|' inside a code span does not split."""
    cells, current, in_code = [], "", False
    for char in row.strip().strip("|"):
        if char == "`":
            in_code = not in_code
        if char == "|" and not in_code:
            cells.append(current.strip())
            current = ""
        else:
            current += char
    cells.append(current.strip())
    return cells


def _message_rows() -> list[tuple[int, str]]:
    """(line, code span) for every message in the first column of the messages section's tables."""
    lines = _page_lines()
    starts = [i for i, (_, text) in enumerate(lines) if text.strip() == MESSAGES_HEADING]
    assert starts, f"{GUIDE.name} has no section {MESSAGES_HEADING!r}"
    rows = []
    for number, text in lines[starts[0] + 1:]:
        if text.startswith("## "):
            break
        if not text.lstrip().startswith("|"):
            continue
        first = _table_cells(text)[0]
        if re.fullmatch(r"[-: ]+", first) or first.startswith("message"):
            continue  # separator and header rows
        rows.extend((number, span) for span in re.findall(r"`([^`]+)`", first))
    return rows


def _pattern(span: str) -> re.Pattern:
    return re.compile("".join(
        [re.escape(part) if i % 2 == 0 else ".*?" for i, part in enumerate(re.split(f"({ELLIPSIS})", span))]
    ), re.S)


def test_every_message_in_the_tables_is_in_the_source():
    rows = _message_rows()
    assert len(rows) >= 40, f"found only {len(rows)} messages in the tables of {MESSAGES_HEADING!r}"
    templates = _source_templates()
    problems = []
    for number, span in rows:
        if len(span.replace(ELLIPSIS, "").strip()) < MIN_LITERAL_CHARS:
            problems.append(f"line {number}: `{span}` shows too little of the message to identify it")
        elif not any(_pattern(span).match(t) for t in templates):
            problems.append(f"line {number}: no string in autograder/**/*.py starts like `{span}`")
    assert not problems, (
        f"{GUIDE.relative_to(REPO)}: messages in the tables that the autograder no longer produces "
        f"(update the row to the current wording; {ELLIPSIS} stands for a variable part):\n" + "\n".join(problems)
    )


def test_every_autograder_error_is_explained_in_the_guide():
    raised = _raised_messages()
    assert len(raised) >= 20, f"found only {len(raised)} `raise AutograderError(...)` in autograder/"
    patterns = [_pattern(span) for _, span in _message_rows()]
    problems = [
        f"{name}:{line}: {text.replace(HOLE, ELLIPSIS)!r}"
        for name, line, text in raised
        if not any(p.match(text) for p in patterns)
    ]
    assert not problems, (
        f"these AutograderError messages have no row in the tables of {MESSAGES_HEADING!r} in "
        f"{GUIDE.relative_to(REPO)} (add one: the message's start with {ELLIPSIS} for variable parts, "
        "its cause, what to do):\n" + "\n".join(problems)
    )


def test_message_matching_is_not_vacuous():
    """The matcher itself: a variable part matches anything, reworded text does not, and it anchors at the start."""
    template = f"found no submissions{HOLE} in {HOLE}: expected folders laid out"
    assert _pattern(f"found no submissions{ELLIPSIS} in {ELLIPSIS}: expected").match(template)
    assert not _pattern(f"found no submission files{ELLIPSIS} in").match(template)
    assert not _pattern(f"expected folders laid out{ELLIPSIS}").match(template), "a message must match from its start"


# --------------------------------------------------------------------------- names and placement


def test_csv_columns_and_markers_are_the_codes():
    text = GUIDE.read_text(encoding="utf-8")
    columns = ",".join(autograder.CSV_COLUMNS)
    assert f"`{columns}`" in text, f"{GUIDE.name} should list the CSV columns as `{columns}`"
    for marker in MARKERS:
        assert f"### {marker}" in text, f"{GUIDE.name} should show the marker `### {marker}`"


def test_page_is_in_the_toc_after_the_assignments():
    pages = toc_files(yaml.safe_load((REPO / "_toc.yml").read_text()))
    assert PAGE in pages, f"{PAGE} is not in _toc.yml"
    assert pages.index(PAGE) == pages.index("book/assignments") + 1, (
        f"{PAGE} should come right after book/assignments in _toc.yml"
    )

