"""
``make docs``, before the build: every Markdown file of the repository (README, CHANGELOG, docs/)
renders as written. Each is parsed with markdown-it-py (the parser under the docs' MyST) and fails
on a code fence that is never closed (all that follows would render as code), a heading that
renders inside a code block (the usual sign of one), or a relative link to a file or ``#anchor``
that does not exist.

Usage: ``python docs/check_markdown.py [FILE_OR_FOLDER ...]`` (default: README.md, CHANGELOG.md, docs/).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parent.parent
#: What a line of a code block looks like when it was meant to be a heading.
HEADING_LINE = re.compile(r"^#{2,6}\s+\S")
#: Code whose own syntax has lines starting ``##`` (a Markdown sample, a shell script's banner).
HEADINGS_ALLOWED_IN = {"markdown", "md", "myst"}


def parser() -> MarkdownIt:
    return MarkdownIt("commonmark").enable("table")


def slug(heading: str) -> str:
    """The anchor GitHub and MyST (``myst_heading_anchors``) give a heading."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    """The anchors of a Markdown text: one per heading, numbered as GitHub numbers repeats."""
    found: set[str] = set()
    tokens = parser().parse(text)
    for i, token in enumerate(tokens):
        if token.type == "heading_open":
            base = slug(tokens[i + 1].content)
            name, n = base, 0
            while name in found:
                n += 1
                name = f"{base}-{n}"
            found.add(name)
    found.update(re.findall(r"\(([\w-]+)\)=\s*$", text, flags=re.M))  # MyST targets: (name)=
    return found


def problems(path: Path, text: str | None = None) -> list[str]:
    """Return what would render wrong in ``path`` (its ``text`` if given), one line each."""
    text = path.read_text(encoding="utf-8") if text is None else text
    lines = text.splitlines()
    found: list[str] = []
    tokens = parser().parse(text)
    for token in tokens:
        if token.type == "fence" and token.map is not None:
            start, end = token.map
            closer = lines[end - 1].strip() if end - 1 > start and end - 1 < len(lines) else ""
            closed = closer.startswith(token.markup[0] * len(token.markup)) and not closer.strip(
                token.markup[0]
            )
            if not closed:
                found.append(
                    f"{path}:{start + 1}: the code fence opened here is never closed: everything after it "
                    "renders as code"
                )
        if token.type in ("fence", "code_block") and token.map is not None:
            language = token.info.strip().split(" ")[0].strip("{}").lower() if token.info else ""
            if language not in HEADINGS_ALLOWED_IN:
                for offset, line in enumerate(token.content.splitlines()):
                    if HEADING_LINE.match(line):
                        where = token.map[0] + offset + (2 if token.type == "fence" else 1)
                        found.append(
                            f"{path}:{where}: the heading {line.strip()!r} renders inside a code block"
                        )
        if token.type == "inline":
            for child in token.children or []:
                if child.type == "link_open":
                    found.extend(broken_link(path, text, str(child.attrs.get("href", "")), token.map))
    return found


def broken_link(path: Path, text: str, href: str, where: list[int] | None) -> list[str]:
    """Return why a relative link does not resolve (nothing for an external or a good one)."""
    parts = urlsplit(href)
    if parts.scheme or parts.netloc or not href:
        return []
    line = f"{path}:{(where or [0])[0] + 1}"
    target = path if not parts.path else (path.parent / unquote(parts.path)).resolve()
    if not target.exists():
        return [
            f"{line}: the link {href!r} names {target.relative_to(ROOT) if target.is_relative_to(ROOT) else target}, which does not exist"
        ]
    if parts.fragment and target.suffix == ".md":
        body = text if target == path else target.read_text(encoding="utf-8")
        if unquote(parts.fragment) not in anchors(body):
            return [f"{line}: the link {href!r} names a section that {target.name} does not have"]
    return []


def markdown_files(given: list[str]) -> list[Path]:
    names = given or ["README.md", "CHANGELOG.md", "docs"]
    files: list[Path] = []
    for name in names:
        path = (ROOT / name) if not Path(name).is_absolute() else Path(name)
        if path.is_dir():
            files.extend(p for p in sorted(path.rglob("*.md")) if "_build" not in p.parts)
        else:
            files.append(path)
    return files


def main(argv: list[str]) -> int:
    files = markdown_files(argv)
    found = [problem for path in files for problem in problems(path)]
    for problem in found:
        print(problem, file=sys.stderr)
    print(f"Markdown: {len(files)} file(s) checked, {len(found)} problem(s).")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
