"""The caller's identity: one `Principal` whichever credential produced it, and scopes."""

import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal


class Scope(StrEnum):
    MESSAGES_READ = "messages:read"
    MESSAGES_WRITE = "messages:write"
    AUDIENCES_READ = "audiences:read"
    AUDIENCES_WRITE = "audiences:write"
    EMPLOYEES_READ = "employees:read"
    EMPLOYEES_WRITE = "employees:write"
    RECEIPTS_READ = "receipts:read"
    TOKENS_ADMIN = "tokens:admin"
    WEBHOOKS_ADMIN = "webhooks:admin"
    AUDIT_READ = "audit:read"
    ADMIN = "admin"


ALL_SCOPES = frozenset(Scope)
# What a scoped principal (one unit) may hold at most: content, audiences and figures, each
# restricted to its unit; never the directory, tokens, webhooks or the audit log.
SCOPED_SCOPES = frozenset(
    {
        Scope.MESSAGES_READ,
        Scope.MESSAGES_WRITE,
        Scope.AUDIENCES_READ,
        Scope.AUDIENCES_WRITE,
        Scope.RECEIPTS_READ,
    }
)


@dataclass(frozen=True)
class Principal:
    """The authenticated caller, whichever credential it presented."""

    kind: Literal["token", "employee", "system"]
    id: str
    name: str
    scopes: frozenset[Scope] = field(default_factory=frozenset)
    employee_id: uuid.UUID | None = None
    external_id: str | None = None
    # A scoped principal (an editor grant over one unit, `app/editors`): the unit's key, e.g.
    # `country=MX`, and the grant roles it holds there (`local_editor`, `approver`). None: HQ.
    unit: str | None = None
    roles: frozenset[str] = field(default_factory=frozenset)

    @property
    def scoped(self) -> bool:
        return self.unit is not None

    def has(self, scope: Scope) -> bool:
        return Scope.ADMIN in self.scopes or scope in self.scopes

    def effective_scopes(self) -> frozenset[Scope]:
        return ALL_SCOPES if Scope.ADMIN in self.scopes else self.scopes

    @property
    def actor(self) -> str:
        return f"{self.kind}:{self.external_id or self.id}"

    @classmethod
    def system(cls, name: str) -> "Principal":
        return cls(kind="system", id=name, name=name, scopes=frozenset({Scope.ADMIN}))
