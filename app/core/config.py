"""Settings, read once from `BRANDCAST_*` environment variables."""

from functools import lru_cache
from typing import Annotated

from fastapi import Depends, Request
from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///./brandcast.db"

# The JWT algorithms this service can verify; `none` and everything else is refused.
HMAC_JWT_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
PUBLIC_KEY_JWT_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "ES256", "ES384", "ES512"})


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BRANDCAST_", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    database_pool_size: int = Field(default=10, ge=1, le=200)
    database_max_overflow: int = Field(default=10, ge=0, le=200)
    database_timeout_seconds: float = Field(default=5.0, gt=0)

    jwt_algorithms: str = "RS256"
    jwt_secret: str | None = None
    jwt_public_key: str | None = None
    jwt_jwks_url: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_employee_claim: str = "sub"
    jwt_roles_claim: str = "roles"
    jwt_leeway_seconds: int = Field(default=30, ge=0, le=300)
    # an employee deactivated by the HRIS is refused at most this long after (0: no cache)
    signin_cache_seconds: float = Field(default=5.0, ge=0, le=300)

    min_group_size: int = Field(default=5, ge=1)
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

    # Per credential (API token or employee) and per process; 0 turns limiting off.
    rate_limit_per_minute: int = Field(default=1200, ge=0)
    rate_limit_burst: int = Field(default=200, ge=1)
    # set: one rate limit per credential shared by every replica, counted in this Redis
    redis_url: str | None = None

    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_bulk_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    scheduler_interval_seconds: float = Field(default=15.0, gt=0)
    run_scheduler: bool = True
    log_level: str = "INFO"

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
        if HMAC_JWT_ALGORITHMS & set(algorithms) and (self.jwt_public_key or self.jwt_jwks_url):
            raise ValueError(
                "BRANDCAST_JWT_ALGORITHMS allows an HMAC algorithm (HS*) while a public key "
                "source is configured; allow either HS* with BRANDCAST_JWT_SECRET or "
                "RS*/ES* with a public key or JWKS"
            )
        if self.jwt_jwks_url and not self.jwt_jwks_url.startswith(("https://", "file://")):
            raise ValueError("BRANDCAST_JWT_JWKS_URL must be an https:// or file:// URL")
        return self

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


@lru_cache
def get_settings() -> Settings:
    return Settings()


def _app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


# The running app's settings, for routers that hand a setting to a service.
AppSettings = Annotated[Settings, Depends(_app_settings)]
