"""Webhook secrets in the Standard Webhooks form, without breaking existing receivers

Before, a secret was `whsec_` + `secrets.token_urlsafe(32)` and the HMAC key was the UTF-8
bytes of that whole string. The Standard Webhooks specification keys the HMAC with the base64-
decoded part after `whsec_`, which such a string is not (43 URL-safe characters, no padding).

Every secret that is not strict base64 after `whsec_` is re-encoded as `whsec_` +
base64(old string): the spec key of the new string is exactly the old key, so nothing secret
changes and receivers can derive the new string from the one they hold. Those secrets are
flagged `…_is_legacy`: while one signs, deliveries also carry the old `Brandcast-*` headers
(the Standard Webhooks migration advice), so an unchanged receiver keeps verifying until it
switches; rotating the secret ends it after the overlap.

Downgrade turns converted secrets back into their old strings. Secrets created after the
upgrade stay as they are (the old scheme signs them with the whole string as key, so their
receivers would have to verify the old way).

Revision ID: 0012_standard_webhooks
Revises: 0011_feed_order
Create Date: 2026-12-04
"""

import base64
import binascii
from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0012_standard_webhooks"
down_revision: str | None = "0011_feed_order"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PREFIX = "whsec_"

webhooks = sa.table(
    "webhooks",
    sa.column("id", sa.Uuid()),
    sa.column("secret", sa.String()),
    sa.column("previous_secret", sa.String()),
    sa.column("secret_is_legacy", sa.Boolean()),
    sa.column("previous_secret_is_legacy", sa.Boolean()),
)


def _is_standard(secret: str) -> bool:
    if not secret.startswith(PREFIX):
        return False
    try:
        return bool(base64.b64decode(secret[len(PREFIX) :], validate=True))
    except (binascii.Error, ValueError):
        return False


def _convert(secret: str | None) -> tuple[str | None, bool]:
    """(the secret in the spec form, whether it was converted)."""
    if secret is None or _is_standard(secret):
        return secret, False
    return PREFIX + base64.b64encode(secret.encode()).decode(), True


def upgrade() -> None:
    with op.batch_alter_table("webhooks") as batch:
        for name in ("secret_is_legacy", "previous_secret_is_legacy"):
            batch.add_column(
                sa.Column(name, sa.Boolean(), server_default=sa.false(), nullable=False)
            )
    bind = op.get_bind()
    rows = bind.execute(sa.select(webhooks.c.id, webhooks.c.secret, webhooks.c.previous_secret))
    for id_, secret, previous in rows.all():
        new_secret, secret_legacy = _convert(secret)
        new_previous, previous_legacy = _convert(previous)
        if secret_legacy or previous_legacy:
            bind.execute(
                webhooks.update()
                .where(webhooks.c.id == id_)
                .values(
                    secret=new_secret,
                    secret_is_legacy=secret_legacy,
                    previous_secret=new_previous,
                    previous_secret_is_legacy=previous_legacy,
                )
            )


def _revert(secret: str | None, legacy: bool) -> str | None:
    if secret is None or not legacy:
        return secret
    return base64.b64decode(secret[len(PREFIX) :]).decode()


def downgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(
            webhooks.c.id,
            webhooks.c.secret,
            webhooks.c.secret_is_legacy,
            webhooks.c.previous_secret,
            webhooks.c.previous_secret_is_legacy,
        ).where(sa.or_(webhooks.c.secret_is_legacy, webhooks.c.previous_secret_is_legacy))
    )
    for id_, secret, secret_legacy, previous, previous_legacy in rows.all():
        bind.execute(
            webhooks.update()
            .where(webhooks.c.id == id_)
            .values(
                secret=_revert(secret, secret_legacy),
                previous_secret=_revert(previous, previous_legacy),
            )
        )
    with op.batch_alter_table("webhooks") as batch:
        batch.drop_column("previous_secret_is_legacy")
        batch.drop_column("secret_is_legacy")
