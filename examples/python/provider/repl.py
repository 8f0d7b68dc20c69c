"""The REPL parser behind the `repl-py` provider, free of WIT types so it
can be read (and tested with plain CPython) on its own.

The agent is `python3 -i` with its prompts wrapped in OSC 133 marks:
``sys.ps1`` starts with ``ESC ] 133;A BEL`` and ``sys.ps2`` with
``ESC ] 133;A;k=c BEL`` (a continuation prompt). ``\\x01``/``\\x02`` around
the marks tell readline they take no columns. A turn is everything between
the prompt the input was typed at and the next primary prompt:

* the first line of every prompt segment is the prompt plus the echo of
  what was typed, and is dropped;
* the rest is the REPL's output: a ``Traceback`` or a final ``SomeError:``
  line makes it an error, anything else is the answer;
* a continuation prompt (``for x in y: print(x)`` waits for a blank line)
  is answered with one Enter; a second one in the same turn means the
  input is incomplete, so the turn is cancelled with Ctrl-C;
* a turn's output is kept to its first ``HEAD`` and last ``TAIL``
  characters (the middle is replaced by an "elided" line), so a command
  that prints megabytes costs bounded memory and a bounded event.
"""

import codecs
import re

PS1_MARK = "\x1b]133;A\x07"
PS2_MARK = "\x1b]133;A;k=c\x07"

# The command the pane runs: the interpreter with marked prompts.
STARTUP = (
    "import sys; "
    "sys.ps1 = '\\x01\\x1b]133;A\\x07\\x02>>> '; "
    "sys.ps2 = '\\x01\\x1b]133;A;k=c\\x07\\x02... '"
)

# What a turn keeps of a long output: its start (with the echo line) and end.
HEAD = 16 * 1024
TAIL = 48 * 1024

_ESCAPES = re.compile(r"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-Z\\-_]|[\x01\x02]")
_ERROR_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit)\b(:.*)?$")


def clean(text):
    """Terminal text without escape sequences and carriage returns."""
    return _ESCAPES.sub("", text).replace("\r", "")


def prompt_line(text):
    """What to type for `text`: one line as is; several lines run as a
    script through ``exec`` (so a block needs no blank line to finish)."""
    body = text.strip("\n")
    if "\n" in body or "\r" in body:
        return "exec(%r)" % body.replace("\r\n", "\n")
    return body


class Turn:
    """How a finished turn ended."""

    def __init__(self, number, code, output, is_error, aborted):
        self.number = number
        self.code = code
        self.output = output
        self.is_error = is_error
        self.aborted = aborted

    def summary(self):
        """The last line of the output (the error line for errors)."""
        lines = [l for l in self.output.split("\n") if l.strip()]
        return lines[-1] if lines else ""


class Parser:
    """Turns pane output into turn boundaries. `feed` returns a list of
    ("started", (n, code)) / ("finished", Turn) / ("idle", None) / ("enter", None) /
    ("cancel", None) steps in order."""

    def __init__(self):
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buf = ""
        self._segments = []
        self._pending = None
        self._started = False
        self._entered = False
        self._interrupted = False
        self._turns = 0

    def prompt(self, text):
        """Record that `text` is being typed; the next output belongs to it."""
        self._turns += 1
        self._pending = text
        self._started = False
        self._entered = False
        self._interrupted = False
        self._segments = []

    def interrupt(self):
        """Record that the host is interrupting the running turn."""
        self._interrupted = True

    def feed(self, data):
        self._buf += self._decoder.decode(bytes(data))
        steps = []
        if self._pending is not None and not self._started and self._buf:
            self._started = True
            steps.append(("started", (self._turns, self._pending)))
        while True:
            i1, i2 = self._buf.find(PS1_MARK), self._buf.find(PS2_MARK)
            if i2 != -1 and (i1 == -1 or i2 <= i1):
                segment, self._buf = self._buf[:i2], self._buf[i2 + len(PS2_MARK):]
                self._segments.append(segment)
                if self._pending is not None:
                    steps.append(("cancel", None) if self._entered else ("enter", None))
                    self._entered = True
            elif i1 != -1:
                segment, self._buf = self._buf[:i1], self._buf[i1 + len(PS1_MARK):]
                self._segments.append(segment)
                if self._pending is not None:
                    steps.append(("finished", self._finish()))
                self._segments = []
                steps.append(("idle", None))
            else:
                break
        self._bound()
        return steps

    def _bound(self):
        """Keep the unfinished segment to HEAD + TAIL characters."""
        if len(self._buf) > 2 * (HEAD + TAIL):
            cut = len(self._buf) - HEAD - TAIL
            self._buf = f"{self._buf[:HEAD]}\n[... {cut} characters elided ...]\n{self._buf[-TAIL:]}"

    def _finish(self):
        lines = []
        for seg in self._segments:
            text = clean(seg)
            # The first line is the prompt and the echo of the typed input.
            lines.extend(text.split("\n")[1:])
        output = "\n".join(lines).strip("\n")
        last = next((l for l in reversed(lines) if l.strip()), "")
        is_error = "Traceback (most recent call last):" in output or bool(_ERROR_LINE.match(last))
        turn = Turn(self._turns, self._pending, output, is_error, self._interrupted)
        self._pending = None
        return turn
