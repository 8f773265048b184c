"""What a database failure means for the client: a value it cannot hold (422), the database
not reachable now (503, retry), or a fault of ours (500). Decided from SQLSTATE classes and
driver exceptions, the same way on SQLite and PostgreSQL.
"""

from enum import Enum

from asyncpg import exceptions as asyncpg_exceptions
from sqlalchemy import exc as sa_exc

# SQLSTATE classes meaning "the database cannot serve this now, try again": connection
# exception, transaction rollback (deadlock, serialization), insufficient resources, operator
# intervention (shutting down, starting up, statement cancelled).
_RETRYABLE_SQLSTATE_CLASSES = frozenset({"08", "40", "53", "57"})
# Class 22, data exception: a value the database cannot hold or compare (NUL in text, out of
# range). Validation should have refused it first; this keeps a missed case from being a 500.
_DATA_EXCEPTION_CLASS = "22"
# Raised by the database layer, not by the code: through SQLAlchemy, or by asyncpg itself on
# the hot paths that run on the driver (`app.core.direct`).
DATABASE_ERRORS: tuple[type[BaseException], ...] = (
    sa_exc.DBAPIError,
    sa_exc.TimeoutError,
    asyncpg_exceptions.PostgresError,
    asyncpg_exceptions.InterfaceError,
    asyncpg_exceptions.InternalClientError,
    OSError,
    TimeoutError,
)


class DatabaseFailure(Enum):
    BAD_VALUE = "bad_value"  # 422
    UNAVAILABLE = "unavailable"  # 503 with Retry-After
    FAULT = "fault"  # 500


def _sqlstate(exc: BaseException) -> str:
    source = exc.orig if isinstance(exc, sa_exc.DBAPIError) else exc
    code = getattr(source, "sqlstate", None) or getattr(source, "pgcode", None)
    return code if isinstance(code, str) else ""


def is_bad_value(exc: BaseException) -> bool:
    """The database refused a value of the request (it cannot store or compare it)."""
    if isinstance(exc, OverflowError):  # e.g. an integer SQLite cannot store
        return True
    if isinstance(exc, asyncpg_exceptions.PostgresError):
        return _sqlstate(exc).startswith(_DATA_EXCEPTION_CLASS)
    if not isinstance(exc, sa_exc.DBAPIError):
        return False
    if _sqlstate(exc).startswith(_DATA_EXCEPTION_CLASS):
        return True
    # asyncpg refuses some arguments before sending them (an integer beyond 64 bits)
    cause = exc.orig.__cause__ if exc.orig is not None else None
    return isinstance(cause, asyncpg_exceptions.DataError)


def is_unavailable(exc: BaseException) -> bool:
    """The database cannot serve now (down, restarting, overloaded, deadlock): retry."""
    if isinstance(exc, sa_exc.TimeoutError | ConnectionError | TimeoutError):
        return True
    if isinstance(exc, asyncpg_exceptions.InterfaceError | asyncpg_exceptions.InternalClientError):
        return True  # the connection is gone, or was left mid-operation
    if isinstance(exc, asyncpg_exceptions.PostgresError):
        return _sqlstate(exc)[:2] in _RETRYABLE_SQLSTATE_CLASSES
    if isinstance(exc, sa_exc.DBAPIError):
        return (
            bool(exc.connection_invalidated)
            or isinstance(exc, sa_exc.OperationalError)
            or _sqlstate(exc)[:2] in _RETRYABLE_SQLSTATE_CLASSES
            or (isinstance(exc, sa_exc.InterfaceError) and not is_bad_value(exc))
        )
    return isinstance(exc, OSError)


def classify(exc: BaseException) -> DatabaseFailure | None:
    """What `exc` means if it comes from the database; None when it does not."""
    if is_bad_value(exc):
        return DatabaseFailure.BAD_VALUE
    if is_unavailable(exc):
        return DatabaseFailure.UNAVAILABLE
    if isinstance(exc, DATABASE_ERRORS):
        return DatabaseFailure.FAULT
    return None
