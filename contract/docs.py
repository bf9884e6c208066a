"""Render `openapi.yaml` as a short human-readable page (docs/contract.md).

python -m contract.docs            # rewrite docs/contract.md
python -m contract.docs --check    # exit 1 if docs/contract.md is out of date
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from mock_backend.openapi.spec import Spec, load_spec

__all__ = ["DOC_PATH", "render_markdown"]

DOC_PATH = Path(__file__).resolve().parent.parent / "docs" / "contract.md"


def _sources(node: dict[str, Any]) -> str:
    src = node.get("x-source")
    if src is None:
        return ""
    return ", ".join(src) if isinstance(src, list) else str(src)


def _codes(spec: Spec, raw: dict[str, Any]) -> list[str]:
    codes: set[int] = {0}
    for status, response in raw.get("responses", {}).items():
        response = spec.resolve(response)
        for content in response.get("content", {}).values():
            for example in content.get("examples", {}).values():
                value = spec.resolve(example).get("value", {})
                if isinstance(value, dict) and isinstance(value.get("code"), int):
                    codes.add(value["code"])
            example = content.get("example")
            if isinstance(example, dict) and isinstance(example.get("code"), int):
                codes.add(example["code"])
        if status.isdigit() and int(status) >= 400 and int(status) not in (401, 403, 404, 413, 415):
            codes.add(int(status))
    return [str(c) for c in sorted(codes)]


def _assumptions(node: Any, where: str, found: list[tuple[str, str]]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "x-assumed" and not isinstance(value, bool):
                found.append((where, str(value)))
            elif key not in ("examples", "example"):
                _assumptions(value, f"{where}/{key}" if where else str(key), found)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _assumptions(value, f"{where}/{i}", found)


def render_markdown(spec: Spec) -> str:
    doc = spec.document
    lines = [
        "# The NemoVideo backend contract",
        "",
        "Generated from `openapi.yaml` by `python -m contract.docs`; do not edit by hand.",
        "",
        "## Operations",
        "",
        "| operationId | method and path | scope | business and error codes | sources |",
        "|---|---|---|---|---|",
    ]
    for op in spec.operations.values():
        codes = ", ".join(_codes(spec, op.raw))
        sources = _sources(op.raw) or "—"
        if "x-assumed" in op.raw:
            sources += " (+ assumed)"
        lines.append(
            f"| `{op.operation_id}` | `{op.method} {op.path}` | {op.scope or 'none'} "
            f"| {codes} | {sources} |"
        )
    lines += ["", "## Error codes", "", "| code | meaning | what a client does | basis |"]
    lines.append("|---|---|---|---|")
    for code, entry in doc["info"]["x-error-codes"].items():
        basis = _sources(entry) or f"assumed: {entry.get('x-assumed')}"
        lines.append(f"| {code} | {entry['meaning']} | {entry['client']} | {basis} |")
    profiles = doc["info"]["x-error-status-profiles"]
    lines += [
        "",
        "HTTP status of business codes: `http200` answers them all with 200 (the default); `rest` "
        "maps " + ", ".join(f"{k}→{v}" for k, v in profiles["rest"].items()) + ".",
        "",
        "## Limits (`info.x-limits`)",
        "",
        f"Assumed: {doc['info']['x-limits']['x-assumed']}.",
        "",
        "| limit | value |",
        "|---|---|",
        *(
            f"| `{name}` | {value:,} |"
            for name, value in doc["info"]["x-limits"].items()
            if not name.startswith("x-")
        ),
        "",
        "## Assumptions (`x-assumed`)",
        "",
        "Every behaviour no source states, with where it lives in `openapi.yaml`:",
        "",
    ]
    found: list[tuple[str, str]] = []
    _assumptions(doc, "", found)
    for where, reason in found:
        lines.append(f"- `{where}`: {reason}")
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m contract.docs",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--check", action="store_true", help="fail if docs/contract.md is stale")
    parser.add_argument("--out", type=Path, default=DOC_PATH)
    args = parser.parse_args(argv)
    text = render_markdown(load_spec())
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
        if current != text:
            print(f"{args.out} is out of date: run `python -m contract.docs`", file=sys.stderr)
            return 1
        print(f"{args.out} is up to date")
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
