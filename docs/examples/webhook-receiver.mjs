// A Brandcast webhook receiver in Node.js, verified with the stock Standard Webhooks library.
//   npm install standardwebhooks
//   BRANDCAST_WEBHOOK_SECRET=whsec_… PORT=3000 node webhook-receiver.mjs
import http from "node:http";
import { Webhook } from "standardwebhooks";

const webhook = new Webhook(process.env.BRANDCAST_WEBHOOK_SECRET);
const seen = new Set(); // at least once: the same event may come again (keep ids a few days)

http
  .createServer((req, res) => {
    const chunks = [];
    req.on("data", (chunk) => chunks.push(chunk));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8"); // the raw body, not re-serialised
      let event;
      try {
        event = webhook.verify(body, req.headers); // webhook-id, -timestamp, -signature
      } catch {
        res.writeHead(401).end(); // not from Brandcast, or older than 5 minutes
        return;
      }
      const id = req.headers["webhook-id"];
      if (!seen.has(id)) {
        seen.add(id);
        console.log(JSON.stringify({ id, type: event.type })); // handle it (after answering)
      }
      res.writeHead(204).end();
    });
  })
  .listen(Number(process.env.PORT ?? 3000), "127.0.0.1");
