"""Every table, imported once so that metadata (and Alembic) sees them all."""

from app.actions.models import Action, ActionLink, ActionUpdate
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
from app.editions.models import MessageEdition
from app.editors.models import EditorGrant
from app.employees.models import Employee
from app.feedback.models import Comment, PulseAnswer, Reaction
from app.messages.models import Message, MessageVersion
from app.preferences.models import EmployeePreference
from app.quizzes.models import QuizAnswer, QuizAttempt
from app.receipts.models import (
    Acknowledgement,
    ChatTarget,
    Delivery,
    Digest,
    DueNotice,
    OptOut,
    Recipient,
)
from app.reports.models import alignment_weeks
from app.tokens.models import ApiToken
from app.webhooks.models import OutboxEvent, Webhook, WebhookDelivery

__all__ = [
    "Acknowledgement",
    "Action",
    "ActionLink",
    "ActionUpdate",
    "AdvocacyProfile",
    "ApiToken",
    "Audience",
    "AuditEvent",
    "BlockedWord",
    "ChatTarget",
    "Comment",
    "Delivery",
    "Digest",
    "DueNotice",
    "EditorGrant",
    "Employee",
    "EmployeePreference",
    "IdempotencyKey",
    "Message",
    "MessageAudience",
    "MessageEdition",
    "MessageSharing",
    "MessageVersion",
    "OptOut",
    "OutboxEvent",
    "PulseAnswer",
    "QuizAnswer",
    "QuizAttempt",
    "Reaction",
    "Recipient",
    "Share",
    "ShareClick",
    "ShareClickKey",
    "Webhook",
    "WebhookDelivery",
    "alignment_weeks",
]
