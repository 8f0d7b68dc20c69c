"""`{{name}}`: a wasmux adapter written in Python, serving a session's
assistant messages as plain text lines
(`GET /sessions/NAME/events?format={{name}}`) and taking `{"text": "..."}`
bodies as messages. The per-stream encoder is the `Encoder` class in
`event_adapter.py`.

Build: `wasmux plugin build` (componentize-py, installed privately).
"""

import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.event_adapter import Inbound
from wit_world.imports.types import ErrorKind_InvalidInput, HttpRequest, PluginError


class EventAdapter(exports.EventAdapter):
    """Request decoding."""

    def decode_request(self, req: HttpRequest) -> Inbound:
        try:
            body = json.loads(req.body)
        except ValueError as e:
            raise Err(PluginError(ErrorKind_InvalidInput(), "body is not JSON: %s" % e))
        text = body.get("text") if isinstance(body, dict) else None
        if not isinstance(text, str) or not text.strip():
            raise Err(PluginError(ErrorKind_InvalidInput(), "`text` (a non-empty string) is required"))
        return Inbound(text, "{}")
