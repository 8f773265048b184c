"""The guard rails of a share, written once: each network's length limit, how the signature is
appended, blocked words, what a public share URL may be, and where a short link leads.

Pure functions: the service reads the settings and rows, these decide.
"""

import re
import unicodedata
import uuid
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from app.advocacy.models import Network

# Characters a post may have on each network, the signature included. X counts every link as
# 23 characters (t.co) and the link is part of the post there, so the link's room is kept.
LENGTH_LIMITS: dict[Network, int] = {
    Network.LINKEDIN: 3000,
    Network.X: 280,
    Network.FACEBOOK: 63206,
    Network.XING: 3000,
    Network.GENERIC: 3000,
}
LINK_IN_TEXT: dict[Network, int] = {Network.X: 23 + 1}  # the t.co link and a space
MAX_SIGNATURE = 200
MAX_SHARE_URL = 2000
MAX_BLOCKED_WORD = 100
UTM_MEDIUM = "employee_advocacy"
_UTM = ("utm_source", "utm_medium", "utm_campaign")
# codes are `secrets.token_urlsafe`: this alphabet, never anything else (CR, LF, `/`, `%`)
CODE = re.compile(r"[A-Za-z0-9_-]{6,32}")


def with_signature(text: str, signature: str | None) -> str:
    """The text as posted: the signature appended on its own line, unless already at the end."""
    text = text.strip()
    if not signature or text.endswith(signature):
        return text
    return f"{text}\n\n{signature}"


def length_of(network: Network, final_text: str) -> int:
    """What the network counts of a post: its text (code points) and, where the link is part of
    the text, the link's fixed length."""
    return len(final_text) + LINK_IN_TEXT.get(network, 0)


def length_problem(network: Network, final_text: str) -> str | None:
    """Why the text does not fit the network, or None."""
    limit, length = LENGTH_LIMITS[network], length_of(network, final_text)
    if length <= limit:
        return None
    link = " and its link" if network in LINK_IN_TEXT else ""
    return (
        f"is {length} characters with the signature{link}; {network.value} allows {limit} "
        f"(shorten it by {length - limit})"
    )


def _folded(text: str) -> str:
    # compatibility forms (full-width letters, ligatures) and case do not hide a word
    return unicodedata.normalize("NFKC", text).casefold()


def normalize_word(word: str) -> str:
    return " ".join(_folded(word).split())


def blocked_word_in(text: str, words: Iterable[str]) -> str | None:
    """The first blocked word or phrase `text` holds as a whole word (case-insensitive), or None."""
    folded = " ".join(_folded(text).split())
    for word in sorted(set(words)):
        if word and re.search(rf"(?<!\w){re.escape(word)}(?!\w)", folded):
            return word
    return None


def words_from_setting(value: str | None) -> list[str]:
    """`BRANDCAST_SHARE_BLOCKED_WORDS`: comma-separated words or phrases."""
    if not value:
        return []
    return [w for w in (normalize_word(part) for part in value.split(",")) if w]


def check_share_url(value: str) -> str:
    """An absolute `https://` URL to a host, with no credentials and no whitespace or control
    characters (which could split a `Location` header)."""
    if len(value) > MAX_SHARE_URL:
        raise ValueError(f"must be at most {MAX_SHARE_URL} characters")
    if any(ch.isspace() or unicodedata.category(ch) == "Cc" for ch in value):
        raise ValueError("must not contain spaces or control characters")
    try:
        parts = urlsplit(value)
        host = parts.hostname
        parts.port  # noqa: B018  (raises on a bad port)
    except ValueError:
        raise ValueError("is not a valid URL") from None
    if parts.scheme.lower() != "https":
        raise ValueError("must be an https:// URL")
    if not host or parts.netloc.startswith("@") or "\\" in value:
        raise ValueError("must name a host, e.g. https://www.example.com/campaign")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not carry a user name or password")
    return value


def redirect_target(share_url: str, *, network: str, message_id: uuid.UUID) -> str:
    """`share_url` with the campaign parameters set (any earlier `utm_*` of the same names
    replaced, other parameters and the fragment kept)."""
    parts = urlsplit(share_url)
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in _UTM]
    query = urlencode(
        [
            *kept,
            ("utm_source", network),
            ("utm_medium", UTM_MEDIUM),
            ("utm_campaign", str(message_id)),
        ]
    )
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", query, parts.fragment))


# Link-preview fetchers and crawlers: they open a link to draw its card, nobody clicked it.
_BOTS = re.compile(
    r"bot\b|bot/|crawler|spider|preview|facebookexternalhit|facebot|linkedinbot|twitterbot|"
    r"xing-contenttabreceiver|slackbot|slack-imgproxy|discordbot|telegrambot|whatsapp|"
    r"skypeuripreview|embedly|pinterest|redditbot|applebot|googlebot|bingbot|yandex|"
    r"vkshare|quora link preview|outbrain|iframely|mastodon|headlesschrome|curl/|wget/|"
    r"python-requests|python-httpx|go-http-client|okhttp|java/",
    re.IGNORECASE,
)


def is_preview_bot(user_agent: str | None) -> bool:
    """A request that is not a person's click: no browser string, or a known fetcher's."""
    return not user_agent or bool(_BOTS.search(user_agent))
