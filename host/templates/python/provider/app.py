"""`{{name}}`: a wasmux provider written in Python. It runs a tiny
line-echo agent in the pane (replace `launch` with your agent); the per-
session parser is the `Session` class in `agent_provider.py`.

Build: `wasmux plugin build` (componentize-py, installed privately).
"""

from wit_world import exports
from wit_world.exports.agent_provider import LaunchRequest, LaunchSpec
from wit_world.imports import config

SCRIPT = "while printf '\\033]133;A\\007> '; IFS= read -r line; do printf '%s%s\\n' \"$PREFIX\" \"$line\"; done"


class AgentProvider(exports.AgentProvider):
    """The stateless half: how to start the agent."""

    def launch(self, req: LaunchRequest) -> LaunchSpec:
        prefix = config.get("prefix") or "you said: "
        return LaunchSpec(["sh", "-c", SCRIPT], [("PREFIX", prefix)], None, False, 0, [])
