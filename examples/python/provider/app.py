"""`repl-py`: a wasmux provider, written in Python, that runs a Python REPL
(`python3 -i`) in the pane and turns what it prints into events. Each
message is typed at the `>>>` prompt; the printed result becomes a
`message`, a traceback a `tool-result` with `is-error`, and the next prompt
ends the turn with `task-complete`. See `repl.py` for the parsing rules.

Built with componentize-py against the `provider` world:
`wasmux plugin build examples/python/provider`.
"""

from wit_world import exports
from wit_world.exports.agent_provider import LaunchRequest, LaunchSpec
from wit_world.imports import config

from repl import STARTUP


class AgentProvider(exports.AgentProvider):
    """The stateless half: how to start the REPL."""

    def launch(self, req: LaunchRequest) -> LaunchSpec:
        python = config.get("python") or "python3"
        command = [python, "-q", "-i", "-c", STARTUP] + list(req.args)
        env = [
            # Python 3.13's new REPL redraws lines; the basic one echoes plainly.
            ("PYTHON_BASIC_REPL", "1"),
            ("PYTHON_COLORS", "0"),
            ("NO_COLOR", "1"),
        ]
        return LaunchSpec(command, env, None, False, 0, [])
