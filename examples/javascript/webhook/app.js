// `hmac-js`: a wasmux webhook, written in JavaScript, for senders that sign
// the raw body with HMAC-SHA256 in `X-Signature: sha256=<hex>`.
//
// The signature is checked by the host (`crypto.verify-hmac`) against the
// secret the operator configured under the name `signing`; the secret's
// bytes never enter this plugin. A verified JSON body
// `{"text": "...", "session"?: "..."}` is queued into the session (default:
// config `default_session`); `Idempotency-Key` dedupes redeliveries.
//
// Built with componentize-js against the `webhook` world:
// `wasmux plugin build examples/javascript/webhook`.

import { log } from "wasmux:plugin/log@0.1.1";
import { get as configGet } from "wasmux:plugin/config@0.1.1";
import { hasSecret, verifyHmac } from "wasmux:plugin/crypto@0.1.1";

const SECRET = "signing";

/** A plugin error: componentize-js turns a thrown value into the `err` case. */
function refuse(kind, message) {
  return { kind: { tag: kind }, message };
}

function header(req, name) {
  const found = req.headers.find(([k]) => k.toLowerCase() === name);
  return found ? found[1] : undefined;
}

function hexToBytes(hex) {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) return undefined;
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Throw `unauthorized` unless `X-Signature` is HMAC-SHA256 of the body. */
function verify(req) {
  if (!hasSecret(SECRET)) {
    log("warn", "no secret configured; refusing", [["secret", SECRET]]);
    throw refuse("unauthorized", "this webhook has no secret configured");
  }
  const presented = header(req, "x-signature") ?? "";
  if (!presented.startsWith("sha256=")) throw refuse("unauthorized", "missing X-Signature: sha256=<hex>");
  const digest = hexToBytes(presented.slice("sha256=".length));
  if (!digest) throw refuse("unauthorized", "X-Signature is not hex");
  if (!verifyHmac(SECRET, { tag: "sha256" }, req.body, digest)) throw refuse("unauthorized", "signature mismatch");
}

export const webhookHandler = {
  /** Verify, parse, enqueue. */
  handle(req) {
    if (req.method !== "POST") throw refuse("invalid-input", "use POST");
    verify(req);
    let body;
    try {
      body = JSON.parse(new TextDecoder().decode(req.body));
    } catch (e) {
      throw refuse("invalid-input", `body is not JSON: ${e.message}`);
    }
    const text = body && typeof body === "object" ? body.text : undefined;
    if (typeof text !== "string" || !text.trim()) throw refuse("invalid-input", "`text` (a non-empty string) is required");
    const session = body.session ?? configGet("default_session") ?? "webhook";
    if (typeof session !== "string") throw refuse("invalid-input", "`session` must be a string");
    const enqueue = {
      session,
      text,
      createWithProvider: undefined,
      metadata: JSON.stringify({ via: "hmac-js" }),
      idempotencyKey: header(req, "idempotency-key"),
    };
    return {
      response: {
        status: 202,
        headers: [["content-type", "application/json"]],
        body: new TextEncoder().encode(JSON.stringify({ queued: true, session })),
      },
      actions: [{ tag: "enqueue", val: enqueue }],
    };
  },
};
