"""The layering the code relies on: `core` is the ground floor, and only `core/sql.py` knows
which database it runs on."""

import ast
import re
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "app"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_core_imports_no_area():
    offenders = {
        f"{path.relative_to(APP)}: {name}"
        for path in (APP / "core").glob("*.py")
        for name in _imports(path)
        if name.startswith("app.") and not name.startswith("app.core")
    }
    assert offenders == set()


def test_only_core_sql_and_the_engine_branch_on_the_dialect():
    branching = re.compile(r"dialect(\.name)?\s*[!=]=|\.driver\s*==|dialects import")
    # the SQL helpers, the engine, and the hot paths' driver access
    allowed = {APP / "core" / name for name in ("sql.py", "database.py", "direct.py")}
    offenders = [
        f"{path.relative_to(APP)}:{number}"
        for path in APP.rglob("*.py")
        if path not in allowed
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if branching.search(line)
    ]
    assert offenders == []
