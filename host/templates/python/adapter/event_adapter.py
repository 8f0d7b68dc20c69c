"""The `encoder` resource of `{{name}}` (module named after the interface,
class named after the resource)."""

from typing import List, Optional, Tuple

from wit_world.exports import event_adapter
from wit_world.exports.event_adapter import (
    Chunk,
    StreamEvent,
    StreamItem_Agent,
    StreamItem_MessageDone,
    StreamItem_MessageFailed,
)
from wit_world.imports.types import AgentEvent_Message


class Encoder(event_adapter.Encoder):
    """Encoding state for one response stream."""

    def __init__(self, session: str, message_id: Optional[str]) -> None:
        self.message_id = message_id

    def headers(self) -> List[Tuple[str, str]]:
        return [("content-type", "text/plain; charset=utf-8")]

    def begin(self) -> bytes:
        return b""

    def encode(self, event: StreamEvent) -> Chunk:
        item = event.item
        if isinstance(item, StreamItem_Agent) and isinstance(item.value, AgentEvent_Message):
            return Chunk((item.value.value + "\n").encode(), False)
        if isinstance(item, (StreamItem_MessageDone, StreamItem_MessageFailed)):
            return Chunk(b"", item.value.id == self.message_id)
        return Chunk(b"", False)

    def finish(self, error: Optional[str]) -> bytes:
        return ("error: %s\n" % error).encode() if error else b""
