"""ETag and `If-Match` for editable resources, and `Location` for created ones."""

from typing import Annotated, Protocol, TypeVar

from fastapi import Header, Response

from app.core.errors import PreconditionFailed


def etag_for(entity_id: object, revision: int) -> str:
    return f'"{entity_id}-{revision}"'


def check_if_match(if_match: str | None, current: str) -> None:
    """412 when the client edits from a representation that is no longer current."""
    if if_match is None:
        return
    candidates = [tag.strip() for tag in if_match.split(",")]
    if "*" in candidates:
        return
    if current not in [c.removeprefix("W/") for c in candidates]:
        raise PreconditionFailed(
            "The resource changed since you read it (ETag mismatch); fetch it and retry.",
            current_etag=current,
        )


def set_etag(response: Response, etag: str) -> None:
    response.headers["ETag"] = etag


def created(response: Response, location: str) -> None:
    response.status_code = 201
    response.headers["Location"] = location


IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description="The `ETag` you last read; 412 when the resource changed since.",
    ),
]
PRECONDITION_FAILED = {412: {"description": "`If-Match` does not match the current `ETag`."}}


class _Tagged(Protocol):
    etag: str


Tagged = TypeVar("Tagged", bound=_Tagged)


def with_etag(response: Response, resource: Tagged) -> Tagged:
    """Answer `resource` with its `ETag` header."""
    set_etag(response, resource.etag)
    return resource
