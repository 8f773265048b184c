"""A Brandcast webhook receiver in Python, verified with the stock Standard Webhooks library.

Run: `pip install standardwebhooks fastapi uvicorn`, then
`BRANDCAST_WEBHOOK_SECRET=whsec_… uvicorn webhook_receiver:app --port 3000`.
"""

import os

from fastapi import FastAPI, HTTPException, Request, Response
from standardwebhooks import Webhook, WebhookVerificationError

app = FastAPI()
webhook = Webhook(os.environ["BRANDCAST_WEBHOOK_SECRET"])
seen: set[str] = set()  # at least once: the same event may come again (keep ids a few days)


@app.post("/hooks/brandcast", status_code=204)
async def receive(request: Request) -> Response:
    try:
        # the raw body, before any JSON parsing; webhook-id, -timestamp, -signature
        event = webhook.verify(await request.body(), request.headers)
    except WebhookVerificationError:
        raise HTTPException(401) from None  # not from Brandcast, or older than 5 minutes
    if request.headers["webhook-id"] not in seen:
        seen.add(request.headers["webhook-id"])
        print(event["type"], event["data"])  # handle it (slow work after answering)
    return Response(status_code=204)
