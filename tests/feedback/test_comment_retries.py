"""An employee's comment sent twice with one Idempotency-Key (a flaky network's retry)."""

from sqlalchemy import func, select

from app.feedback.models import Comment


async def test_an_employee_retrying_a_comment_posts_it_once(people, as_employee, published, db):
    await people("E-1")
    message_id = await published()
    me = as_employee("E-1")
    url = f"/v1/me/messages/{message_id}/comments"
    headers = {"Idempotency-Key": "comment-from-a-flaky-train"}
    first = await me.post(url, json={"body": "Great news"}, headers=headers)
    again = await me.post(url, json={"body": "Great news"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    async with db() as s:
        assert (await s.execute(select(func.count()).select_from(Comment))).scalar() == 1
