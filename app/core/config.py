"""Settings, read once from `BRANDCAST_*` environment variables."""

from functools import lru_cache

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///./brandcast.db"


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

    min_group_size: int = Field(default=5, ge=1)
    webhook_allowed_hosts: str | None = None

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

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()
