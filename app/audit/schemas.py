import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel


class AuditEventOut(BaseModel):
    id: uuid.UUID
    occurred_at: datetime
    actor: str
    actor_name: str
    action: str
    entity_type: str
    entity_id: str
    request_id: str | None
    details: dict[str, Any] | None
