"""Rate limiting per credential: token buckets, 429 problem+json with Retry-After."""

import httpx
import pytest
from asgi_lifespan import LifespanManager

from app.auth.ratelimit import RateLimiter, retry_after_header
from app.core.config import Settings
from app.core.principal import Principal, Scope
from app.main import create_app
from app.tokens.schemas import TokenCreate
from app.tokens.service import mint
from tests.conftest import TEST_JWT_SECRET
from tests.hardening.conftest import employee_jwt


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# -- the bucket --------------------------------------------------------------------------------


def test_burst_then_the_sustained_rate():
    clock = Clock()
    limiter = RateLimiter(per_minute=60, burst=3, clock=clock)
    assert [limiter.hit("a") for _ in range(3)] == [None, None, None]
    wait = limiter.hit("a")
    assert wait == pytest.approx(1.0)
    clock.now += 0.5
    assert limiter.hit("a") == pytest.approx(0.5)  # a refused call takes nothing
    clock.now += 0.5
    assert limiter.hit("a") is None
    assert limiter.hit("a") is not None
    clock.now += 60  # refills to the burst, never beyond
    assert [limiter.hit("a") for _ in range(4)][-1] is not None


def test_credentials_have_their_own_buckets():
    limiter = RateLimiter(per_minute=60, burst=1, clock=Clock())
    assert limiter.hit("token:1") is None
    assert limiter.hit("token:1") is not None
    assert limiter.hit("token:2") is None
    assert limiter.hit("employee:1") is None


def test_idle_buckets_are_dropped_and_memory_is_bounded():
    clock = Clock()
    limiter = RateLimiter(per_minute=60, burst=2, max_buckets=100, clock=clock)
    for i in range(50):
        limiter.hit(f"k{i}")
    assert len(limiter) == 50
    clock.now += 2.1  # a bucket refills in burst / rate = 2 s: idle ones are as good as new
    limiter.hit("fresh")
    assert len(limiter) == 1
    for i in range(1000):
        limiter.hit(f"flood{i}")
    assert len(limiter) == 100


def test_an_evicted_bucket_was_full_anyway():
    clock = Clock()
    limiter = RateLimiter(per_minute=60, burst=2, clock=clock)
    limiter.hit("a")
    limiter.hit("a")
    assert limiter.hit("a") is not None
    clock.now += 1.0
    limiter.hit("b")  # "a" has one token again: not idle, kept
    assert limiter.hit("a") is None
    assert limiter.hit("a") is not None


def test_retry_after_is_whole_seconds_at_least_one():
    assert retry_after_header(0.01) == "1"
    assert retry_after_header(1.0) == "1"
    assert retry_after_header(1.2) == "2"


def test_zero_turns_limiting_off_and_production_has_it_on():
    assert RateLimiter.from_settings(Settings(rate_limit_per_minute=0)) is None
    defaults = Settings()
    assert defaults.rate_limit_per_minute > 0 and defaults.rate_limit_burst > 0
    limiter = RateLimiter.from_settings(defaults)
    assert limiter is not None and limiter.burst == defaults.rate_limit_burst
    with pytest.raises(ValueError):
        Settings(rate_limit_per_minute=-1)


# -- over HTTP ---------------------------------------------------------------------------------


@pytest.fixture
async def limited_app(database_url: str):
    settings = Settings(
        database_url=database_url,
        run_scheduler=False,
        jwt_algorithms="HS256",
        jwt_secret=TEST_JWT_SECRET,
        rate_limit_per_minute=60,
        rate_limit_burst=3,
    )
    application = create_app(settings)
    async with LifespanManager(application):
        yield application


def _client(app, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
        base_url="http://test",
        headers={"Authorization": f"Bearer {token}"},
    )


async def _token(app, *scopes: Scope) -> str:
    async with app.state.db.session_scope() as session:
        created = await mint(
            session, Principal.system("tests"), data=TokenCreate(name="t", scopes=list(scopes))
        )
    return created.token


async def test_a_token_over_its_budget_gets_429_with_retry_after(limited_app):
    first, second = await _token(limited_app, Scope.ADMIN), await _token(limited_app, Scope.ADMIN)
    async with _client(limited_app, first) as a, _client(limited_app, second) as b:
        assert [(await a.get("/v1/messages")).status_code for _ in range(3)] == [200] * 3
        r = await a.get("/v1/messages")
        assert r.status_code == 429
        assert r.headers["content-type"] == "application/problem+json"
        assert r.headers["retry-after"] == "1"
        body = r.json()
        assert body["status"] == 429 and body["type"].endswith("rate-limited")
        # writes count too, and refused ones change nothing
        r = await a.post("/v1/messages", json={"category": "news", "title": "t"})
        assert r.status_code == 429
        assert (await b.get("/v1/messages")).json()["items"] == []
        # another credential has its own budget
        assert (await b.get("/v1/messages")).status_code == 200


async def test_employees_are_limited_per_employee_not_per_jwt(limited_app):
    admin = await _token(limited_app, Scope.ADMIN)
    async with _client(limited_app, admin) as c:
        for ext in ("E-1", "E-2"):
            r = await c.put(f"/v1/employees/{ext}", json={"email": f"{ext}@example.com"})
            assert r.status_code == 201, r.text
    one = _client(limited_app, employee_jwt("E-1"))
    again = _client(limited_app, employee_jwt("E-1", jti="another"))
    other = _client(limited_app, employee_jwt("E-2"))
    async with one, again, other:
        assert (await one.get("/v1/me")).status_code == 200
        assert (await again.get("/v1/me")).status_code == 200
        assert (await one.get("/v1/me/messages")).status_code == 200
        r = await again.get("/v1/me")
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        assert (await other.get("/v1/me")).status_code == 200


async def test_scim_clients_get_a_scim_429(limited_app):
    token = await _token(limited_app, Scope.EMPLOYEES_WRITE)
    async with _client(limited_app, token) as scim:
        for _ in range(3):
            assert (await scim.get("/scim/v2/Users")).status_code == 200
        r = await scim.get("/scim/v2/Users")
        assert r.status_code == 429
        assert r.headers["content-type"] == "application/scim+json"
        assert r.headers["retry-after"] == "1"
        assert r.json()["status"] == "429"


async def test_bad_credentials_are_refused_before_any_bucket(limited_app):
    async with _client(limited_app, "bc_nope1234_" + "x" * 20) as bad:
        for _ in range(5):
            assert (await bad.get("/v1/messages")).status_code == 401
    limiter = getattr(limited_app.state, "rate_limiter", None)
    assert limiter is None or len(limiter) == 0


async def test_off_in_the_test_settings(app, admin: httpx.AsyncClient):
    for _ in range(30):
        assert (await admin.get("/v1/messages", params={"limit": 1})).status_code == 200
    assert app.state.rate_limiter is None


# -- shared across replicas (Redis) -------------------------------------------------------------

REDIS_URL = "redis://127.0.0.1:6379/15"


async def _replica(database_url: str, **settings_overrides):
    settings = Settings(
        database_url=database_url,
        run_scheduler=False,
        jwt_algorithms="HS256",
        jwt_secret=TEST_JWT_SECRET,
        rate_limit_per_minute=4,
        **settings_overrides,
    )
    return create_app(settings)


async def test_replicas_share_one_limit_in_redis(database_url: str):
    import coredis  # the Redis client the `limits` library runs on

    flush = coredis.Redis.from_url(REDIS_URL)
    await flush.flushdb()  # a database of its own on the machine's Redis
    first = await _replica(database_url, redis_url=REDIS_URL)
    second = await _replica(database_url, redis_url=REDIS_URL)
    try:
        async with LifespanManager(first), LifespanManager(second):
            token = await _token(first, Scope.ADMIN)
            async with _client(first, token) as a, _client(second, token) as b:
                statuses = [
                    (await (a if i % 2 else b).get("/v1/messages")).status_code for i in range(6)
                ]
                # four per minute for this credential, whichever replica answers
                assert statuses == [200, 200, 200, 200, 429, 429]
                r = await a.get("/v1/messages")
                assert r.status_code == 429 and 1 <= int(r.headers["retry-after"]) <= 60
                # another credential has its own budget, also across replicas
                other = await _token(second, Scope.ADMIN)
                async with _client(first, other) as c:
                    assert (await c.get("/v1/messages")).status_code == 200
    finally:
        await flush.flushdb()


async def test_an_unreachable_redis_lets_requests_through(database_url: str, caplog):
    app = await _replica(database_url, redis_url="redis://127.0.0.1:1/0")
    async with LifespanManager(app):
        token = await _token(app, Scope.ADMIN)
        async with _client(app, token) as a:
            statuses = [(await a.get("/v1/messages")).status_code for _ in range(6)]
    assert statuses == [200] * 6
    assert "shared rate limiter is unavailable" in caplog.text
