"""Route dependencies that apply `app.editors.access` to `/v1/messages/{message_id}/…`."""

import uuid

from fastapi import Depends

from app.auth.dependencies import Authenticated
from app.core.errors import Forbidden
from app.core.session import SessionDep
from app.editors.access import check_message


async def _readable(message_id: uuid.UUID, session: SessionDep, principal: Authenticated) -> None:
    await check_message(session, principal, message_id, write=False)


async def _writable(message_id: uuid.UUID, session: SessionDep, principal: Authenticated) -> None:
    await check_message(session, principal, message_id, write=True)


# Route dependencies for `/v1/messages/{message_id}/…`: `ReadableMessage` where figures are
# restricted to the unit or content is only read, `OwnMessage` where they are not (feedback,
# moderation, deliveries) or the route changes the message.
ReadableMessage = Depends(_readable)
OwnMessage = Depends(_writable)


async def _company_wide(principal: Authenticated) -> None:
    if principal.scoped:
        raise Forbidden(
            f"This covers the whole company; a credential scoped to `{principal.unit}` cannot "
            "use it."
        )


# Routes whose figures or records are not restricted to a unit (inbox fatigue, one employee's
# e-mails, the listening loop, actions): HQ's credentials only, 403 for a scoped one.
CompanyWide = Depends(_company_wide)
