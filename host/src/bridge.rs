//! `wasmux bridge --dir DIR -- AGENT...`: runs an agent that speaks a
//! protocol over stdio (JSON-RPC such as ACP, or pi's RPC mode) inside a
//! tmux pane without pushing the protocol through the terminal's line
//! discipline. The agent's stdout lines are appended to `DIR/protocol.jsonl`
//! (the daemon tails it, so nothing is lost while the daemon is down) and
//! rendered readably on the pane for the person watching; lines written to
//! the Unix socket `DIR/bridge.sock` go to the agent's stdin.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::{Arc, Mutex};

/// The first thing a bridge prints on the pane, followed by a space and the
/// agent's command line. Providers (`pi`, `acp`) watch their pane output for
/// it to learn that a new agent process has started (first start or reset)
/// and begin their handshake; keep it stable.
pub const BANNER: &str = "wasmux bridge:";

/// The protocol log a bridge writes in `dir`.
pub fn protocol_log(dir: &Path) -> PathBuf {
    dir.join("protocol.jsonl")
}

/// The socket a bridge listens on in `dir`.
pub fn socket_path(dir: &Path) -> PathBuf {
    dir.join("bridge.sock")
}

/// Run the bridge; the agent's exit status.
pub fn run(dir: &Path, argv: &[String]) -> ExitCode {
    match run_inner(dir, argv) {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(e) => {
            eprintln!("wasmux bridge: {e}");
            ExitCode::from(1)
        }
    }
}

fn run_inner(dir: &Path, argv: &[String]) -> std::io::Result<i32> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| std::io::Error::other("no agent command after --"))?;
    std::fs::create_dir_all(dir)?;
    let sock = socket_path(dir);
    let _ = std::fs::remove_file(&sock);
    let listener = UnixListener::bind(&sock)?;
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| std::io::Error::other(format!("starting {program}: {e}")))?;
    let stdin = Arc::new(Mutex::new(child.stdin.take().expect("piped")));
    let stdout = child.stdout.take().expect("piped");
    let term = Arc::new(Mutex::new(std::io::stdout()));
    println!(
        "\x1b[2m{BANNER} {} (protocol on stdio; watch here, drive with `wasmux send`)\x1b[0m",
        argv.join(" ")
    );

    let log_path = protocol_log(dir);
    let out_term = term.clone();
    let reader = std::thread::spawn(move || -> std::io::Result<()> {
        let mut log = std::fs::OpenOptions::new().create(true).append(true).open(&log_path)?;
        for line in BufReader::new(stdout).lines() {
            let line = line?;
            log.write_all(format!("{line}\n").as_bytes())?;
            let mut t = out_term.lock().unwrap_or_else(|p| p.into_inner());
            let _ = t.write_all(render(&line, false).as_bytes());
            let _ = t.flush();
        }
        Ok(())
    });
    let in_term = term.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let stdin = stdin.clone();
            let term = in_term.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(conn).lines().map_while(Result::ok) {
                    let mut s = stdin.lock().unwrap_or_else(|p| p.into_inner());
                    if s.write_all(format!("{line}\n").as_bytes())
                        .and_then(|_| s.flush())
                        .is_err()
                    {
                        return;
                    }
                    let mut t = term.lock().unwrap_or_else(|p| p.into_inner());
                    let _ = t.write_all(render(&line, true).as_bytes());
                    let _ = t.flush();
                }
            });
        }
    });
    let status = child.wait()?;
    let _ = reader.join();
    let _ = std::fs::remove_file(&sock);
    Ok(status.code().unwrap_or(128 + 1))
}

/// A readable rendering of one protocol line for the pane.
pub fn render(line: &str, sent: bool) -> String {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
        return format!("{line}\r\n");
    };
    let dim = |s: &str| format!("\x1b[2m{s}\x1b[0m\r\n");
    if sent {
        let what = v["method"].as_str().or(v["type"].as_str()).unwrap_or("reply");
        let text = v["params"]["prompt"][0]["text"].as_str().or(v["message"].as_str());
        return match text {
            Some(t) => format!("\r\n\x1b[1m> {t}\x1b[0m\r\n"),
            None => dim(&format!("→ {what}")),
        };
    }
    let update = &v["params"]["update"];
    match (
        v["method"].as_str(),
        update["sessionUpdate"].as_str(),
        v["type"].as_str(),
    ) {
        (Some("session/update"), Some("agent_message_chunk"), _) => {
            update["content"]["text"].as_str().unwrap_or("").replace('\n', "\r\n")
        }
        (Some("session/update"), Some("agent_thought_chunk"), _) => {
            format!("\x1b[2m{}\x1b[0m", update["content"]["text"].as_str().unwrap_or(""))
        }
        (Some("session/update"), Some("tool_call"), _) => {
            format!("\r\n⚙ {}\r\n", update["title"].as_str().unwrap_or("tool"))
        }
        (Some("session/request_permission"), _, _) => format!(
            "\r\n⚠ permission: {}\r\n",
            v["params"]["toolCall"]["title"].as_str().unwrap_or("?")
        ),
        (_, _, Some("message_update")) => v["assistantMessageEvent"]["delta"]
            .as_str()
            .unwrap_or("")
            .replace('\n', "\r\n"),
        (_, _, Some("tool_execution_start")) => format!("\r\n⚙ {}\r\n", v["toolName"].as_str().unwrap_or("tool")),
        (_, _, Some("agent_end")) => "\r\n".into(),
        (Some(m), u, _) => dim(&format!("· {m}{}", u.map(|u| format!(" {u}")).unwrap_or_default())),
        (None, _, Some(t)) => dim(&format!("· {t}")),
        _ => dim("· reply"),
    }
}
