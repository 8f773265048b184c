"""`brandcast tokens …`: full ids whatever the width, `--json`, and revoking by a unique start
of the id (an ambiguous one names its matches)."""

import json
import sqlite3
import uuid

import pytest


@pytest.fixture
def url(migrated) -> str:
    return f"sqlite:///{migrated}"


def create(invoke, url: str, name: str) -> str:
    result = invoke(
        "tokens", "create", "--name", name, "--scope", "audit:read", BRANDCAST_DATABASE_URL=url
    )
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()[-1]


def listed(invoke, url: str) -> list[dict]:
    result = invoke("tokens", "list", "--json", BRANDCAST_DATABASE_URL=url)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def set_id(migrated, name: str, token_id: str) -> None:
    with sqlite3.connect(migrated) as conn:
        conn.execute("UPDATE api_tokens SET id = ? WHERE name = ?", (uuid.UUID(token_id).hex, name))


def test_list_prints_full_ids_at_any_width_and_json(invoke, url, monkeypatch):
    token = create(invoke, url, "intranet feed")
    assert token.startswith("bc_")
    [item] = listed(invoke, url)
    assert set(item) == {
        "id",
        "name",
        "prefix",
        "scopes",
        "created_by",
        "created_at",
        "expires_at",
        "revoked_at",
        "last_used_at",
    }
    assert item["name"] == "intranet feed" and item["scopes"] == ["audit:read"]
    assert token not in json.dumps(item) and token[12:] not in json.dumps(item)  # no secret

    for columns in ("40", "80", "200"):
        monkeypatch.setenv("COLUMNS", columns)
        result = invoke("tokens", "list", BRANDCAST_DATABASE_URL=url)
        assert result.exit_code == 0
        header, row = result.stdout.splitlines()
        assert row.startswith(item["id"] + " ")  # whole, never `a2cda879-…`
        assert "…" not in result.stdout
        assert "intranet feed" in row and "audit:read" in row
        assert header.split()[:3] == ["id", "name", "prefix"]


def test_revoke_by_a_unique_start_of_the_id(invoke, url):
    create(invoke, url, "one")
    [item] = listed(invoke, url)
    result = invoke("tokens", "revoke", item["id"][:8], BRANDCAST_DATABASE_URL=url)
    assert result.exit_code == 0, result.output
    assert f"revoked {item['id']}" in result.stderr
    assert listed(invoke, url)[0]["revoked_at"] is not None
    # the full id, and the id without its dashes, work too
    assert invoke("tokens", "revoke", item["id"], BRANDCAST_DATABASE_URL=url).exit_code == 0
    no_dashes = item["id"].replace("-", "").upper()
    assert invoke("tokens", "revoke", no_dashes, BRANDCAST_DATABASE_URL=url).exit_code == 0


def test_an_ambiguous_start_names_the_matches_and_revokes_nothing(invoke, url, migrated):
    for name in ("first", "second", "other"):
        create(invoke, url, name)
    set_id(migrated, "first", "abcd1111-0000-4000-8000-000000000001")
    set_id(migrated, "second", "abcd2222-0000-4000-8000-000000000002")
    set_id(migrated, "other", "0bcd3333-0000-4000-8000-000000000003")

    result = invoke("tokens", "revoke", "abcd", BRANDCAST_DATABASE_URL=url)
    assert result.exit_code == 1
    assert result.stderr == (
        "brandcast: 'abcd' is the start of 2 token ids: abcd1111-0000-4000-8000-000000000001 "
        "(first), abcd2222-0000-4000-8000-000000000002 (second); give more of the id.\n"
    )
    assert all(t["revoked_at"] is None for t in listed(invoke, url))

    result = invoke("tokens", "revoke", "abcd2", BRANDCAST_DATABASE_URL=url)
    assert result.exit_code == 0
    revoked = {t["name"] for t in listed(invoke, url) if t["revoked_at"]}
    assert revoked == {"second"}


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (
            "ab",
            "brandcast: 'ab' is not a token id: give the id from `tokens list`, or at least "
            "its first 4 characters",
        ),
        (
            "bc_abcdefgh",
            "brandcast: 'bc_abcdefgh' is not a token id: give the id from `tokens "
            "list`, or at least its first 4 characters",
        ),
        ("ffff0000", "brandcast: No token id starts with 'ffff0000'."),
    ],
)
def test_unknown_or_malformed_ids(invoke, url, given, message):
    create(invoke, url, "kept")
    result = invoke("tokens", "revoke", given, BRANDCAST_DATABASE_URL=url)
    assert result.exit_code == 1
    assert result.stderr == message + "\n"
    assert listed(invoke, url)[0]["revoked_at"] is None
