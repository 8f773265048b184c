"""`brandcast employees import FILE.csv` against a migrated SQLite file."""

import shutil
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.core.config import get_settings
from app.core.migrations import upgrade

ROOT = Path(__file__).resolve().parents[2]
HEADER = "external_id,email,display_name,department,country,hire_date,customer_facing,active,attributes.cost_center\n"


@pytest.fixture(scope="module")
def migrated_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def database(migrated_file, tmp_path, monkeypatch) -> Path:
    """A fresh migrated SQLite file that the CLI is pointed at."""
    path = tmp_path / "brandcast.db"
    shutil.copyfile(migrated_file, path)
    monkeypatch.setenv("BRANDCAST_DATABASE_URL", f"sqlite:///{path}")
    get_settings.cache_clear()
    yield path
    get_settings.cache_clear()


def run(*args: str):
    return CliRunner().invoke(cli, ["employees", "import", *map(str, args)])


def employees(database: Path) -> dict[str, sqlite3.Row]:
    with sqlite3.connect(database) as conn:
        conn.row_factory = sqlite3.Row
        return {r["external_id"]: r for r in conn.execute("SELECT * FROM employees")}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "people.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_import_the_example_file(database):
    result = run(ROOT / "examples" / "employees.csv")
    assert result.exit_code == 0, result.output
    assert "created" in result.stdout
    rows = employees(database)
    assert len(rows) == 21
    ana = rows["E1005"]
    assert (ana["email"], ana["country"], ana["locale"]) == ("ana.souza@example.com", "BR", "pt-BR")
    assert ana["customer_facing"] == 1
    assert ana["attributes"] == '{"cost_center": "CC-420", "union_member": "true"}'
    assert rows["E1021"]["active"] == 0  # the contractor who left
    assert {r["country"] for r in rows.values()} >= {"ES", "GB", "JP", "BR", "US"}

    again = run(ROOT / "examples" / "employees.csv", "--batch-size", "5")
    assert again.exit_code == 0, again.output
    assert "│ 0       │ 0       │ 21        │ 0" in again.stdout


def test_full_sync_across_batches(database, tmp_path):
    rows = "".join(f"E{n},p{n}@example.com,P {n},Sales,ES,,,,\n" for n in range(1, 8))
    assert run(write(tmp_path, HEADER + rows)).exit_code == 0

    fewer = "".join(f"E{n},p{n}@example.com,P {n},Sales,ES,,,,\n" for n in range(1, 5))
    result = run(write(tmp_path, HEADER + fewer), "--full-sync", "--batch-size", "2")
    assert result.exit_code == 0, result.output
    assert "│ 0       │ 0       │ 4         │ 3" in result.stdout
    active = {k for k, r in employees(database).items() if r["active"]}
    assert active == {"E1", "E2", "E3", "E4"}


def test_bad_rows_are_reported_by_line_and_nothing_is_applied(database, tmp_path):
    text = (
        HEADER
        + 'E1,a@example.com,"Ana\nGarcía",Sales,ES,2020-01-01,true,true,CC-1\n'
        + "E2,not-an-email,Bo,Sales,XX,yesterday,maybe,true,\n"
        + "E3,c@example.com,Cy,Sales,ES,,,,\n"
        + "E4,d@example.com,Di,Sales\n"
    )
    result = run(write(tmp_path, text))
    assert result.exit_code == 1
    report = result.stderr
    # E2 starts on line 4 because E1's quoted name spans lines 2 and 3
    for expected in ("│ 4    │ email", "│ 4    │ country", "│ 4    │ hire_date", "│ 6    │ -"):
        assert expected in report, report
    assert "customer_facing" in report
    assert "nothing was imported" in report
    assert employees(database) == {}


def test_duplicates_and_taken_emails_name_their_lines(database, tmp_path):
    assert run(write(tmp_path, HEADER + "E1,taken@example.com,A,Sales,ES,,,,\n")).exit_code == 0
    text = (
        HEADER
        + "E2,b@example.com,B,Sales,ES,,,,\n"
        + "E3,B@EXAMPLE.COM,C,Sales,ES,,,,\n"
        + "E2,d@example.com,D,Sales,ES,,,,\n"
    )
    result = run(write(tmp_path, text), "--full-sync")
    assert result.exit_code == 1
    report = result.stderr
    assert "line 2" in report  # the first occurrence is named
    assert "│ 3    │ email" in report
    assert "│ 4    │ external_id" in report
    assert set(employees(database)) == {"E1"}  # not deactivated by the failed full sync
    assert employees(database)["E1"]["active"] == 1

    # an upsert may not take an address from someone outside the file
    result = run(write(tmp_path, HEADER + "E5,taken@example.com,E,Sales,ES,,,,\n"))
    assert result.exit_code == 1
    assert "│ 2    │ email" in result.stderr
    assert "E1" in result.stderr
    assert set(employees(database)) == {"E1"}


def test_bad_header(database, tmp_path):
    result = run(write(tmp_path, "email,salary,attributes.bad key\na@example.com,1,x\n"))
    assert result.exit_code == 1
    report = result.stderr
    assert "salary" in report
    assert "attributes.bad key" in report
    assert "external_id" in report
    assert run(write(tmp_path, "")).exit_code == 1
    assert run(write(tmp_path, HEADER)).exit_code == 1
    assert run(tmp_path / "missing.csv").exit_code == 2
