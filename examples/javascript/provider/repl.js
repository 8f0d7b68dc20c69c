// The REPL parser behind the `repl-js` provider (a port of
// examples/python/provider/repl.py), free of WIT types.
//
// The agent is `python3 -i` with its prompts wrapped in OSC 133 marks:
// `sys.ps1` starts with `ESC ] 133;A BEL`, `sys.ps2` with `ESC ] 133;A;k=c BEL`.
// A turn is everything between the prompt the input was typed at and the
// next primary prompt; the first line of every prompt segment is the prompt
// plus the echo of the input and is dropped. A `Traceback` or a final
// `SomeError:` line makes the turn an error. A continuation prompt is
// answered with one Enter; a second one cancels the turn with Ctrl-C. A
// turn keeps the first HEAD and last TAIL characters of a long output (the
// middle becomes an "elided" line): bounded memory and a bounded event.

export const PS1_MARK = "\x1b]133;A\x07";
export const PS2_MARK = "\x1b]133;A;k=c\x07";

/** What a turn keeps of a long output: its start (with the echo line) and end. */
export const HEAD = 16 * 1024;
export const TAIL = 48 * 1024;

/** The `-c` program the pane runs: marked prompts. */
export const STARTUP =
  "import sys; " +
  "sys.ps1 = '\\x01\\x1b]133;A\\x07\\x02>>> '; " +
  "sys.ps2 = '\\x01\\x1b]133;A;k=c\\x07\\x02... '";

const ESCAPES = /\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-Z\\-_]|[\x01\x02]/g;
const ERROR_LINE = /^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit)\b(:.*)?$/;

/** Terminal text without escape sequences and carriage returns. */
export function clean(text) {
  return text.replace(ESCAPES, "").replaceAll("\r", "");
}

/** What to type for `text`: one line as is; several lines run through `exec`. */
export function promptLine(text) {
  const body = text.replace(/^\n+|\n+$/g, "");
  if (body.includes("\n") || body.includes("\r")) {
    return `exec(${JSON.stringify(body.replaceAll("\r\n", "\n"))})`;
  }
  return body;
}

/** Turns pane output into steps: started, enter, cancel, finished, idle. */
export class Parser {
  constructor() {
    this.decoder = new TextDecoder("utf-8");
    this.buf = "";
    this.segments = [];
    this.pending = undefined;
    this.started = false;
    this.entered = false;
    this.interrupted = false;
    this.turns = 0;
  }

  /** `text` is being typed; the next output belongs to it. */
  prompt(text) {
    this.turns += 1;
    this.pending = text;
    this.started = false;
    this.entered = false;
    this.interrupted = false;
    this.segments = [];
  }

  /** The host is interrupting the running turn. */
  interrupt() {
    this.interrupted = true;
  }

  feed(data) {
    this.buf += this.decoder.decode(data, { stream: true });
    const steps = [];
    if (this.pending !== undefined && !this.started && this.buf) {
      this.started = true;
      steps.push(["started", { number: this.turns, code: this.pending }]);
    }
    for (;;) {
      const i1 = this.buf.indexOf(PS1_MARK);
      const i2 = this.buf.indexOf(PS2_MARK);
      if (i2 !== -1 && (i1 === -1 || i2 <= i1)) {
        this.segments.push(this.buf.slice(0, i2));
        this.buf = this.buf.slice(i2 + PS2_MARK.length);
        if (this.pending !== undefined) {
          steps.push([this.entered ? "cancel" : "enter"]);
          this.entered = true;
        }
      } else if (i1 !== -1) {
        this.segments.push(this.buf.slice(0, i1));
        this.buf = this.buf.slice(i1 + PS1_MARK.length);
        if (this.pending !== undefined) steps.push(["finished", this.finish()]);
        this.segments = [];
        steps.push(["idle"]);
      } else {
        break;
      }
    }
    this.bound();
    return steps;
  }

  /** Keep the unfinished segment to HEAD + TAIL characters. */
  bound() {
    if (this.buf.length > 2 * (HEAD + TAIL)) {
      const cut = this.buf.length - HEAD - TAIL;
      this.buf = `${this.buf.slice(0, HEAD)}\n[... ${cut} characters elided ...]\n${this.buf.slice(-TAIL)}`;
    }
  }

  finish() {
    const lines = [];
    for (const seg of this.segments) lines.push(...clean(seg).split("\n").slice(1));
    const output = lines.join("\n").replace(/^\n+|\n+$/g, "");
    const last = [...lines].reverse().find((l) => l.trim()) ?? "";
    const isError = output.includes("Traceback (most recent call last):") || ERROR_LINE.test(last);
    const turn = { number: this.turns, code: this.pending, output, isError, aborted: this.interrupted, summary: last };
    this.pending = undefined;
    return turn;
  }
}
