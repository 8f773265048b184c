"""Every table, imported once so that metadata (and Alembic) sees them all."""

from app.advocacy.models import (
    AdvocacyProfile,
    BlockedWord,
    MessageSharing,
    Share,
    ShareClick,
    ShareClickKey,
)
from app.audiences.models import Audience, MessageAudience
from app.audit.models import AuditEvent
from app.core.idempotency import IdempotencyKey
from app.employees.models import Employee
from app.feedback.models import Comment, PulseAnswer, Reaction
from app.messages.models import Message, MessageVersion
from app.receipts.models import (
    Acknowledgement,
    ChatTarget,
    Delivery,
    DueNotice,
    OptOut,
    Recipient,
)
from app.tokens.models import ApiToken
from app.webhooks.models import OutboxEvent, Webhook, WebhookDelivery

__all__ = [
    "Acknowledgement",
    "AdvocacyProfile",
    "ApiToken",
    "Audience",
    "AuditEvent",
    "BlockedWord",
    "ChatTarget",
    "Comment",
    "Delivery",
    "DueNotice",
    "Employee",
    "IdempotencyKey",
    "Message",
    "MessageAudience",
    "MessageSharing",
    "MessageVersion",
    "OptOut",
    "OutboxEvent",
    "PulseAnswer",
    "Reaction",
    "Recipient",
    "Share",
    "ShareClick",
    "ShareClickKey",
    "Webhook",
    "WebhookDelivery",
]
