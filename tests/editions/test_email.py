"""The e-mail carries what the feed serves: the recipient's local edition, or HQ's text."""

from datetime import timedelta

import pytest

from app.core.config import Settings
from app.core.database import utcnow
from app.receipts.channels.email import Templates
from app.receipts.sender import run_sender
from tests.receipts.delivery.conftest import smtp  # noqa: F401  (a real SMTP server)

MX = "country=MX"


@pytest.fixture
def settings(settings: Settings, smtp) -> Settings:  # noqa: F811
    return settings.model_copy(
        update={
            "smtp_url": smtp.url,
            "email_from": "Brandcast <news@brand.example.com>",
            "public_url": "http://test",
            "link_secret": "link-secret-for-tests-at-least-32-bytes!",
            "smtp_timeout_seconds": 2,
        }
    )


async def test_mx_gets_the_edition_by_email_es_gets_hq(world, app, smtp):  # noqa: F811
    message_id = await world.message(
        world.hq,
        world.ids["everyone"],
        title="Store opening hours",
        body="Opening at nine.",
        translations={"es": {"title": "Horario de tiendas", "body": "Abrimos a las nueve."}},
        channels=["email"],
        localizable=True,
    )
    path = f"/v1/messages/{message_id}/editions/{MX}"
    r = await world.mx_editor.put(
        path,
        json={
            "locale": "es-MX",
            "title": "Horario de tiendas en México",
            "local_note": "Excepto en días festivos.",
        },
    )
    assert r.status_code == 201, r.text
    assert (await world.mx_editor.post(f"{path}/submit")).status_code == 200
    assert (await world.mx_approver.post(f"{path}/approve")).status_code == 200
    assert (await world.mx_editor.post(f"{path}/publish")).status_code == 200
    await world.publish(world.hq, message_id)

    assert await run_sender(app.state.db, app.state.settings, Templates()) == 20
    mx = smtp.sink.to("mx-1@example.com")[0]
    assert mx.message["Subject"] == "Horario de tiendas en México"
    assert mx.message["Content-Language"] == "es-MX"
    text = mx.part("plain")
    assert "Abrimos a las nueve." in text and "Excepto en días festivos." in text
    es = smtp.sink.to("es-1@example.com")[0]
    assert es.message["Subject"] == "Horario de tiendas"
    assert "Excepto" not in es.part("plain")


async def test_the_digest_lists_the_edition_too(world, app, smtp):  # noqa: F811
    for person in ("MX-1", "ES-1"):
        r = await world.hq.put(f"/v1/employees/{person}/preferences", json={"digest": "daily"})
        assert r.status_code == 200, r.text
    message_id = await world.message(
        world.hq,
        world.ids["everyone"],
        title="Store opening hours",
        translations={"es": {"title": "Horario de tiendas"}},
        channels=["email"],
        localizable=True,
    )
    path = f"/v1/messages/{message_id}/editions/{MX}"
    r = await world.mx_editor.put(path, json={"locale": "es-MX", "title": "Horario en México"})
    assert r.status_code == 201, r.text
    assert (await world.mx_editor.post(f"{path}/submit")).status_code == 200
    assert (await world.mx_approver.post(f"{path}/approve")).status_code == 200
    assert (await world.mx_editor.post(f"{path}/publish")).status_code == 200
    await world.publish(world.hq, message_id)

    now = utcnow()
    await run_sender(app.state.db, app.state.settings, Templates(), now=now)
    assert smtp.sink.to("mx-1@example.com") == [] and smtp.sink.to("es-1@example.com") == []
    await run_sender(app.state.db, app.state.settings, Templates(), now=now + timedelta(days=2))
    [mx] = smtp.sink.to("mx-1@example.com")
    assert "Horario en México" in mx.part("plain")
    [es] = smtp.sink.to("es-1@example.com")
    assert "Horario de tiendas" in es.part("plain") and "México" not in es.part("plain")
