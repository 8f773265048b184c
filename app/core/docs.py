"""/docs (Swagger UI) and /redoc, served whole by the service: nothing loads from elsewhere.

FastAPI's own pages load Swagger UI and ReDoc from a CDN, so they stay blank on an intranet whose
proxy blocks CDNs. fastapi-offline bundles both and serves them under `/static-offline-docs`.
Two things would still reach out: Swagger UI's validator badge (validator.swagger.io, for any
host but localhost) is turned off, and ReDoc's menu footer always shows Redocly's logo from
their CDN; a Content-Security-Policy on both pages keeps the browser to this origin, so that
image is never requested (ReDoc hides it) and nothing else can be either.
"""

from typing import Any

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

DOCS_URL = "/docs"
REDOC_URL = "/redoc"
ASSETS_URL = "/static-offline-docs"

# Inline script and styles: FastAPI's page templates and ReDoc's styled components; blob:
# workers: ReDoc's search index.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; "
    "frame-ancestors 'self'; base-uri 'self'; form-action 'self'"
)


def create_documented_app(**kwargs: Any) -> FastAPI:
    """`FastAPI(**kwargs)` with /docs and /redoc served by the service itself."""
    app = FastAPIOffline(
        docs_url=DOCS_URL,
        redoc_url=REDOC_URL,
        static_url=ASSETS_URL,
        swagger_ui_parameters={"validatorUrl": None},
        **kwargs,
    )
    for route in app.router.routes:
        if isinstance(route, Route) and route.path in {DOCS_URL, REDOC_URL}:
            route.app = _with_policy(route.app)
    return app


def _with_policy(page: ASGIApp) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    *message.get("headers", []),
                    (b"content-security-policy", DOCS_CSP.encode()),
                ]
                message = {**message, "headers": headers}
            await send(message)

        await page(scope, receive, send_with_policy)

    return app
