"""/docs and /redoc are served whole by the service (tests/docs renders them in Chromium)."""

import re

import pytest

PAGES = ["/docs", "/redoc"]


@pytest.mark.parametrize("path", PAGES)
async def test_docs_page_loads_its_assets_from_the_service(anon, path):
    page = await anon.get(path)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    # the browser may load nothing from another origin
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "img-src 'self' data:" in policy
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets, "the page references no script or style"
    for asset in assets:
        assert asset.startswith("/static-offline-docs/"), f"{asset} is not served by the service"
        served = await anon.get(asset)
        assert served.status_code == 200, asset
        assert len(served.content) > 0
    assert "'/openapi.json'" in page.text or '"/openapi.json"' in page.text


async def test_swagger_ui_validator_badge_is_off(anon):
    # the badge would be an image from validator.swagger.io on any host but localhost
    page = await anon.get("/docs")
    assert '"validatorUrl": null' in page.text


async def test_an_unknown_docs_asset_is_a_problem_not_a_traceback(anon):
    response = await anon.get("/static-offline-docs/nothing-here.js")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 404


async def test_other_pages_carry_no_docs_policy(anon):
    response = await anon.get("/healthz")
    assert response.status_code == 200
    assert "content-security-policy" not in response.headers
