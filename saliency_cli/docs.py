"""`saliency docs`: the README's method and option tables, generated from the registries, so they
cannot drift from the code. Blocks sit between `<!-- generated: NAME -->` and `<!-- end: NAME -->`;
`--write README.md` refreshes them, `--check README.md` fails when they are stale (a test runs it)."""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel


def _default(field: Any) -> str:
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    if value is None:
        return "(see meaning)"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, str):
        return f"`{value}`"
    return f"{value}"


def options_table(model: type[BaseModel]) -> str:
    rows = ["| option | default | meaning |", "|---|---|---|"]
    for name, field in model.model_fields.items():
        meaning = (field.description or "").replace("|", "\\|")
        rows.append(f"| `{name}` | {_default(field)} | {meaning} |")
    return "\n".join(rows)


def blocks() -> dict[str, str]:
    """NAME -> markdown of every generated block."""
    from saliency.catalog.methods import METHODS
    from saliency.catalog.reconstruction import ReconstructionParams

    methods = ["| method | needs | what it does |", "|---|---|---|"]
    methods += [f"| `{m.name}` | {m.needs} | {m.description} |" for m in METHODS.values()]
    out = {"methods": "\n".join(methods), "reconstruction-options": options_table(ReconstructionParams)}
    for m in METHODS.values():
        out[f"options-{m.name}"] = options_table(m.options)
    return out


_BLOCK = re.compile(r"(<!-- generated: ([\w-]+) -->\n)(.*?\n)?(<!-- end: \2 -->)", re.S)


def refresh(text: str) -> tuple[str, list[str]]:
    """The text with every generated block refreshed, and the names of unknown blocks."""
    generated, unknown = blocks(), []

    def sub(m: re.Match[str]) -> str:
        if m.group(2) not in generated:
            unknown.append(m.group(2))
            return m.group(0)
        return m.group(1) + generated[m.group(2)] + "\n" + m.group(4)

    return _BLOCK.sub(sub, text), unknown


def cmd(args: argparse.Namespace) -> int:
    if not args.file:
        for name, block in blocks().items():
            print(f"<!-- generated: {name} -->\n{block}\n<!-- end: {name} -->\n")
        return 0
    path = Path(args.file)
    text = path.read_text()
    fresh, unknown = refresh(text)
    if unknown:
        print(f"docs: unknown generated blocks in {path}: {', '.join(unknown)}", file=sys.stderr)
        return 2
    if args.write:
        path.write_text(fresh)
        return 0
    if fresh != text:
        print(f"docs: the generated tables in {path} are stale; run `saliency docs --write {path}`",
              file=sys.stderr)
        return 1
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("docs", help="the README's method and option tables, from the registries")
    p.add_argument("file", nargs="?", help="a markdown file with generated blocks (default: print them all)")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--write", action="store_true", help="refresh the file's generated blocks")
    how.add_argument("--check", action="store_true", help="exit 1 when they are stale (the default with a file)")
    p.set_defaults(func=cmd)
