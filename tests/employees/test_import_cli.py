"""`brandcast employees import FILE.csv` against a migrated SQLite file."""

import shutil
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.core.config import get_settings
from app.core.migrations import upgrade
from app.employees import cli as employees_cli_module

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
    result = run(write(tmp_path, HEADER + fewer), "--full-sync", "--batch-size", "2", "--yes")
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


def active_ids(database: Path) -> set[str]:
    return {k for k, r in employees(database).items() if r["active"]}


def test_full_sync_that_deactivates_many_stops_without_a_terminal(database, tmp_path, monkeypatch):
    rows = "".join(f"E{n},p{n}@example.com,P {n},Sales,ES,,,,\n" for n in range(1, 21))
    assert run(write(tmp_path, HEADER + rows)).exit_code == 0
    before = employees(database)

    # an export cut short: 3 rows of 20
    short = write(tmp_path, HEADER + "".join(rows.splitlines(keepends=True)[:3]))
    result = run(short, "--full-sync")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "brandcast: This full sync deactivates 17 of 20 active employees (85%), more than "
        "BRANDCAST_SYNC_MAX_DEACTIVATION_SHARE (10%); nothing was changed. Preview it with "
        "--dry-run, then run again with --yes to apply it."
    ]
    assert employees(database) == before

    # asked at a terminal: no (the default) changes nothing either; yes goes ahead
    monkeypatch.setattr(employees_cli_module, "_can_ask", lambda: True)
    result = CliRunner().invoke(cli, ["employees", "import", str(short), "--full-sync"], input="\n")
    assert result.exit_code == 1
    assert "Deactivate them? [y/N]" in result.stderr
    assert "for example: E10, E11, E12, E13, E14, E15, E16, E17, E18, E19" in result.stderr
    assert result.stderr.endswith("brandcast: nothing was changed\n")
    assert employees(database) == before

    result = CliRunner().invoke(
        cli, ["employees", "import", str(short), "--full-sync"], input="y\n"
    )
    assert result.exit_code == 0, result.output
    assert active_ids(database) == {"E1", "E2", "E3"}


def test_full_sync_within_the_share_needs_no_confirmation(database, tmp_path, monkeypatch):
    rows = "".join(f"E{n},p{n}@example.com,P {n},Sales,ES,,,,\n" for n in range(1, 11))
    assert run(write(tmp_path, HEADER + rows)).exit_code == 0
    nine = write(tmp_path, HEADER + "".join(rows.splitlines(keepends=True)[:9]))
    result = run(nine, "--full-sync")  # 1 of 10: exactly the default share
    assert result.exit_code == 0, result.output
    assert "E10" not in active_ids(database)

    monkeypatch.setenv("BRANDCAST_SYNC_MAX_DEACTIVATION_SHARE", "0.5")
    get_settings.cache_clear()
    five = write(tmp_path, HEADER + "".join(rows.splitlines(keepends=True)[:5]))
    result = run(five, "--full-sync")  # 4 of 9: within a share of one half
    assert result.exit_code == 0, result.output
    assert active_ids(database) == {"E1", "E2", "E3", "E4", "E5"}


def test_dry_run_shows_what_would_change_and_changes_nothing(database, tmp_path):
    rows = "".join(f"E{n},p{n}@example.com,P {n},Sales,ES,,,,\n" for n in range(1, 8))
    assert run(write(tmp_path, HEADER + rows)).exit_code == 0
    before = employees(database)

    text = HEADER + "E1,p1@example.com,P 1,Marketing,ES,,,,\nE2,p2@example.com,P 2,Sales,ES,,,,\n"
    text += "E9,p9@example.com,P 9,Sales,ES,,,,\n"
    result = run(write(tmp_path, text), "--full-sync", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "dry run, nothing changed" in result.stdout
    assert "│ 1       │ 1       │ 1         │ 5" in result.stdout
    assert "would deactivate 5: E3, E4, E5, E6, E7" in result.stdout
    assert employees(database) == before  # not even the audit trail moved
    with sqlite3.connect(database) as conn:
        assert conn.execute("SELECT count(*) FROM audit_events").fetchone() == (1,)

    # then for real: the same counts
    result = run(write(tmp_path, text), "--full-sync", "--yes")
    assert result.exit_code == 0, result.output
    assert "│ 1       │ 1       │ 1         │ 5" in result.stdout
    assert active_ids(database) == {"E1", "E2", "E9"}


def test_a_bad_file_or_database_is_one_line(database, tmp_path, monkeypatch):
    latin = tmp_path / "latin1.csv"
    latin.write_bytes(HEADER.encode() + "E1,a@example.com,Jos\xe9,Sales,ES,,,,\n".encode("latin-1"))
    result = run(latin)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"brandcast: {latin} is not a readable UTF-8 CSV file")
    assert len(result.stderr.splitlines()) == 1

    missing = tmp_path / "nowhere" / "brandcast.db"
    monkeypatch.setenv("BRANDCAST_DATABASE_URL", f"sqlite:///{missing}")
    get_settings.cache_clear()
    result = run(write(tmp_path, HEADER + "E1,a@example.com,A,Sales,ES,,,,\n"))
    assert result.exit_code == 1
    assert result.stderr == (
        f"brandcast: there is no database at {missing}: run `brandcast migrate` to create it, "
        "or point BRANDCAST_DATABASE_URL at yours\n"
    )
    assert not missing.parent.exists()


def test_time_zone_column(database, tmp_path):
    text = (
        "external_id,email,country,time_zone\n"
        "E1,p1@example.com,MX,America/Mexico_City\n"
        "E2,p2@example.com,ES,\n"
    )
    result = run(write(tmp_path, text))
    assert result.exit_code == 0, result.output
    rows = employees(database)
    assert rows["E1"]["time_zone"] == "America/Mexico_City" and rows["E2"]["time_zone"] is None
    bad = run(write(tmp_path, "external_id,time_zone\nE3,Atlantis/Capital\n"))
    assert bad.exit_code != 0 and "time_zone" in bad.output
