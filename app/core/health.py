"""Liveness, readiness and Prometheus metrics."""

import asyncio

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from app.core.errors import ServiceUnavailable
from app.core.observability import registry

router = APIRouter(tags=["operations"])


class Health(BaseModel):
    status: str


@router.get("/healthz", operation_id="getLiveness", summary="Liveness: the process answers")
async def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    operation_id="getReadiness",
    summary="Readiness: the database is reachable (503 otherwise)",
    responses={503: {"description": "The database is not reachable."}},
)
async def readyz(request: Request) -> Health:
    try:
        await asyncio.wait_for(request.app.state.db.ping(), timeout=3)
    except Exception as exc:
        raise ServiceUnavailable("The database is not reachable.") from exc
    return Health(status="ready")


@router.get(
    "/metrics",
    operation_id="getMetrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}},
)
async def metrics() -> Response:
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
