// `{{name}}`: a wasmux provider written in JavaScript. It runs a tiny
// line-echo agent in the pane (replace `launch` with your agent) and turns
// its output into events.
//
// The agent prints `ESC ] 133;A BEL` before each prompt, so a turn is the
// output between the prompt the message was typed at and the next mark: the
// first line is the echo of the typed text, the rest is the answer.
//
// Build: `wasmux plugin build` (componentize-js, installed privately).

import { log } from "wasmux:plugin/log@{{wit}}";
import { get as configGet } from "wasmux:plugin/config@{{wit}}";

const MARK = "\x1b]133;A\x07";
const SCRIPT = "while printf '\\033]133;A\\007> '; IFS= read -r line; do printf '%s%s\\n' \"$PREFIX\" \"$line\"; done";

const state = (tag, source = "protocol") => ({ state: { tag }, source: { tag: source }, tool: undefined });
const update = (events = [], st = undefined, actions = []) => ({ events, state: st, actions });
const refuse = (kind, message) => ({ kind: { tag: kind }, message });

/** Parser state for one session (the `session` resource). */
class Session {
  constructor(_req) {
    this.decoder = new TextDecoder("utf-8");
    this.buf = "";
    this.pending = false;
    this.started = false;
  }

  feedOutput(data) {
    const events = [];
    let st;
    this.buf += this.decoder.decode(data, { stream: true });
    if (this.pending && !this.started && this.buf) {
      this.started = true;
      events.push({ tag: "task-started" });
      st = state("working");
    }
    let at;
    while ((at = this.buf.indexOf(MARK)) !== -1) {
      const segment = this.buf.slice(0, at);
      this.buf = this.buf.slice(at + MARK.length);
      if (this.pending) {
        const text = segment.replaceAll("\r", "");
        const nl = text.indexOf("\n");
        const answer = nl === -1 ? "" : text.slice(nl + 1).trim();
        log("debug", "turn finished", []);
        events.push({ tag: "message", val: answer });
        events.push({ tag: "task-complete", val: { exitCode: 0, summary: undefined } });
        this.pending = false;
      }
      st = state("idle");
    }
    return update(events, st);
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
    const line = text.replace(/[\r\n]/g, " ");
    if (!line.trim()) throw refuse("invalid-input", "an empty message");
    this.pending = true;
    this.started = false;
    return [
      { tag: "text", val: line },
      { tag: "keys", val: ["Enter"] },
    ];
  }

  encodeSteer(_text) {
    throw refuse("unsupported", "this agent cannot be steered");
  }

  encodeInterrupt() {
    return [{ tag: "keys", val: ["C-c"] }];
  }

  encodePermission(_id, _decision) {
    throw refuse("unsupported", "this agent never asks for permission");
  }
}

export const agentProvider = {
  /** How to start the agent. */
  launch(_req) {
    const prefix = configGet("prefix") ?? "you said: ";
    return {
      command: ["sh", "-c", SCRIPT],
      env: [["PREFIX", prefix]],
      transcript: undefined,
      bridge: false,
      screenPollMs: 0,
      startup: [],
    };
  },
  Session,
};
