"""Pages for people who open a link from an e-mail or a social post: tracked links (`/r/`) and
short links (`/s/`) answer with redirects and plain HTML pages, never with JSON, errors
included (each prefix registers `render_page` as its error format, as SCIM registers its own)."""

import html
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, Response

from app.core.errors import ErrorBody, error_formats

# a link's answer is for one person at one moment: no cache keeps it, no referrer leaks it
NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}

_PAGE = (
    '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>'
    "<body><p>{text}</p></body></html>\n"
)


def page(title: str, text_html: str) -> str:
    """A plain page; `text_html` is inserted as is (escape what is not markup)."""
    return _PAGE.format(title=html.escape(title), text=text_html)


def page_response(title: str, text: str, status: int) -> HTMLResponse:
    return HTMLResponse(page(title, html.escape(text)), status_code=status, headers=NO_STORE)


def render_page(error: ErrorBody) -> Response:
    """An error as a plain page: whoever opens these links is a browser."""
    response = page_response(
        str(error.status), error.detail or "This link cannot be opened now.", error.status
    )
    response.headers.update(error.headers)
    return response


def install_page_errors(app: FastAPI, *prefixes: str) -> None:
    """Render every error under these path prefixes as a page."""
    for prefix in prefixes:
        error_formats(app).register(prefix, render_page)


_HTML = {"text/html": {"schema": {"type": "string"}}}
_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}}


def page_responses(redirect: tuple[int, str], not_found: str) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` of a link route: its redirect, and its errors as pages."""
    status, description = redirect
    return {
        status: {"description": description},
        404: {"description": not_found, "content": _HTML},
        405: {"description": "Another method than GET or HEAD.", "content": _HTML},
        422: {"description": "A NUL character in the path.", "content": _HTML},
        429: {
            "description": "Too many requests from this address; retry after `Retry-After`.",
            "content": _HTML,
            "headers": _RETRY_AFTER,
        },
        503: {
            "description": "The database is not reachable; retry after `Retry-After`.",
            "content": _HTML,
            "headers": _RETRY_AFTER,
        },
    }
