"""How database failures reach a client: retryable ones are 503 with Retry-After, a value the
database cannot take is 422, anything else a bare 500 — never SQL or a stack trace."""

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import exc as sa_exc

from app.core.errors import install_error_handlers


class DriverError(Exception):
    def __init__(self, sqlstate: str | None) -> None:
        super().__init__(f"driver said {sqlstate}: SELECT secret FROM somewhere")
        self.sqlstate = sqlstate


def _dbapi(kind: type[sa_exc.DBAPIError], sqlstate: str | None, **kw) -> sa_exc.DBAPIError:
    return kind("SELECT secret FROM somewhere", {}, DriverError(sqlstate), **kw)


@pytest.fixture
def raising_client():
    app = FastAPI()
    install_error_handlers(app)
    raised: list[BaseException] = []

    @app.get("/boom")
    async def boom() -> None:
        raise raised[0]

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    client = httpx.AsyncClient(transport=transport, base_url="http://test")

    async def call(exc: BaseException) -> httpx.Response:
        raised[:] = [exc]
        return await client.get("/boom")

    return call


@pytest.mark.parametrize(
    "exc",
    [
        _dbapi(sa_exc.DBAPIError, "57P01"),  # admin shutdown
        _dbapi(sa_exc.DBAPIError, "57P03"),  # cannot connect now (starting or stopping)
        _dbapi(sa_exc.DBAPIError, "08006"),  # connection failure
        _dbapi(sa_exc.DBAPIError, "53300"),  # too many connections
        _dbapi(sa_exc.DBAPIError, "40P01"),  # deadlock: try again
        _dbapi(sa_exc.DBAPIError, None, connection_invalidated=True),
        _dbapi(sa_exc.OperationalError, None),
        _dbapi(sa_exc.InterfaceError, None),
        sa_exc.TimeoutError("QueuePool limit reached"),
        ConnectionRefusedError(111, "Connection refused"),
        TimeoutError(),
    ],
    ids=lambda e: type(e).__name__ + (f"-{e.orig.sqlstate}" if hasattr(e, "orig") else ""),
)
async def test_unavailable_database_is_503_with_retry_after(raising_client, exc):
    r = await raising_client(exc)
    assert r.status_code == 503
    assert r.headers["content-type"] == "application/problem+json"
    assert int(r.headers["retry-after"]) > 0
    assert "secret" not in r.text and "SELECT" not in r.text


@pytest.mark.parametrize("sqlstate", ["22021", "22P05", "22003", "22007"])
async def test_a_value_the_database_refuses_is_422(raising_client, sqlstate):
    r = await raising_client(_dbapi(sa_exc.DataError, sqlstate))
    assert r.status_code == 422
    body = r.json()
    assert body["errors"] and body["type"].endswith("validation-error")
    assert "secret" not in r.text


async def test_an_integer_too_large_to_store_is_422(raising_client):
    r = await raising_client(OverflowError("Python int too large to convert to SQLite INTEGER"))
    assert r.status_code == 422


@pytest.mark.parametrize("sqlstate", ["42P01", "42703", None])
async def test_other_database_errors_are_a_bare_500(raising_client, sqlstate):
    r = await raising_client(_dbapi(sa_exc.ProgrammingError, sqlstate))
    assert r.status_code == 500
    assert r.json()["detail"] == "An unexpected error occurred."
    assert "secret" not in r.text and "SELECT" not in r.text
