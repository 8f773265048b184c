"""Erasing an employee (`DELETE /v1/employees/{external_id}?erase=true`) takes the authorship
of their comments away, everywhere, and leaves every feedback figure as it was."""

import uuid

from sqlalchemy import select

from app.core.principal import Scope
from app.feedback.models import Comment, PulseAnswer, Reaction

PULSE = "How confident are you?"


async def test_erasure_removes_comment_authorship_and_keeps_the_figures(
    people, as_employee, published, client_for, db
):
    sales = await people("E-1", "E-2", "E-3", "E-4", "E-5", department="Sales", country="MX")
    await people("E-6", "E-7", department="Support", country="ES")
    ana = sales[0]
    message_id = await published(pulse_question=PULSE)
    url = f"/v1/me/messages/{message_id}"
    for i, kind in enumerate(["love", "love", "like", "insightful", "love", "concerned", "like"]):
        me = as_employee(f"E-{i + 1}")
        assert (await me.put(f"{url}/reaction", json={"reaction": kind})).status_code == 200
        assert (await me.put(f"{url}/pulse", json={"score": 1 + i % 5})).status_code == 200
    ana_client = as_employee("E-1")
    for body in ({"body": "Proud of this"}, {"kind": "question", "body": "When does it start?"}):
        assert (await ana_client.post(f"{url}/comments", json=body)).status_code == 201
    r = await as_employee("E-2").post(f"{url}/comments", json={"body": "Me too"})
    assert r.status_code == 201

    reader = await client_for(Scope.RECEIPTS_READ, Scope.MESSAGES_WRITE)
    figures = f"/v1/messages/{message_id}/feedback"
    groupings = (None, "department", "country")

    async def all_figures() -> list[dict]:
        out = []
        for group_by in groupings:
            r = await reader.get(figures, params={"group_by": group_by} if group_by else {})
            assert r.status_code == 200, r.text
            out.append(r.json())
        return out

    before = await all_figures()
    assert before[0]["pulse"]["responses"] == 7 and before[0]["comments"] == 2
    feed_before = (await as_employee("E-2").get(url)).json()["reactions"]
    moderated = (await reader.get(f"/v1/messages/{message_id}/comments")).json()["items"]
    assert sorted(c["author"]["external_id"] for c in moderated) == ["E-1", "E-1", "E-2"]

    writer = await client_for(Scope.EMPLOYEES_WRITE)
    r = await writer.delete("/v1/employees/E-1", params={"erase": "true"})
    assert r.status_code == 204, r.text

    # the moderators' view: the comments stay, without an author
    r = await reader.get(f"/v1/messages/{message_id}/comments")
    assert r.status_code == 200
    by_body = {c["body"]: c["author"] for c in r.json()["items"]}
    assert by_body == {
        "Proud of this": None,
        "When does it start?": None,
        "Me too": {"external_id": "E-2", "display_name": "Person E-2"},
    }
    assert "Person E-1" not in r.text
    # the employees' view too
    r = await as_employee("E-2").get(f"{url}/comments")
    assert {c["body"]: c["author"] for c in r.json()["items"]} == {
        "Proud of this": None,
        "When does it start?": None,
        "Me too": {"display_name": "Person E-2"},
    }

    # the database keeps no link from a comment to the erased employee
    async with db() as s:
        comments = (await s.execute(select(Comment.body, Comment.author_id))).all()
        assert dict(comments) == {
            "Proud of this": None,
            "When does it start?": None,
            "Me too": sales[1],
        }
        # their reaction and pulse answer still count, with the anonymized row
        assert (await s.execute(select(Reaction.reaction).where(Reaction.employee_id == ana))).one()
        assert (
            await s.execute(select(PulseAnswer.score).where(PulseAnswer.employee_id == ana))
        ).one()

    # every figure as before, overall and by unit; the feed's counts too
    assert await all_figures() == before
    assert (await as_employee("E-2").get(url)).json()["reactions"] == feed_before


async def test_erasing_someone_without_comments_changes_no_comment(
    people, as_employee, published, client_for, db
):
    await people("E-1", "E-2")
    message_id = await published()
    r = await as_employee("E-2").post(f"/v1/me/messages/{message_id}/comments", json={"body": "Hi"})
    assert r.status_code == 201
    writer = await client_for(Scope.EMPLOYEES_WRITE)
    assert (await writer.delete("/v1/employees/E-1", params={"erase": "true"})).status_code == 204
    async with db() as s:
        [author] = (await s.execute(select(Comment.author_id))).scalars().all()
    assert isinstance(author, uuid.UUID)
