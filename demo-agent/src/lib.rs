//! `wasmux demo-agent`: a fake coding agent for a terminal (a tmux pane) that
//! behaves like a real one without any API key, so the product works out of
//! the box.
//!
//! It reads one message a line from standard input (cooked mode), picks an
//! action by keyword rules ([`intent`]), runs a tool ([`tools`]) — asking
//! permission before writing a file — and streams a deterministic reply word
//! by word. Every step is also appended to an optional JSONL transcript
//! ([`transcript`]), the structured channel the `demo` provider plugin reads.
//! Ctrl-C aborts the running turn ([`signals`]).

pub mod intent;
pub mod signals;
pub mod tools;
pub mod transcript;

#[cfg(test)]
mod tests;

use intent::Intent;
use serde_json::json;
use std::io::{self, BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use transcript::{Event, Transcript};

/// The prompt printed before each message is read (no newline after it).
pub const PROMPT: &str = "demo> ";
/// Longest "thinking" pause before a turn acts, in milliseconds.
const MAX_THINK_MS: u64 = 300;

/// Options of `wasmux demo-agent`.
#[derive(clap::Args, Debug, Clone)]
pub struct DemoArgs {
    /// Append a JSONL transcript of every turn to this file. Also `DEMO_AGENT_TRANSCRIPT`.
    #[arg(long, value_name = "PATH", env = "DEMO_AGENT_TRANSCRIPT")]
    pub transcript: Option<PathBuf>,
    /// Delay between streamed reply words, in milliseconds (0: no delay). Also `DEMO_AGENT_SPEED_MS`.
    #[arg(
        long = "speed-ms",
        value_name = "N",
        default_value_t = 15,
        env = "DEMO_AGENT_SPEED_MS"
    )]
    pub speed_ms: u64,
}

/// What the agent loop needs besides its input, output and transcript.
#[derive(Debug, Clone)]
pub struct Config {
    /// Working directory the tools act in (absolute).
    pub cwd: PathBuf,
    /// Delay between streamed words, in milliseconds.
    pub speed_ms: u64,
}

/// Run the demo agent on the process's terminal until end of input; the
/// process exit code (0 on EOF, 1 when it cannot start or its output fails).
pub fn main(args: DemoArgs) -> ExitCode {
    if let Err(e) = signals::install() {
        eprintln!("demo agent: cannot install the Ctrl-C handler: {e}");
        return ExitCode::FAILURE;
    }
    let cwd = match std::env::current_dir() {
        Ok(cwd) => cwd,
        Err(e) => {
            eprintln!("demo agent: cannot read the working directory: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut transcript = match &args.transcript {
        Some(path) => match Transcript::open(path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("demo agent: cannot open transcript {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        },
        None => Transcript::disabled(),
    };
    let config = Config {
        cwd,
        speed_ms: args.speed_ms,
    };
    let input = BufReader::new(signals::StdinFd);
    match run(
        input,
        io::stdout().lock(),
        &mut transcript,
        &config,
        &signals::INTERRUPTED,
    ) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo agent: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The agent loop: banner, then prompt / read a message / run a turn, until
/// end of input (`Ok`). `interrupted` is the Ctrl-C flag: when set during a
/// turn the turn is aborted; a read that fails with
/// [`io::ErrorKind::Interrupted`] while it is set counts as Ctrl-C at that
/// point. Errors are those of `output` (and of `input` other than EINTR).
pub fn run<R: BufRead, W: Write>(
    input: R,
    output: W,
    transcript: &mut Transcript,
    config: &Config,
    interrupted: &AtomicBool,
) -> io::Result<()> {
    let mut agent = Agent {
        input,
        out: output,
        transcript,
        config,
        interrupted,
        turn: 0,
        always_write: false,
    };
    agent.main_loop()
}

/// One line read from the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadLine {
    /// A line, without its line ending.
    Line(String),
    /// End of input.
    Eof,
    /// Ctrl-C arrived while waiting (the flag has been cleared).
    Interrupted,
}

/// Read one line from `input`. A read failing with EINTR while `interrupted`
/// is set returns [`ReadLine::Interrupted`] (clearing the flag) instead of
/// being retried; partial input is then dropped, as the terminal does.
pub fn read_line<R: BufRead>(input: &mut R, interrupted: &AtomicBool) -> io::Result<ReadLine> {
    let mut line = Vec::new();
    loop {
        let (done, used) = match input.fill_buf() {
            Ok([]) => {
                return Ok(if line.is_empty() {
                    ReadLine::Eof
                } else {
                    ReadLine::Line(finish_line(line))
                });
            }
            Ok(buf) => match buf.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    line.extend_from_slice(&buf[..i]);
                    (true, i + 1)
                }
                None => {
                    line.extend_from_slice(buf);
                    (false, buf.len())
                }
            },
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                if interrupted.swap(false, Ordering::SeqCst) {
                    return Ok(ReadLine::Interrupted);
                }
                continue;
            }
            Err(e) => return Err(e),
        };
        input.consume(used);
        if done {
            return Ok(ReadLine::Line(finish_line(line)));
        }
    }
}

fn finish_line(mut line: Vec<u8>) -> String {
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    String::from_utf8_lossy(&line).into_owned()
}

/// Why a turn stopped early.
enum Stop {
    /// Ctrl-C.
    Aborted,
    /// The terminal (output or input) failed.
    Io(io::Error),
}

impl From<io::Error> for Stop {
    fn from(e: io::Error) -> Self {
        Stop::Io(e)
    }
}

/// What a tool step leaves for the reply and the usage count.
struct Acted {
    reply: String,
    tool_bytes: usize,
}

struct Agent<'a, R, W> {
    input: R,
    out: W,
    transcript: &'a mut Transcript,
    config: &'a Config,
    interrupted: &'a AtomicBool,
    turn: u64,
    always_write: bool,
}

impl<R: BufRead, W: Write> Agent<'_, R, W> {
    fn main_loop(&mut self) -> io::Result<()> {
        let cwd = self.config.cwd.display().to_string();
        self.transcript.record(Event::SessionStart {
            cwd: cwd.clone(),
            version: "1",
        });
        writeln!(self.out, "demo agent ready (cwd: {cwd})")?;
        loop {
            write!(self.out, "{PROMPT}")?;
            self.out.flush()?;
            // A Ctrl-C that landed after the last turn finished is stale.
            self.interrupted.store(false, Ordering::SeqCst);
            let text = match read_line(&mut self.input, self.interrupted)? {
                ReadLine::Eof => {
                    writeln!(self.out)?;
                    self.out.flush()?;
                    return Ok(());
                }
                ReadLine::Interrupted => {
                    writeln!(self.out)?;
                    continue;
                }
                ReadLine::Line(text) => text,
            };
            if text.trim().is_empty() {
                continue;
            }
            self.interrupted.store(false, Ordering::SeqCst);
            self.turn += 1;
            match self.run_turn(&text) {
                Ok(()) => {}
                Err(Stop::Aborted) => {
                    self.interrupted.store(false, Ordering::SeqCst);
                    self.transcript.record(Event::TurnAborted { turn: self.turn });
                    writeln!(self.out, "\n^C turn aborted")?;
                }
                Err(Stop::Io(e)) => return Err(e),
            }
        }
    }

    fn run_turn(&mut self, text: &str) -> Result<(), Stop> {
        let turn = self.turn;
        self.transcript.record(Event::User {
            turn,
            text: text.to_string(),
        });
        self.pause(Duration::from_millis((self.config.speed_ms * 10).min(MAX_THINK_MS)))?;
        let acted = match intent::parse(text, &self.config.cwd) {
            Intent::ListFiles => self.list_files()?,
            Intent::ReadFile { found, requested } => self.read_file(found, requested)?,
            Intent::RunCommand { command } => self.run_command(&command)?,
            Intent::WriteFile { path, content } => self.write_file(&path, &content)?,
            Intent::Sleep { seconds } => self.sleep(seconds)?,
            Intent::Chat => Acted {
                reply: chat_reply(text),
                tool_bytes: 0,
            },
        };
        let words = self.stream(&acted.reply)?;
        let input_tokens = text.split_whitespace().count() as u64 + 10;
        let output_tokens = words + acted.tool_bytes as u64 / 4;
        self.transcript.record(Event::AssistantMessage {
            turn,
            text: acted.reply,
        });
        self.transcript.record(Event::Usage {
            turn,
            input_tokens,
            output_tokens,
        });
        self.transcript.record(Event::TurnEnd { turn, status: "done" });
        writeln!(self.out, "[tokens: in {input_tokens} / out {output_tokens}]")?;
        Ok(())
    }

    /// Wait, polling the Ctrl-C flag.
    fn pause(&mut self, total: Duration) -> Result<(), Stop> {
        if tools::pause(total, self.interrupted) {
            Ok(())
        } else {
            Err(Stop::Aborted)
        }
    }

    fn check_interrupt(&self) -> Result<(), Stop> {
        if self.interrupted.load(Ordering::SeqCst) {
            Err(Stop::Aborted)
        } else {
            Ok(())
        }
    }

    /// Record and print a tool call; its id.
    fn tool_call(&mut self, name: &'static str, input: serde_json::Value, shown: &str) -> io::Result<String> {
        let id = format!("call_{}_1", self.turn);
        self.transcript.record(Event::ToolCall {
            turn: self.turn,
            id: id.clone(),
            name,
            input,
        });
        writeln!(self.out, "● {name}({shown})")?;
        self.out.flush()?;
        Ok(id)
    }

    /// Record and print a tool result; the output's length for the usage count.
    fn tool_result(&mut self, id: String, output: String, is_error: bool) -> io::Result<usize> {
        for line in output.lines() {
            if is_error {
                writeln!(self.out, "  error: {line}")?;
            } else {
                writeln!(self.out, "  {line}")?;
            }
        }
        self.out.flush()?;
        let bytes = output.len();
        self.transcript.record(Event::ToolResult {
            turn: self.turn,
            id,
            output,
            is_error,
        });
        Ok(bytes)
    }

    /// Close a tool call cut short by Ctrl-C with an error result.
    fn tool_aborted(&mut self, id: String) -> Stop {
        self.transcript.record(Event::ToolResult {
            turn: self.turn,
            id,
            output: "aborted".into(),
            is_error: true,
        });
        Stop::Aborted
    }

    fn list_files(&mut self) -> Result<Acted, Stop> {
        let cwd = self.config.cwd.display().to_string();
        let id = self.tool_call("list_files", json!({ "path": "." }), ".")?;
        match tools::list_files(&self.config.cwd) {
            Ok(entries) => {
                let tool_bytes = self.tool_result(id, tools::format_listing(&entries), false)?;
                let mut reply = format!("I listed {} in {cwd}.", plural(entries.len(), "entry", "entries"));
                match tools::largest_file(&entries) {
                    Some(big) => reply += &format!(" The largest file is {} ({} bytes).", big.name, big.size),
                    None if entries.is_empty() => reply += " The directory is empty.",
                    None => reply += " There are no regular files, only directories.",
                }
                Ok(Acted { reply, tool_bytes })
            }
            Err(e) => {
                let tool_bytes = self.tool_result(id, e.to_string(), true)?;
                Ok(Acted {
                    reply: format!("I could not list {cwd}: {e}."),
                    tool_bytes,
                })
            }
        }
    }

    fn read_file(&mut self, found: Option<String>, requested: String) -> Result<Acted, Stop> {
        let path = found.clone().unwrap_or(requested);
        let id = self.tool_call("read_file", json!({ "path": path }), &path)?;
        let result = match found {
            Some(_) => tools::read_file(&self.config.cwd, &path).map_err(|e| e.to_string()),
            None => Err("no such file".to_string()),
        };
        match result {
            Ok(head) => {
                let tool_bytes = self.tool_result(id, head.head, false)?;
                let shown = if head.shown_lines == head.total_lines {
                    "all of it".to_string()
                } else {
                    format!("the first {}", plural(head.shown_lines, "line", "lines"))
                };
                let reply = format!(
                    "I read {path}: it has {} and {}, and I showed {shown}.",
                    plural(head.total_lines, "line", "lines"),
                    plural(head.bytes, "byte", "bytes"),
                );
                Ok(Acted { reply, tool_bytes })
            }
            Err(e) => {
                let reply = format!("I could not read {path}: {e}.");
                let tool_bytes = self.tool_result(id, e, true)?;
                Ok(Acted { reply, tool_bytes })
            }
        }
    }

    fn run_command(&mut self, command: &str) -> Result<Acted, Stop> {
        let id = self.tool_call("run_command", json!({ "command": command }), command)?;
        match tools::run_command(&self.config.cwd, command, self.interrupted) {
            Ok(run) if run.aborted || self.interrupted.load(Ordering::SeqCst) => Err(self.tool_aborted(id)),
            Ok(run) => {
                let tool_bytes = self.tool_result(id, run.report(), !run.success())?;
                let reply = if run.success() {
                    format!(
                        "The command `{command}` succeeded and printed {} bytes.",
                        run.total_bytes
                    )
                } else {
                    format!("The command `{command}` failed ({}).", run.status_text())
                };
                Ok(Acted { reply, tool_bytes })
            }
            Err(e) => {
                let tool_bytes = self.tool_result(id, format!("cannot run the command: {e}"), true)?;
                Ok(Acted {
                    reply: format!("I could not run `{command}`: {e}."),
                    tool_bytes,
                })
            }
        }
    }

    fn write_file(&mut self, path: &str, content: &str) -> Result<Acted, Stop> {
        let turn = self.turn;
        let id = self.tool_call("write_file", json!({ "path": path, "content": content }), path)?;
        if !tools::is_inside(path) {
            let e = "path must stay inside the working directory".to_string();
            let tool_bytes = self.tool_result(id, e.clone(), true)?;
            return Ok(Acted {
                reply: format!("I did not write {path}: {e}."),
                tool_bytes,
            });
        }
        if !self.always_write {
            let perm = format!("perm_{turn}_1");
            let description = format!("write_file {path} ({} bytes)", content.len());
            // The request is in the transcript before the prompt is on screen.
            self.transcript.record(Event::PermissionRequest {
                turn,
                id: perm.clone(),
                tool: "write_file",
                description: description.clone(),
            });
            write!(
                self.out,
                "⚠ permission required: {description}\nallow? [y]es / [n]o / [a]lways: "
            )?;
            self.out.flush()?;
            let answer = read_line(&mut self.input, self.interrupted)?;
            let decision = match &answer {
                ReadLine::Line(a) => match a.trim().to_ascii_lowercase().as_str() {
                    "y" | "yes" => "allow",
                    "a" | "always" => "always",
                    _ => "deny",
                },
                ReadLine::Eof | ReadLine::Interrupted => "deny",
            };
            self.transcript.record(Event::PermissionAnswer {
                turn,
                id: perm,
                decision,
            });
            if answer == ReadLine::Interrupted {
                // The read cleared the flag; the turn is aborted all the same.
                self.transcript.record(Event::ToolResult {
                    turn,
                    id,
                    output: "permission denied".into(),
                    is_error: true,
                });
                return Err(Stop::Aborted);
            }
            if answer == ReadLine::Eof {
                writeln!(self.out)?;
            }
            match decision {
                "deny" => {
                    let tool_bytes = self.tool_result(id, "permission denied".into(), true)?;
                    let reply = format!("Permission to write {path} was denied, so I did not change anything.");
                    return Ok(Acted { reply, tool_bytes });
                }
                "always" => self.always_write = true,
                _ => {}
            }
        }
        self.check_interrupt().map_err(|_| self.tool_aborted(id.clone()))?;
        match tools::write_file(&self.config.cwd, path, content) {
            Ok(write) => {
                let description = write.description(path);
                let tool_bytes = self.tool_result(id, description.clone(), false)?;
                self.transcript.record(Event::FileEdit {
                    turn,
                    path: path.to_string(),
                    description: description.clone(),
                    diff: write.diff,
                });
                Ok(Acted {
                    reply: format!("I {description}."),
                    tool_bytes,
                })
            }
            Err(e) => {
                let tool_bytes = self.tool_result(id, e.to_string(), true)?;
                Ok(Acted {
                    reply: format!("I could not write {path}: {e}."),
                    tool_bytes,
                })
            }
        }
    }

    fn sleep(&mut self, seconds: u64) -> Result<Acted, Stop> {
        let id = self.tool_call("sleep", json!({ "seconds": seconds }), &seconds.to_string())?;
        if !tools::pause(Duration::from_secs(seconds), self.interrupted) {
            return Err(self.tool_aborted(id));
        }
        let tool_bytes = self.tool_result(id, format!("slept {seconds} s"), false)?;
        Ok(Acted {
            reply: format!("I slept for {seconds} seconds."),
            tool_bytes,
        })
    }

    /// Stream `reply` a word at a time (each with its trailing space, except
    /// the last); the number of words written.
    fn stream(&mut self, reply: &str) -> Result<u64, Stop> {
        let mut words = 0;
        for (i, word) in reply.split_inclusive(' ').enumerate() {
            if i > 0 {
                self.pause(Duration::from_millis(self.config.speed_ms))?;
            }
            self.check_interrupt()?;
            write!(self.out, "{word}")?;
            self.out.flush()?;
            self.transcript.record(Event::AssistantDelta {
                turn: self.turn,
                text: word.to_string(),
            });
            words += 1;
        }
        writeln!(self.out)?;
        Ok(words)
    }
}

/// `1 line`, `2 lines`.
fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The reply to a message that matched no tool rule.
fn chat_reply(text: &str) -> String {
    let said = text.split_whitespace().collect::<Vec<_>>().join(" ");
    format!(
        "You said \"{said}\". I am the demo agent and have no model behind me; try \"list files\", \
         \"read <file>\", \"run <command>\", \"write <file> with <text>\" or \"sleep <seconds>\"."
    )
}
