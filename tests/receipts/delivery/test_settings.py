"""Delivery settings: a malformed value refuses to start, in one line naming the variable."""

import pytest

from app.core.config import SettingsError, load_settings

COMPLETE = {
    "email_from": "news@example.com",
    "public_url": "https://brandcast.example.com",
    "intranet_message_url": "https://intranet.example.com/m/{message_id}",
    "link_secret": "x" * 32,
}


@pytest.mark.parametrize(
    "url",
    [
        "http://mail.example.com",
        "smtp://",
        "smtp://mail.example.com:notaport",
        "smtp://mail.example.com/path",
        "smtp://mail.example.com?starttls=maybe",
        "smtp://mail.example.com?tls=1",
        "smtps://mail.example.com?starttls=true",
    ],
)
def test_malformed_smtp_url_is_one_line_naming_the_variable(url):
    with pytest.raises(SettingsError) as caught:
        load_settings(smtp_url=url, **COMPLETE)
    message = str(caught.value)
    assert "BRANDCAST_SMTP_URL" in message and "\n" not in message


def test_smtp_url_parts_and_what_it_requires():
    server = load_settings(smtp_url="smtp://u%40x:p%3Aw@mail:2525?starttls=true", **COMPLETE).smtp
    assert (server.host, server.port, server.username, server.password) == (
        "mail",
        2525,
        "u@x",
        "p:w",
    )
    assert (server.use_tls, server.start_tls) == (False, True)
    tls = load_settings(smtp_url="smtps://mail", **COMPLETE).smtp
    assert (tls.port, tls.use_tls, tls.start_tls) == (465, True, None)
    for missing in COMPLETE:
        values = {k: v for k, v in COMPLETE.items() if k != missing}
        with pytest.raises(SettingsError, match=f"BRANDCAST_{missing.upper()}"):
            load_settings(smtp_url="smtp://mail", **values)
    with pytest.raises(SettingsError, match="BRANDCAST_INTRANET_MESSAGE_URL"):
        load_settings(intranet_message_url="https://intranet.example.com/m/")
    with pytest.raises(SettingsError, match="BRANDCAST_LINK_SECRET"):
        load_settings(link_secret="short")
