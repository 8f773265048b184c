"""E-mail delivery through a real SMTP server on loopback, with the app configured for it."""

from collections.abc import Iterator

import pytest

from app.core.config import Settings
from app.receipts.channels.email import Templates
from app.receipts.sender import run_sender
from tests.conftest import TEST_JWT_SECRET
from tests.me.conftest import client_with  # noqa: F401  (a fixture)
from tests.receipts.delivery.smtp import SMTPServer
from tests.receipts.helpers import World
from tests.webhooks.conftest import receiver  # noqa: F401  (a real HTTP receiver, for chat)

INTRANET = "https://intranet.example.com/news/{message_id}"
LINK_SECRET = "link-secret-for-tests-at-least-32-bytes!"


@pytest.fixture
def smtp() -> Iterator[SMTPServer]:
    server = SMTPServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def settings(database_url: str, smtp: SMTPServer) -> Settings:
    return Settings(
        database_url=database_url,
        run_scheduler=False,
        jwt_algorithms="HS256",
        jwt_secret=TEST_JWT_SECRET,
        rate_limit_per_minute=0,
        signin_cache_seconds=0,
        smtp_url=smtp.url,
        email_from="Brandcast <news@brand.example.com>",
        public_url="http://test",
        intranet_message_url=INTRANET,
        link_secret=LINK_SECRET,
        smtp_timeout_seconds=2,
        webhook_allowed_hosts="127.0.0.1",
    )


@pytest.fixture
async def world(db, admin) -> World:
    return World(db, admin)


@pytest.fixture
def send(app):
    """Run the sender once (`now` stands in for the clock); returns the e-mails handled."""
    templates = Templates()

    async def _send(now=None) -> int:
        return await run_sender(app.state.db, app.state.settings, templates, now=now)

    return _send
