"""Every refusal the mock can answer is one the contract states (issue 13: "a rule the mock
enforces is a rule the contract states").

The mock's source is read, not run: every ``ApiError(<code>, ...)`` it can raise must name a
code of ``info.x-error-codes`` and of the ``ErrorEnvelope`` schema, and every operation's
handler module may only raise codes the contract documents for some operation. A new refusal
added to the mock without its line in openapi.yaml fails here, naming the file and line.
"""

from __future__ import annotations

import ast
from pathlib import Path

import mock_backend
from mock_backend.openapi.spec import load_spec

SOURCE = Path(mock_backend.__file__).parent
SPEC = load_spec()


def _raised_codes() -> list[tuple[str, int]]:
    """(file:line, code) of every ApiError built with a literal code in mock_backend."""
    found = []
    for path in sorted(SOURCE.rglob("*.py")):
        if path.name in ("admin.py", "console.py"):  # the control API and its console: in
            # the README, not a product operation
            continue
        if path.parent.name == "recording":
            # the recording proxy's and the replay's own answers (502: the upstream does not
            # answer; 404: nothing recorded matches): tools around the product, documented in
            # the README like the control API; what they relay is the upstream's, judged by
            # `nemo-contract drift`
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "ApiError"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, int)
            ):
                where = f"{path.relative_to(SOURCE.parent)}:{node.lineno}"
                found.append((where, node.args[0].value))
    return found


def test_the_scan_sees_the_mocks_refusals() -> None:
    codes = {code for _, code in _raised_codes()}
    # the scan is not vacuous: it finds the refusals every client meets
    assert {402, 404, 409, 413, 422, 429, 1001, 1002, 2001, 4001, 4002} <= codes, codes


def test_every_code_the_mock_raises_is_stated_in_the_contract() -> None:
    documented = {int(code) for code in SPEC.document["info"]["x-error-codes"]}
    enum = set(
        SPEC.document["components"]["schemas"]["ErrorEnvelope"]["properties"]["code"]["enum"]
    )
    missing = [(where, code) for where, code in _raised_codes() if code not in documented]
    assert not missing, f"refusals the contract's info.x-error-codes does not state: {missing}"
    off_schema = [(where, code) for where, code in _raised_codes() if code not in enum]
    assert not off_schema, f"codes the ErrorEnvelope schema would reject: {off_schema}"
