"""What every operation checks of a request before it runs: that its body is in a media type
the operation reads (415 otherwise), that its query names only parameters the operation
declares (422 otherwise, as for an unknown body field), and that no NUL character hides in it
(`validators.reject_nul_characters`).

`check_request` is the one app-wide dependency (`app/main.py`), so that no route has to
remember them (one dependency rather than three: each costs the hot routes a few microseconds).
The checks read what the route declares: its body's media type (`Body(media_type=…)`,
`application/json` unless said otherwise) and the query parameters of its signature and its
dependencies.
"""

import weakref
from typing import Any

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.params import Form
from pydantic import BaseModel

from app.core.errors import UnsupportedMediaType, ValidationFailed, field_error
from app.core.validators import reject_nul_characters

JSON_MEDIA_TYPE = "application/json"


def _media_type(content_type: str | None) -> str | None:
    """`Application/JSON; charset=utf-8` -> `application/json`."""
    if not content_type:
        return None
    return content_type.split(";", 1)[0].strip().lower() or None


def accepted_media_types(body_field: Any) -> tuple[str, ...]:
    """The media types a body is read in: the one the route declares, and plain JSON."""
    declared = getattr(body_field.field_info, "media_type", None) or JSON_MEDIA_TYPE
    return tuple(dict.fromkeys((declared.lower(), JSON_MEDIA_TYPE)))


def _quoted(types: tuple[str, ...]) -> str:
    return " or ".join(f"`{t}`" for t in types)


async def require_json_body(request: Request) -> None:
    """415 for a body sent in a media type the operation does not read (`text/plain`, a form,
    no `Content-Type` at all), which would otherwise be a 422 about "a valid dictionary"."""
    body_field = getattr(request.scope.get("route"), "body_field", None)
    if body_field is None or isinstance(body_field.field_info, Form):
        return  # no body to read, or a form the framework reads
    if not await request.body():
        return  # nothing sent: the operation's validation says whether a body is required
    accepted = accepted_media_types(body_field)
    given = _media_type(request.headers.get("content-type"))
    if given in accepted:
        return
    sent = f"`{given}`" if given else "no `Content-Type`"
    headers = {"Accept-Patch": ", ".join(accepted)} if request.method == "PATCH" else None
    raise UnsupportedMediaType(
        f"The body must be JSON sent as {_quoted(accepted)}; this request has {sent}.",
        headers=headers,
        accepted_media_types=list(accepted),
    )


def declared_query_parameters(dependant: Dependant) -> frozenset[str]:
    """The query parameter names an operation declares, its dependencies' included."""
    names: set[str] = set()
    stack = [dependant]
    while stack:
        current = stack.pop()
        for field in current.query_params:
            model = field.field_info.annotation
            if isinstance(model, type) and issubclass(model, BaseModel):  # `Query()` model
                names.update(f.alias or name for name, f in model.model_fields.items())
            else:
                names.add(field.alias)
        stack.extend(current.dependencies)
    return frozenset(names)


# route id -> (the route, its names): routes cannot be hashed, and ids are reused once a route
# is gone (tests build many apps), so each entry checks that its route is still the one
_DECLARED: dict[int, tuple[weakref.ref[Any], frozenset[str]]] = {}


def _declared_by(route: Any) -> frozenset[str]:
    """`declared_query_parameters` of the route, worked out once per route."""
    key = id(route)
    known = _DECLARED.get(key)
    if known is not None and known[0]() is route:
        return known[1]
    names = declared_query_parameters(route.dependant)
    _DECLARED[key] = (weakref.ref(route, lambda _: _DECLARED.pop(key, None)), names)
    return names


# An operation a browser opens from an e-mail or a chat post rather than an API client calls:
# mail scanners and link trackers add query parameters of their own (`utm_*`, …), which must not
# turn a click into an error page. Marked in the document too (`openapi_extra=BROWSER_PAGE`).
BROWSER_PAGE = {"x-browser-page": True}


async def reject_unknown_query_parameters(request: Request) -> None:
    """422 naming each query parameter the operation does not declare: a misspelt filter
    (`?departmnet=Sales`) would otherwise answer everything, unfiltered."""
    if not request.scope["query_string"]:
        return
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    # not an operation of the document (the docs pages: Swagger's OAuth redirect gets a query)
    if dependant is None or not getattr(route, "include_in_schema", True):
        return
    if (getattr(route, "openapi_extra", None) or {}).get("x-browser-page"):
        return
    declared = _declared_by(route)
    unknown = [name for name in request.query_params if name not in declared]
    if not unknown:
        return
    takes = (
        "this operation takes " + ", ".join(f"`{n}`" for n in sorted(declared))
        if declared
        else "this operation takes no query parameters"
    )
    raise ValidationFailed(
        [
            field_error(f"query.{name}", f"Unknown query parameter; {takes}.", "extra_forbidden")
            for name in unknown
        ]
    )


async def check_request(request: Request) -> None:
    """Every check above, in this order: the body's media type (a body in another format is
    not read at all), the query's names, then NUL characters."""
    await require_json_body(request)
    await reject_unknown_query_parameters(request)
    await reject_nul_characters(request)
