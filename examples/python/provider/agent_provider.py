"""The `session` resource of the `repl-py` provider. componentize-py looks
for an exported resource in a module named after its interface
(`agent-provider` -> `agent_provider`), as a class named after the resource."""

import json
from typing import List, Optional

from componentize_py_types import Err
from wit_world.exports import agent_provider
from wit_world.exports.agent_provider import LaunchRequest, Update
from wit_world.imports import log, types
from wit_world.imports.types import (
    AgentEvent_Message,
    AgentEvent_TaskComplete,
    AgentEvent_TaskStarted,
    AgentEvent_ToolCall,
    AgentEvent_ToolResult,
    AgentEvent_TurnAborted,
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
    ToolCall,
    ToolResult,
)

from repl import Parser, prompt_line


def _state(state, source=None) -> StateChange:
    return StateChange(state, source or StateSource_Protocol(), None)


class Session(agent_provider.Session):
    """Parser state for one REPL session."""

    def __init__(self, req: LaunchRequest) -> None:
        self.session = req.session
        self.parser = Parser()

    def feed_output(self, data: bytes) -> Update:
        events: List[types.AgentEvent] = []
        actions: List[types.InputAction] = []
        state: Optional[StateChange] = None
        for step, value in self.parser.feed(data):
            if step == "started":
                number, code = value
                events.append(AgentEvent_TaskStarted())
                events.append(AgentEvent_ToolCall(ToolCall("py-%d" % number, "python", json.dumps({"code": code}))))
                state = _state(AgentState_Working())
            elif step == "enter":
                actions.append(InputAction_Keys(["Enter"]))
            elif step == "cancel":
                log.log(log.Level.DEBUG, "incomplete input; cancelling the turn", [("session", self.session)])
                actions.append(InputAction_Keys(["C-c"]))
            elif step == "finished":
                events.extend(self._finished(value))
            elif step == "idle":
                state = _state(AgentState_Idle())
        return Update(events, state, actions)

    def _finished(self, turn) -> List[types.AgentEvent]:
        call_id = "py-%d" % turn.number
        events: List[types.AgentEvent] = [
            AgentEvent_ToolResult(ToolResult(call_id, json.dumps(turn.output), turn.is_error))
        ]
        if turn.aborted:
            events.append(AgentEvent_TurnAborted())
            return events
        if not turn.is_error and turn.output:
            events.append(AgentEvent_Message(turn.output))
        summary = turn.summary() or None
        events.append(AgentEvent_TaskComplete(TaskComplete(1 if turn.is_error else 0, summary)))
        return events

    def feed_screen(self, screen: types.Screen) -> Update:
        return Update([], None, [])

    def feed_transcript(self, line: str) -> Update:
        return Update([], None, [])

    def feed_protocol(self, line: str) -> Update:
        return Update([], None, [])

    def process_exited(self, code: Optional[int]) -> Update:
        return Update([], _state(AgentState_Exited(), StateSource_Process()), [])

    def encode_prompt(self, text: str) -> List[types.InputAction]:
        line = prompt_line(text)
        if not line.strip():
            raise Err(PluginError(ErrorKind_InvalidInput(), "the REPL needs some code to run"))
        self.parser.prompt(line)
        return [InputAction_Text(line), InputAction_Keys(["Enter"])]

    def encode_steer(self, text: str) -> List[types.InputAction]:
        raise Err(PluginError(ErrorKind_Unsupported(), "a Python REPL runs one statement at a time"))

    def encode_interrupt(self) -> List[types.InputAction]:
        self.parser.interrupt()
        return [InputAction_Keys(["C-c"])]

    def encode_permission(self, permission_id: str, decision: types.PermissionDecision) -> List[types.InputAction]:
        raise Err(PluginError(ErrorKind_Unsupported(), "the Python REPL never asks for permission"))
