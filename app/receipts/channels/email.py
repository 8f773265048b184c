"""E-mail: a message rendered for one locale, composed per recipient, sent over SMTP.

Rendering (Markdown to sanitized HTML, the plain-text part, the encoded subject) happens once
per message revision and locale (`Template`); each recipient's e-mail is that template with
its own `To`, `Message-ID`, tracked link and unsubscribe address, composed as bytes without
the `email` package's object model (which cost ~2 ms an e-mail, more than sending it).

The HTML comes from `markdown-it-py` with raw HTML off (an editor's `<script>` becomes text),
then `nh3` (the Ammonia sanitizer) keeps only formatting tags and http(s)/mailto links.
"""

import asyncio
import base64
import html
import logging
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from email.header import Header
from email.utils import format_datetime, formataddr
from typing import Any

import aiosmtplib
import nh3
from markdown_it import MarkdownIt

from app.core.config import SMTPServer
from app.core.database import utcnow
from app.editions.serve import EditionText, served_content
from app.messages.locales import preferences

logger = logging.getLogger("brandcast.email")

_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
ALLOWED_TAGS = frozenset(
    {
        "a", "p", "br", "hr", "strong", "em", "b", "i", "s", "del", "code", "pre", "blockquote",
        "ul", "ol", "li", "h1", "h2", "h3", "h4", "h5", "h6",
        "table", "thead", "tbody", "tr", "th", "td", "img",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "th": {"align"}}
URL_SCHEMES = frozenset({"http", "https", "mailto"})
# the link's label, by language; English for the others
READ_LABEL = {
    "en": "Read it on the intranet",
    "de": "Im Intranet lesen",
    "fr": "Lire sur l'intranet",
    "es": "Leer en la intranet",
    "it": "Leggi nella intranet",
    "nl": "Lees het op het intranet",
    "pt": "Ler na intranet",
    "pl": "Przeczytaj w intranecie",
}
LINK = "\x00link\x00"  # stands for the recipient's tracked link in a template
MAX_CACHED = 256


def label(locale: str) -> str:
    return READ_LABEL.get(locale.split("-", 1)[0].lower(), READ_LABEL["en"])


def render_html(markdown: str) -> str:
    """Markdown to HTML with nothing executable left: raw HTML is text, then sanitized."""
    return nh3.clean(
        _MARKDOWN.render(markdown),
        tags=set(ALLOWED_TAGS),
        attributes={k: set(v) for k, v in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        link_rel="noopener noreferrer",
    )


def render_text(markdown: str) -> str:
    """The plain-text part: the Markdown as written, with any HTML tags taken out."""
    return html.unescape(nh3.clean(markdown, tags=set()))


def _b64(text: str) -> bytes:
    return base64.encodebytes(text.encode()).replace(b"\n", b"\r\n")


def _header(value: str) -> str:
    """A header value: as is when ASCII, RFC 2047 encoded otherwise."""
    if value.isascii():
        return " ".join(value.split())
    return Header(value, "utf-8", maxlinelen=76).encode(linesep="\r\n")


@dataclass(frozen=True, slots=True)
class Template:
    """One message's e-mail in one locale, with `LINK` where the tracked link goes."""

    locale: str
    subject: str  # encoded
    text: str
    html: str


def build_template(*, locale: str, title: str, summary: str | None, body: str) -> Template:
    read = label(locale)
    summary_html = f"<p><strong>{html.escape(summary)}</strong></p>\n" if summary else ""
    page = (
        f'<!DOCTYPE html>\n<html lang="{html.escape(locale)}"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title></head>\n<body>\n"
        f"<h1>{html.escape(title)}</h1>\n{summary_html}{render_html(body)}\n"
        f'<p><a href="{LINK}">{html.escape(read)}</a></p>\n</body></html>\n'
    )
    text = "\n\n".join(
        part for part in (title, summary, render_text(body), f"{read}: {LINK}") if part
    )
    return Template(locale=locale, subject=_header(title), text=text + "\n", html=page)


class Templates:
    """Templates by (message, revision, locale), the most recently used kept."""

    def __init__(self, max_entries: int = MAX_CACHED) -> None:
        self._entries: OrderedDict[tuple[Any, ...], Template] = OrderedDict()
        self.max_entries = max_entries

    def for_recipient(
        self,
        message: Mapping[str, Any],
        employee_locale: str | None,
        edition: EditionText | None = None,
    ) -> Template:
        """The template of what the recipient is served (`app.editions.serve`: their local
        edition, if any) in their best locale: theirs, else the message's own."""
        served = served_content(
            preferences(None, employee_locale),
            locale=message["locale"],
            title=message["title"],
            summary=message["summary"],
            body=message["body"],
            translations=message["translations"] or {},
            acknowledgement_text=message.get("acknowledgement_text"),
            locked=message.get("locked") or (),
            edition=edition,
        )
        key = (
            message["id"],
            message["revision"],
            served.locale,
            edition.id if edition else None,
            edition.revision if edition else None,
        )
        found = self._entries.get(key)
        if found is None:
            body = served.body
            if served.local_note:
                body = f"{body}\n\n---\n\n{served.local_note}"
            found = build_template(
                locale=served.locale,
                title=served.title,
                summary=served.summary,
                body=body,
            )
            self._entries[key] = found
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        else:
            self._entries.move_to_end(key)
        return found


def message_id_header(delivery_id: int, message_id: uuid.UUID, sender: str) -> str:
    """Stable per delivery: a retry is the same e-mail, and mail systems see it as such."""
    domain = sender.rpartition("@")[2].strip(">").strip() or "brandcast.invalid"
    return f"<delivery-{delivery_id}.{message_id.hex}@{domain}>"


def compose(
    template: Template,
    *,
    sender: str,
    to_address: str,
    to_name: str | None,
    message_id: str,
    link: str,
    unsubscribe: str | None,
    date: str,
) -> bytes:
    """The whole e-mail as bytes (CRLF lines, base64 parts), ready for DATA."""
    boundary = f"=_bc_{uuid.uuid4().hex}"
    to = formataddr((to_name, to_address), charset="utf-8") if to_name else to_address
    headers = [
        f"From: {sender}",
        f"To: {_header(to) if not to.isascii() else to}",
        f"Subject: {template.subject}",
        f"Date: {date}",
        f"Message-ID: {message_id}",
        "MIME-Version: 1.0",
        f"Content-Language: {template.locale}",
    ]
    if unsubscribe is not None:
        headers += [
            f"List-Unsubscribe: <{unsubscribe}>",
            "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
        ]
    headers.append(f'Content-Type: multipart/alternative; boundary="{boundary}"')
    head = ("\r\n".join(headers) + "\r\n\r\n").encode()
    part = f'--{boundary}\r\nContent-Type: text/{{}}; charset="utf-8"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
    return b"".join(
        (
            head,
            part.format("plain").encode(),
            _b64(template.text.replace(LINK, link)),
            part.format("html").encode(),
            _b64(template.html.replace(LINK, html.escape(link))),
            f"--{boundary}--\r\n".encode(),
        )
    )


def smtp_date() -> str:
    return format_datetime(utcnow())


# --- sending -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    """The result of one e-mail: `ok`; else `permanent` (a 5xx reply) or worth a retry."""

    ok: bool
    permanent: bool = False
    error: str | None = None
    unreachable: bool = False  # no SMTP reply at all: the server is down or cut us off


def _reply(code: int, message: str) -> str:
    return f"{code} {' '.join(str(message).split())}"[:1000]


class SMTPConnection:
    """One pooled connection, opened on first use and again after it broke."""

    def __init__(self, server: SMTPServer, *, timeout: float) -> None:
        self.server = server
        self.timeout = timeout
        self._client: aiosmtplib.SMTP | None = None

    async def _connected(self) -> aiosmtplib.SMTP:
        if self._client is not None and self._client.is_connected:
            return self._client
        server = self.server
        client = aiosmtplib.SMTP(
            hostname=server.host,
            port=server.port,
            username=server.username,
            password=server.password,
            use_tls=server.use_tls,
            start_tls=server.start_tls,
            timeout=self.timeout,
        )
        await client.connect()
        self._client = client
        return client

    async def send(self, sender: str, recipient: str, data: bytes) -> Sent:
        """Send one e-mail; never raises. 5xx replies are permanent, anything else (4xx, a
        refused or broken connection, a timeout) is worth a retry."""
        try:
            client = await self._connected()
            await client.sendmail(sender, [recipient], data)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refused = exc.recipients[0] if exc.recipients else None
            code = refused.code if refused else 550
            text = refused.message if refused else str(exc)
            return Sent(ok=False, permanent=500 <= code < 600, error=_reply(code, text))
        except aiosmtplib.SMTPResponseException as exc:
            if isinstance(exc, aiosmtplib.SMTPServerDisconnected | aiosmtplib.SMTPConnectError):
                await self.close()
            return Sent(
                ok=False, permanent=500 <= exc.code < 600, error=_reply(exc.code, exc.message)
            )
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            await self.close()
            error = f"{exc.__class__.__name__}: {exc}"[:1000]
            return Sent(ok=False, error=error, unreachable=True)
        return Sent(ok=True)

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        try:
            if client.is_connected:
                await asyncio.wait_for(client.quit(), timeout=2)
        except Exception:  # already broken: drop it
            client.close()


class SMTPPool:
    """At most `size` connections, each sending one e-mail at a time."""

    def __init__(self, server: SMTPServer, *, size: int, timeout: float) -> None:
        self._idle: asyncio.Queue[SMTPConnection] = asyncio.Queue()
        self._all = [SMTPConnection(server, timeout=timeout) for _ in range(size)]
        for connection in self._all:
            self._idle.put_nowait(connection)

    @property
    def size(self) -> int:
        return len(self._all)

    async def send(self, sender: str, recipient: str, data: bytes) -> Sent:
        connection = await self._idle.get()
        try:
            return await connection.send(sender, recipient, data)
        finally:
            self._idle.put_nowait(connection)

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self._all))


# --- digests -------------------------------------------------------------------------------

DIGEST_SUBJECT = {
    "en": "Your digest: {n} new messages",
    "de": "Ihre Übersicht: {n} neue Nachrichten",
    "fr": "Votre résumé : {n} nouveaux messages",
    "es": "Tu resumen: {n} mensajes nuevos",
    "it": "Il tuo riepilogo: {n} nuovi messaggi",
    "nl": "Uw overzicht: {n} nieuwe berichten",
    "pt": "O seu resumo: {n} novas mensagens",
    "pl": "Twoje podsumowanie: {n} nowych wiadomości",
}


@dataclass(frozen=True, slots=True)
class DigestEntry:
    """One message of a digest, as the employee is served it."""

    locale: str
    title: str
    summary: str | None
    link: str


def digest_subject(locale: str, count: int) -> str:
    language = locale.split("-", 1)[0].lower()
    return DIGEST_SUBJECT.get(language, DIGEST_SUBJECT["en"]).format(n=count)


def build_digest(locale: str, entries: list[DigestEntry]) -> Template:
    """A digest e-mail: each entry's title (its tracked link), summary and read label."""
    subject = digest_subject(locale, len(entries))
    items_html = "".join(
        f'<li lang="{html.escape(e.locale)}"><a href="{html.escape(e.link)}">'
        f"{html.escape(e.title)}</a>"
        + (f"<br>{html.escape(e.summary)}" if e.summary else "")
        + "</li>\n"
        for e in entries
    )
    page = (
        f'<!DOCTYPE html>\n<html lang="{html.escape(locale)}"><head><meta charset="utf-8">'
        f"<title>{html.escape(subject)}</title></head>\n<body>\n"
        f"<h1>{html.escape(subject)}</h1>\n<ul>\n{items_html}</ul>\n</body></html>\n"
    )
    text = "\n\n".join(
        "\n".join(
            part for part in (f"* {e.title}", e.summary, f"  {label(e.locale)}: {e.link}") if part
        )
        for e in entries
    )
    return Template(
        locale=locale, subject=_header(subject), text=f"{subject}\n\n{text}\n", html=page
    )
