"""The `session` resource of `{{name}}`. componentize-py finds an exported
resource in a module named after its interface (`agent_provider`), as a
class named after the resource (`Session`).

The agent prints `ESC ] 133;A BEL` before each prompt, so a turn is the
output between the prompt the message was typed at and the next mark: the
first line is the echo of the typed text, the rest is the answer.
"""

from typing import List, Optional

from componentize_py_types import Err
from wit_world.exports import agent_provider
from wit_world.exports.agent_provider import LaunchRequest, Update
from wit_world.imports import log, types
from wit_world.imports.types import (
    AgentEvent_Message,
    AgentEvent_TaskComplete,
    AgentEvent_TaskStarted,
    AgentState_Exited,
    AgentState_Idle,
    AgentState_Working,
    ErrorKind_InvalidInput,
    ErrorKind_Unsupported,
    InputAction_Keys,
    InputAction_Text,
    PluginError,
    StateChange,
    StateSource_Process,
    StateSource_Protocol,
    TaskComplete,
)

MARK = b"\x1b]133;A\x07"


def _state(state, source=None) -> StateChange:
    return StateChange(state, source or StateSource_Protocol(), None)


class Session(agent_provider.Session):
    """Parser state for one session."""

    def __init__(self, req: LaunchRequest) -> None:
        self.buf = b""
        self.pending = False
        self.started = False

    def feed_output(self, data: bytes) -> Update:
        events: List[types.AgentEvent] = []
        state: Optional[StateChange] = None
        self.buf += data
        if self.pending and not self.started and self.buf:
            self.started = True
            events.append(AgentEvent_TaskStarted())
            state = _state(AgentState_Working())
        while MARK in self.buf:
            segment, self.buf = self.buf.split(MARK, 1)
            if self.pending:
                text = segment.decode("utf-8", "replace").replace("\r", "")
                answer = text.split("\n", 1)[1].strip() if "\n" in text else ""
                log.log(log.Level.DEBUG, "turn finished", [])
                events.append(AgentEvent_Message(answer))
                events.append(AgentEvent_TaskComplete(TaskComplete(0, None)))
                self.pending = False
            state = _state(AgentState_Idle())
        return Update(events, state, [])

    def feed_screen(self, screen: types.Screen) -> Update:
        return Update([], None, [])

    def feed_transcript(self, line: str) -> Update:
        return Update([], None, [])

    def feed_protocol(self, line: str) -> Update:
        return Update([], None, [])

    def process_exited(self, code: Optional[int]) -> Update:
        return Update([], _state(AgentState_Exited(), StateSource_Process()), [])

    def encode_prompt(self, text: str) -> List[types.InputAction]:
        line = text.replace("\r", " ").replace("\n", " ")
        if not line.strip():
            raise Err(PluginError(ErrorKind_InvalidInput(), "an empty message"))
        self.pending = True
        self.started = False
        return [InputAction_Text(line), InputAction_Keys(["Enter"])]

    def encode_steer(self, text: str) -> List[types.InputAction]:
        raise Err(PluginError(ErrorKind_Unsupported(), "this agent cannot be steered"))

    def encode_interrupt(self) -> List[types.InputAction]:
        return [InputAction_Keys(["C-c"])]

    def encode_permission(self, permission_id: str, decision: types.PermissionDecision) -> List[types.InputAction]:
        raise Err(PluginError(ErrorKind_Unsupported(), "this agent never asks for permission"))
