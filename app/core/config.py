"""Settings, read once from `BRANDCAST_*` environment variables."""

import ipaddress
import json
import ssl
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Literal
from urllib.parse import parse_qsl, unquote, urlsplit

from fastapi import Depends, Request
from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from pydantic_settings import SettingsError as EnvironmentParseError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from app.core.timezones import minutes_of_day, valid_time_zone

DEFAULT_DATABASE_URL = "sqlite:///./brandcast.db"
_DATABASE_BACKENDS = frozenset({"sqlite", "postgresql", "postgres"})

# The JWT algorithms this service can verify; `none` and everything else is refused.
HMAC_JWT_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
PUBLIC_KEY_JWT_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "ES256", "ES384", "ES512"})
# The employee columns an SSO claim can be matched against (each unique, so indexed).
EmployeeField = Literal["external_id", "email", "user_name"]
DISCOVERY_PATH = "/.well-known/openid-configuration"
_LOOPBACK_NAMES = frozenset({"localhost"})


class SettingsError(ValueError):
    """A setting that cannot be used, said in one line that names its variable."""


def is_loopback_host(host: str | None) -> bool:
    """127.0.0.0/8, ::1 or `localhost`: where plain `http://` cannot leave the machine."""
    if not host:
        return False
    if host.lower().rstrip(".") in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_fetch_url(variable: str, url: str, *, allow_file: bool = False) -> None:
    """`https://`, or `http://` on a loopback host (or `file://` where allowed); else ValueError."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "https" and parts.hostname:
        return
    if scheme == "http" and is_loopback_host(parts.hostname):
        return
    if scheme == "file" and allow_file:
        return
    allowed = "an https:// or file:// URL" if allow_file else "an https:// URL"
    raise ValueError(
        f"{variable} must be {allowed} (http:// only for a loopback host: 127.0.0.0/8, ::1, "
        f"localhost), not {url!r}"
    )


def parse_audiences(value: str) -> tuple[str, ...]:
    """`a`, `a,b` or a JSON list `["a", "b"]` as the audiences a token may name."""
    text = value.strip()
    if text.startswith("["):
        try:
            items = json.loads(text)
        except ValueError:
            raise ValueError("BRANDCAST_JWT_AUDIENCE is not a valid JSON list") from None
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise ValueError("BRANDCAST_JWT_AUDIENCE must be a JSON list of strings")
    else:
        items = text.split(",")
    audiences = tuple(dict.fromkeys(i.strip() for i in items if i.strip()))
    if not audiences:
        raise ValueError("BRANDCAST_JWT_AUDIENCE names no audience")
    return audiences


@dataclass(frozen=True)
class SMTPServer:
    """Where e-mails go: `smtp://user:pass@host:587?starttls=true` or `smtps://…` (TLS)."""

    host: str
    port: int
    username: str | None
    password: str | None
    use_tls: bool  # smtps: TLS from the first byte
    start_tls: bool | None  # smtp: True requires STARTTLS, False never, None if offered


_BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def parse_smtp_url(url: str) -> SMTPServer:
    """`BRANDCAST_SMTP_URL` checked and split; ValueError naming the variable otherwise."""
    problem = "must look like smtp://user:password@host:587?starttls=true or smtps://host:465"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValueError(f"BRANDCAST_SMTP_URL {problem}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("smtp", "smtps") or not parts.hostname or parts.path not in ("", "/"):
        raise ValueError(f"BRANDCAST_SMTP_URL {problem}")
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    unknown = set(query) - {"starttls"}
    if unknown:
        raise ValueError(f"BRANDCAST_SMTP_URL: unknown option {sorted(unknown)[0]!r}; {problem}")
    start_tls: bool | None = None
    if "starttls" in query:
        if query["starttls"].lower() not in _BOOLEANS:
            raise ValueError("BRANDCAST_SMTP_URL: starttls must be true or false")
        if scheme == "smtps":
            raise ValueError(
                "BRANDCAST_SMTP_URL: starttls does not apply to smtps:// (TLS already)"
            )
        start_tls = _BOOLEANS[query["starttls"].lower()]
    return SMTPServer(
        host=parts.hostname,
        port=port or (465 if scheme == "smtps" else 587),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        use_tls=scheme == "smtps",
        start_tls=start_tls,
    )


def _check_http_url(variable: str, url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{variable} must be an absolute http:// or https:// URL, not {url!r}")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BRANDCAST_", extra="ignore")

    # repr=False: a settings object in a traceback or a log line shows no password or secret
    database_url: str = Field(default=DEFAULT_DATABASE_URL, repr=False)
    database_pool_size: int = Field(default=10, ge=1, le=200)
    database_max_overflow: int = Field(default=10, ge=0, le=200)
    database_timeout_seconds: float = Field(default=5.0, gt=0)

    # RS* and ES* cannot be confused with each other: a key verifies only its own kind
    jwt_algorithms: str = "RS256,ES256"
    jwt_secret: str | None = Field(default=None, repr=False)
    jwt_public_key: str | None = None
    jwt_jwks_url: str | None = None
    # alone (no key, no JWKS URL): the JWKS is found through the issuer's discovery document
    jwt_issuer: str | None = None
    # one audience, `a,b`, or a JSON list: a token naming any of them is accepted
    jwt_audience: str | None = None
    # PEM file of CA certificates trusted for discovery and JWKS, besides the usual ones
    jwt_ca_bundle: str | None = None
    # an unknown `kid` refetches the JWKS at most once per this many seconds
    jwt_jwks_refetch_seconds: float = Field(default=5.0, ge=0.5, le=300)
    jwt_employee_claim: str = "sub"
    # the employee column the claim is matched against; unset: `email` for the `email` claim,
    # else `external_id`
    jwt_employee_field: EmployeeField | None = None
    jwt_roles_claim: str = "roles"
    jwt_leeway_seconds: int = Field(default=30, ge=0, le=300)
    # an employee deactivated by the HRIS is refused at most this long after (0: no cache)
    signin_cache_seconds: float = Field(default=5.0, ge=0, le=300)

    min_group_size: int = Field(default=5, ge=1)
    # message categories an approver must sign off before publication (comma-separated)
    review_required: str = "policy,brand_promise"
    webhook_allowed_hosts: str | None = None
    webhook_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    webhook_max_concurrency: int = Field(default=10, ge=1, le=200)
    webhook_batch_size: int = Field(default=100, ge=1, le=1000)
    webhook_retry_base_seconds: float = Field(default=10.0, gt=0)
    webhook_retry_max_delay_seconds: float = Field(default=3600.0, gt=0)
    webhook_max_age_hours: float = Field(default=24.0, gt=0)
    webhook_disable_after_days: float = Field(default=3.0, gt=0)
    webhook_secret_overlap_hours: float = Field(default=24.0, ge=0)
    webhook_lease_seconds: float = Field(default=300.0, gt=0)
    webhook_event_retention_days: float = Field(default=30.0, gt=0)
    reminder_days_before_due: int = Field(default=2, ge=0, le=365)
    reminder_batch_interval_hours: float = Field(default=24.0, gt=0)
    manual_reminder_interval_minutes: float = Field(default=60.0, ge=0)

    # E-mail and chat delivery (app/receipts/channels). Unset SMTP URL: e-mails stay planned.
    smtp_url: str | None = None
    email_from: str | None = None
    # the service's own base URL, where tracked links (`/r/{token}`, `/s/{code}`) point
    public_url: str | None = None
    # where the intranet shows a message: a template with `{message_id}`
    intranet_message_url: str | None = None
    # signs tracked links; at least 32 bytes, the same in every replica
    link_secret: str | None = None
    link_ttl_days: int = Field(default=90, ge=1, le=3650)
    smtp_max_connections: int = Field(default=4, ge=1, le=100)
    smtp_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    delivery_batch_size: int = Field(default=500, ge=1, le=5000)
    delivery_lease_seconds: float = Field(default=300.0, gt=0)
    # the sender's results are written once this many have queued up, or this many ms after
    # the first of them, whichever comes first: the bound on what a crash could send twice
    delivery_record_every: int = Field(default=200, ge=1, le=5000)
    delivery_record_ms: float = Field(default=50.0, ge=0, le=10_000)
    delivery_retry_base_seconds: float = Field(default=60.0, gt=0)
    delivery_retry_max_delay_seconds: float = Field(default=3600.0, gt=0)
    delivery_retry_hours: float = Field(default=24.0, gt=0)
    # how long one sender pass may run before it hands the rest to the next pass
    delivery_pass_seconds: float = Field(default=60.0, gt=0)

    # Inbox rules (app/receipts/inbox.py, app/preferences): the weekly cap on `normal`
    # e-mails, the digest's local hour and weekday (1 = Monday), the company defaults of what
    # employees may change (`digest`, quiet hours as "HH:MM-HH:MM", a time zone for employees
    # whose directory record and country give none)
    email_max_per_week: int = Field(default=3, ge=0, le=1000)
    digest_hour: int = Field(default=9, ge=0, le=23)
    digest_weekday: int = Field(default=1, ge=1, le=7)
    default_digest: Literal["off", "daily", "weekly"] = "off"
    default_quiet_hours: str | None = None
    default_time_zone: str = "UTC"
    # Employee advocacy: comma-separated words or phrases no share may contain (besides those
    # set with `PUT /v1/advocacy/blocked-words`)
    share_blocked_words: str | None = None

    # Per credential (API token or employee) and per process; 0 turns limiting off.
    rate_limit_per_minute: int = Field(default=1200, ge=0)
    rate_limit_burst: int = Field(default=200, ge=1)
    # set: one rate limit per credential shared by every replica, counted in this Redis
    redis_url: str | None = Field(default=None, repr=False)

    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_bulk_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    scheduler_interval_seconds: float = Field(default=15.0, gt=0)
    run_scheduler: bool = True
    log_level: str = "INFO"
    # a full sync from the CLI asks before deactivating more than this share of the active
    # directory, and the API refuses it unless `allow_mass_deactivation` is set
    sync_max_deactivation_share: float = Field(default=0.10, ge=0, le=1)

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        # never echo the URL: it may hold the database password
        expected = "expected sqlite:///path/to/file.db or postgresql://user:password@host:5432/name"
        try:
            url = make_url(value)
            port = url.port
        except (ArgumentError, ValueError):
            raise ValueError(f"not a database URL; {expected}") from None
        if url.get_backend_name() not in _DATABASE_BACKENDS:
            raise ValueError(f"{url.get_backend_name()!r} is not supported; {expected}")
        if port is not None and not 0 < port < 65536:
            raise ValueError(f"the port must be between 1 and 65535; {expected}")
        return value

    @model_validator(mode="after")
    def _refuse_unsafe(self) -> "Settings":
        if self.jwt_secret is not None and len(self.jwt_secret.encode()) < 32:
            raise ValueError("BRANDCAST_JWT_SECRET must be at least 32 bytes long")
        return self

    @model_validator(mode="after")
    def _check_jwt(self) -> "Settings":
        algorithms = self.jwt_algorithm_list  # raises on `none` and unknown names
        if self.jwt_public_key and self.jwt_jwks_url:
            raise ValueError(
                "set one of BRANDCAST_JWT_PUBLIC_KEY and BRANDCAST_JWT_JWKS_URL, not both"
            )
        # Accepting HMAC next to a public key is what algorithm-confusion attacks need; a
        # deployment uses one kind of key, so refuse the mix instead of guessing.
        if HMAC_JWT_ALGORITHMS & set(algorithms) and (
            self.jwt_public_key or self.jwt_jwks_url or self.jwt_discovery_url
        ):
            raise ValueError(
                "BRANDCAST_JWT_ALGORITHMS allows an HMAC algorithm (HS*) while a public key "
                "source is configured; allow either HS* with BRANDCAST_JWT_SECRET or "
                "RS*/ES* with a public key, a JWKS or the issuer's discovery"
            )
        if self.jwt_jwks_url:
            check_fetch_url("BRANDCAST_JWT_JWKS_URL", self.jwt_jwks_url, allow_file=True)
        if self.jwt_discovery_url and self.jwt_issuer:
            check_fetch_url("BRANDCAST_JWT_ISSUER", self.jwt_issuer)
        if self.jwt_audience is not None:
            parse_audiences(self.jwt_audience)
        if self.jwt_ca_bundle:
            try:
                ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(
                    cafile=self.jwt_ca_bundle
                )
            except (OSError, ssl.SSLError) as exc:
                raise ValueError(
                    f"BRANDCAST_JWT_CA_BUNDLE: cannot load CA certificates from "
                    f"{self.jwt_ca_bundle!r} ({exc.strerror or exc})"
                ) from None
        if not self.jwt_employee_claim.strip():
            raise ValueError("BRANDCAST_JWT_EMPLOYEE_CLAIM must name a claim")
        return self

    @model_validator(mode="after")
    def _check_inbox_rules(self) -> "Settings":
        if not valid_time_zone(self.default_time_zone):
            raise ValueError("BRANDCAST_DEFAULT_TIME_ZONE must be an IANA time zone")
        if self.default_quiet_hours is not None:
            start, _, end = self.default_quiet_hours.partition("-")
            if minutes_of_day(start) is None or minutes_of_day(end) is None or start == end:
                raise ValueError(
                    'BRANDCAST_DEFAULT_QUIET_HOURS must read "HH:MM-HH:MM", e.g. "20:00-08:00"'
                )
        return self

    @property
    def quiet_hours_minutes(self) -> tuple[int, int] | None:
        """The default quiet hours as minutes after local midnight (start, end), or None."""
        if self.default_quiet_hours is None:
            return None
        start, _, end = self.default_quiet_hours.partition("-")
        first, last = minutes_of_day(start), minutes_of_day(end)
        assert first is not None and last is not None
        return first, last

    @model_validator(mode="after")
    def _check_delivery(self) -> "Settings":
        if self.smtp_url is not None:
            parse_smtp_url(self.smtp_url)
            if not self.email_from or "@" not in self.email_from:
                raise ValueError(
                    "BRANDCAST_EMAIL_FROM must be an e-mail address when BRANDCAST_SMTP_URL is set"
                )
            for name in ("public_url", "intranet_message_url", "link_secret"):
                if not getattr(self, name):
                    raise ValueError(
                        f"BRANDCAST_{name.upper()} must be set when BRANDCAST_SMTP_URL is set"
                    )
        if self.public_url is not None:
            _check_http_url("BRANDCAST_PUBLIC_URL", self.public_url)
        if self.intranet_message_url is not None:
            if "{message_id}" not in self.intranet_message_url:
                raise ValueError("BRANDCAST_INTRANET_MESSAGE_URL must contain {message_id}")
            _check_http_url(
                "BRANDCAST_INTRANET_MESSAGE_URL",
                self.intranet_message_url.replace("{message_id}", "x"),
            )
        if self.link_secret is not None and len(self.link_secret.encode()) < 32:
            raise ValueError("BRANDCAST_LINK_SECRET must be at least 32 bytes long")
        return self

    @property
    def smtp(self) -> "SMTPServer | None":
        """The parsed `BRANDCAST_SMTP_URL` (None: e-mail delivery is off)."""
        return parse_smtp_url(self.smtp_url) if self.smtp_url else None

    @property
    def jwt_audience_list(self) -> tuple[str, ...]:
        """The audiences a token may name (empty: `aud` is not checked)."""
        return parse_audiences(self.jwt_audience) if self.jwt_audience is not None else ()

    @property
    def jwt_discovery_url(self) -> str | None:
        """The issuer's OpenID Connect discovery document, when it is where the keys come from:
        an issuer is set, public-key algorithms are allowed, and no key or JWKS URL is given."""
        if not self.jwt_issuer or self.jwt_public_key or self.jwt_jwks_url:
            return None
        if not PUBLIC_KEY_JWT_ALGORITHMS & set(self.jwt_algorithm_list):
            return None
        return self.jwt_issuer.rstrip("/") + DISCOVERY_PATH

    @property
    def jwt_employee_lookup(self) -> EmployeeField:
        """The employee column `jwt_employee_claim` is matched against."""
        if self.jwt_employee_field is not None:
            return self.jwt_employee_field
        return "email" if self.jwt_employee_claim == "email" else "external_id"

    @property
    def jwt_algorithm_list(self) -> tuple[str, ...]:
        """The JWT algorithm allow-list, normalized and checked."""
        names = tuple(a.strip().upper() for a in self.jwt_algorithms.split(",") if a.strip())
        if not names:
            raise ValueError("BRANDCAST_JWT_ALGORITHMS must name at least one algorithm")
        supported = HMAC_JWT_ALGORITHMS | PUBLIC_KEY_JWT_ALGORITHMS
        for name in names:
            if name not in supported:
                raise ValueError(
                    f"BRANDCAST_JWT_ALGORITHMS: {name!r} is not allowed; "
                    f"choose from {', '.join(sorted(supported))}"
                )
        return names

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def describe_settings_error(exc: ValidationError) -> str:
    """pydantic's report as one line, each problem led by the variable it is about."""
    problems = []
    for error in exc.errors(include_url=False):
        message = str(error["msg"]).removeprefix("Value error, ")
        loc = error.get("loc") or ()
        if loc:
            message = f"BRANDCAST_{str(loc[0]).upper()}: {message}"
        problems.append(message)
    return "; ".join(dict.fromkeys(problems)).replace("\n", " ")


def load_settings(**values: object) -> Settings:
    """Settings from the environment (and `values`); `SettingsError` in one line if unusable."""
    try:
        return Settings(**values)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise SettingsError(describe_settings_error(exc)) from None
    except EnvironmentParseError as exc:
        raise SettingsError(str(exc).replace("\n", " ")) from None


def review_categories(settings: Settings) -> frozenset[str]:
    """`BRANDCAST_REVIEW_REQUIRED` as a set of category names."""
    return frozenset(c.strip() for c in settings.review_required.split(",") if c.strip())


@lru_cache
def get_settings() -> Settings:
    return load_settings()


def _app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


# The running app's settings, for routers that hand a setting to a service.
AppSettings = Annotated[Settings, Depends(_app_settings)]
