"""`{{name}}`: a wasmux webhook, written in Python, for senders that sign
the raw body with HMAC-SHA256 in `X-Signature: sha256=<hex>`.

The signature is checked by the host (`crypto.verify-hmac`) against the
secret the operator configured under the name `signing`; the secret's
bytes never enter this plugin. A verified JSON body
`{"text": "...", "session"?: "..."}` is queued into the session (default:
config `default_session`); `Idempotency-Key` dedupes redeliveries.

Built with componentize-py against the `webhook` world:
`wasmux plugin build`.
"""

import json
from typing import Optional

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.webhook_handler import Action_Enqueue, Enqueue, Reply
from wit_world.imports import config, crypto, log
from wit_world.imports.types import (
    ErrorKind_InvalidInput,
    ErrorKind_Unauthorized,
    HttpRequest,
    HttpResponse,
    PluginError,
)

SECRET = "signing"


def _refuse(kind, message: str):
    return Err(PluginError(kind, message))


def _header(req: HttpRequest, name: str) -> Optional[str]:
    for key, value in req.headers:
        if key.lower() == name:
            return value
    return None


def _verify(req: HttpRequest) -> None:
    """Raise `unauthorized` unless `X-Signature` is HMAC-SHA256(body)."""
    if not crypto.has_secret(SECRET):
        log.log(log.Level.WARN, "no secret configured; refusing", [("secret", SECRET)])
        raise _refuse(ErrorKind_Unauthorized(), "this webhook has no secret configured")
    presented = _header(req, "x-signature") or ""
    if not presented.startswith("sha256="):
        raise _refuse(ErrorKind_Unauthorized(), "missing X-Signature: sha256=<hex>")
    try:
        digest = bytes.fromhex(presented[len("sha256="):])
    except ValueError:
        raise _refuse(ErrorKind_Unauthorized(), "X-Signature is not hex")
    if not crypto.verify_hmac(SECRET, crypto.HashAlgorithm_Sha256(), req.body, digest):
        raise _refuse(ErrorKind_Unauthorized(), "signature mismatch")


class WebhookHandler(exports.WebhookHandler):
    """Verify, parse, enqueue."""

    def handle(self, req: HttpRequest) -> Reply:
        if req.method != "POST":
            raise _refuse(ErrorKind_InvalidInput(), "use POST")
        _verify(req)
        try:
            body = json.loads(req.body)
        except ValueError as e:
            raise _refuse(ErrorKind_InvalidInput(), "body is not JSON: %s" % e)
        text = body.get("text") if isinstance(body, dict) else None
        if not isinstance(text, str) or not text.strip():
            raise _refuse(ErrorKind_InvalidInput(), "`text` (a non-empty string) is required")
        session = body.get("session") or config.get("default_session") or "webhook"
        if not isinstance(session, str):
            raise _refuse(ErrorKind_InvalidInput(), "`session` must be a string")
        action = Enqueue(session, text, None, json.dumps({"via": "{{name}}"}), _header(req, "idempotency-key"))
        answer = json.dumps({"queued": True, "session": session}).encode()
        response = HttpResponse(202, [("content-type", "application/json")], answer)
        return Reply(response, [Action_Enqueue(action)])
