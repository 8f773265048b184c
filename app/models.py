"""Every table, imported once so that metadata (and Alembic) sees them all."""

from app.audit.models import AuditEvent
from app.employees.models import Employee
from app.messages.models import Message, MessageVersion
from app.tokens.models import ApiToken

__all__ = ["ApiToken", "AuditEvent", "Employee", "Message", "MessageVersion"]
