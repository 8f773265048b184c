import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from app.auth.dependencies import WebhooksAdmin
from app.core.config import AppSettings
from app.core.http import IfMatch, created, set_etag
from app.core.pagination import Page, Pagination
from app.core.session import SessionDep
from app.webhooks import service
from app.webhooks.models import DeliveryStatus
from app.webhooks.schemas import (
    DeliveryOut,
    WebhookCreate,
    WebhookOut,
    WebhookUpdate,
    WebhookWithSecret,
)

router = APIRouter(tags=["webhooks"])


@router.post(
    "/v1/webhooks",
    status_code=201,
    operation_id="createWebhook",
    summary="Subscribe a URL to events (the signing secret is shown once)",
)
async def create_webhook(
    data: WebhookCreate,
    session: SessionDep,
    principal: WebhooksAdmin,
    settings: AppSettings,
    response: Response,
) -> WebhookWithSecret:
    webhook = await service.create_webhook(session, principal, data=data, settings=settings)
    created(response, f"/v1/webhooks/{webhook.id}")
    set_etag(response, service.etag_of(webhook))
    return service.with_secret(webhook)


@router.get("/v1/webhooks", operation_id="listWebhooks", summary="List webhook subscriptions")
async def list_webhooks(
    session: SessionDep, principal: WebhooksAdmin, page: Pagination
) -> Page[WebhookOut]:
    return await service.list_webhooks(session, principal, page=page)


@router.get("/v1/webhooks/{webhook_id}", operation_id="getWebhook", summary="Read a webhook")
async def get_webhook(
    webhook_id: uuid.UUID, session: SessionDep, principal: WebhooksAdmin, response: Response
) -> WebhookOut:
    webhook = await service.get_webhook(session, principal, webhook_id=webhook_id)
    set_etag(response, service.etag_of(webhook))
    return service.webhook_out(webhook)


@router.patch(
    "/v1/webhooks/{webhook_id}",
    operation_id="updateWebhook",
    summary="Change a webhook (url, events, active, description)",
)
async def update_webhook(
    webhook_id: uuid.UUID,
    data: WebhookUpdate,
    session: SessionDep,
    principal: WebhooksAdmin,
    settings: AppSettings,
    response: Response,
    if_match: IfMatch = None,
) -> WebhookOut:
    webhook = await service.update_webhook(
        session, principal, webhook_id=webhook_id, data=data, if_match=if_match, settings=settings
    )
    set_etag(response, service.etag_of(webhook))
    return service.webhook_out(webhook)


@router.delete(
    "/v1/webhooks/{webhook_id}",
    status_code=204,
    operation_id="deleteWebhook",
    summary="Delete a webhook and its delivery log",
)
async def delete_webhook(
    webhook_id: uuid.UUID, session: SessionDep, principal: WebhooksAdmin, if_match: IfMatch = None
) -> None:
    await service.delete_webhook(session, principal, webhook_id=webhook_id, if_match=if_match)


@router.post(
    "/v1/webhooks/{webhook_id}/rotate-secret",
    operation_id="rotateWebhookSecret",
    summary="Replace the signing secret (shown once); the old one signs too for 24 hours",
)
async def rotate_secret(
    webhook_id: uuid.UUID,
    session: SessionDep,
    principal: WebhooksAdmin,
    settings: AppSettings,
    response: Response,
    if_match: IfMatch = None,
) -> WebhookWithSecret:
    webhook = await service.rotate_secret(
        session, principal, webhook_id=webhook_id, if_match=if_match, settings=settings
    )
    set_etag(response, service.etag_of(webhook))
    return service.with_secret(webhook)


@router.post(
    "/v1/webhooks/{webhook_id}/ping",
    status_code=202,
    operation_id="pingWebhook",
    summary="Queue a `ping` event for this webhook",
    responses={409: {"description": "The webhook is not active."}},
)
async def ping_webhook(
    webhook_id: uuid.UUID, session: SessionDep, principal: WebhooksAdmin
) -> DeliveryOut:
    return await service.ping(session, principal, webhook_id=webhook_id)


@router.get(
    "/v1/webhooks/{webhook_id}/deliveries",
    operation_id="listWebhookDeliveries",
    summary="The delivery log of a webhook, newest first",
)
async def list_deliveries(
    webhook_id: uuid.UUID,
    session: SessionDep,
    principal: WebhooksAdmin,
    page: Pagination,
    status: Annotated[DeliveryStatus | None, Query(description="Only this status.")] = None,
) -> Page[DeliveryOut]:
    return await service.list_deliveries(
        session, principal, webhook_id=webhook_id, page=page, status=status
    )


@router.post(
    "/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver",
    status_code=202,
    operation_id="redeliverWebhookDelivery",
    summary="Send a delivery's event again (as a new delivery)",
    responses={
        409: {
            "description": "The webhook is not active, the delivery is still being attempted, "
            "or a redelivery of the event is already queued."
        }
    },
)
async def redeliver(
    webhook_id: uuid.UUID, delivery_id: uuid.UUID, session: SessionDep, principal: WebhooksAdmin
) -> DeliveryOut:
    return await service.redeliver(
        session, principal, webhook_id=webhook_id, delivery_id=delivery_id
    )
