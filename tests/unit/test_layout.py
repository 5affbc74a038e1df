"""The package's shape: a pure core that never imports mitmproxy, and no function or class too long to read."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
import ucwa_vcr

PACKAGE = Path(ucwa_vcr.__file__).parent
PURE_CORE = ["ucwa_vcr", "ucwa_vcr.cassette.model", "ucwa_vcr.cassette.codec", "ucwa_vcr.cassette.writer",
             "ucwa_vcr.match", "ucwa_vcr.redact", "ucwa_vcr.fault_rules",
             "ucwa_vcr.protocol", "ucwa_vcr.options", "ucwa_vcr.errors", "ucwa_vcr.pytest_plugin",
             "ucwa_vcr.simulation", "ucwa_vcr.links", "ucwa_vcr.batch", "ucwa_vcr.session_state", "ucwa_vcr.text",
             "ucwa_vcr.pseudonyms", "ucwa_vcr.scan"]
LONGEST_FUNCTION = 60  # lines
LONGEST_CLASS = 200


def test_the_pure_core_never_imports_mitmproxy_even_indirectly():
    # ruff's TID253 sees a module's own imports; this sees what importing it pulls in
    probe = (f"import sys\nimport {', '.join(PURE_CORE)}\n"
             "print(sorted(m for m in sys.modules if m.split('.')[0] == 'mitmproxy'))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def _definitions() -> list[tuple[str, int, str]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                assert node.end_lineno is not None
                kind = "class" if isinstance(node, ast.ClassDef) else "function"
                where = f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name}"
                found.append((kind, node.end_lineno - node.lineno + 1, where))
    return found


@pytest.mark.parametrize("kind, limit", [("function", LONGEST_FUNCTION), ("class", LONGEST_CLASS)])
def test_no_function_or_class_is_too_long_to_read(kind, limit):
    too_long = [f"{where}: {lines} lines" for k, lines, where in _definitions() if k == kind and lines > limit]
    assert too_long == [], f"too long (a {kind} has at most {limit} lines): split by concern"
