// `repl-js`: a wasmux provider, written in JavaScript, that runs a Python
// REPL (`python3 -i`) in the pane and turns what it prints into events. Each
// message is typed at the `>>>` prompt; the printed result becomes a
// `message`, a traceback a `tool-result` with `is-error`, and the next prompt
// ends the turn with `task-complete`. See `repl.js` for the parsing rules.
//
// Built with componentize-js against the `provider` world:
// `wasmux plugin build examples/javascript/provider`.

import { log } from "wasmux:plugin/log@0.1.1";
import { get as configGet } from "wasmux:plugin/config@0.1.1";
import { Parser, STARTUP, promptLine } from "./repl.js";

const state = (tag, source = "protocol") => ({ state: { tag }, source: { tag: source }, tool: undefined });
const update = (events = [], st = undefined, actions = []) => ({ events, state: st, actions });
const refuse = (kind, message) => ({ kind: { tag: kind }, message });

/** Parser state for one REPL session (the `session` resource). */
class Session {
  constructor(req) {
    this.session = req.session;
    this.parser = new Parser();
  }

  feedOutput(data) {
    const events = [];
    const actions = [];
    let st;
    for (const [step, value] of this.parser.feed(data)) {
      if (step === "started") {
        events.push({ tag: "task-started" });
        events.push({
          tag: "tool-call",
          val: { callId: `js-${value.number}`, name: "python", input: JSON.stringify({ code: value.code }) },
        });
        st = state("working");
      } else if (step === "enter") {
        actions.push({ tag: "keys", val: ["Enter"] });
      } else if (step === "cancel") {
        log("debug", "incomplete input; cancelling the turn", [["session", this.session]]);
        actions.push({ tag: "keys", val: ["C-c"] });
      } else if (step === "finished") {
        events.push(...this.finished(value));
      } else if (step === "idle") {
        st = state("idle");
      }
    }
    return update(events, st, actions);
  }

  finished(turn) {
    const events = [
      { tag: "tool-result", val: { callId: `js-${turn.number}`, output: JSON.stringify(turn.output), isError: turn.isError } },
    ];
    if (turn.aborted) return [...events, { tag: "turn-aborted" }];
    if (!turn.isError && turn.output) events.push({ tag: "message", val: turn.output });
    events.push({ tag: "task-complete", val: { exitCode: turn.isError ? 1 : 0, summary: turn.summary || undefined } });
    return events;
  }

  feedScreen(_screen) {
    return update();
  }

  feedTranscript(_line) {
    return update();
  }

  feedProtocol(_line) {
    return update();
  }

  processExited(_code) {
    return update([], state("exited", "process"));
  }

  encodePrompt(text) {
    const line = promptLine(text);
    if (!line.trim()) throw refuse("invalid-input", "the REPL needs some code to run");
    this.parser.prompt(line);
    return [
      { tag: "text", val: line },
      { tag: "keys", val: ["Enter"] },
    ];
  }

  encodeSteer(_text) {
    throw refuse("unsupported", "a Python REPL runs one statement at a time");
  }

  encodeInterrupt() {
    this.parser.interrupt();
    return [{ tag: "keys", val: ["C-c"] }];
  }

  encodePermission(_id, _decision) {
    throw refuse("unsupported", "the Python REPL never asks for permission");
  }
}

export const agentProvider = {
  /** How to start the REPL. */
  launch(req) {
    const python = configGet("python") ?? "python3";
    return {
      command: [python, "-q", "-i", "-c", STARTUP, ...req.args],
      env: [
        ["PYTHON_BASIC_REPL", "1"],
        ["PYTHON_COLORS", "0"],
        ["NO_COLOR", "1"],
      ],
      transcript: undefined,
      bridge: false,
      screenPollMs: 0,
      startup: [],
    };
  },
  Session,
};
