//! The agent loop driven through piped input and output, checked through its
//! transcript.

use super::*;
use serde_json::Value;
use std::collections::VecDeque;
use std::io::Read;
use std::sync::{Arc, Mutex};

/// A `Write` whose bytes the test can read afterwards.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Shared {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
    fn records(&self) -> Vec<Value> {
        self.text().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }
}

/// Input that is a script of data chunks and simulated Ctrl-C presses (each
/// sets the flag and fails the read with EINTR, as a real SIGINT would).
struct Scripted<'a> {
    steps: VecDeque<Option<&'static str>>,
    flag: &'a AtomicBool,
}

impl Read for Scripted<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.steps.pop_front() {
            None => Ok(0),
            Some(None) => {
                self.flag.store(true, Ordering::SeqCst);
                Err(io::ErrorKind::Interrupted.into())
            }
            Some(Some(data)) => {
                let n = data.len().min(buf.len());
                buf[..n].copy_from_slice(&data.as_bytes()[..n]);
                if n < data.len() {
                    self.steps.push_front(Some(&data[n..]));
                }
                Ok(n)
            }
        }
    }
}

/// Run the loop in `dir` on `input`; (terminal output, transcript records).
fn run_in(dir: &std::path::Path, input: impl BufRead, flag: &AtomicBool) -> (String, Vec<Value>) {
    let out = Shared::default();
    let log = Shared::default();
    let mut transcript = Transcript::new(Box::new(log.clone()));
    let config = Config {
        cwd: dir.to_path_buf(),
        speed_ms: 0,
    };
    run(input, out.clone(), &mut transcript, &config, flag).unwrap();
    (out.text(), log.records())
}

fn script(dir: &std::path::Path, text: &'static str) -> (String, Vec<Value>) {
    run_in(dir, io::Cursor::new(text), &AtomicBool::new(false))
}

fn turn(records: &[Value], n: u64) -> Vec<&Value> {
    records.iter().filter(|r| r["turn"] == n).collect()
}

fn types(records: &[&Value]) -> Vec<String> {
    let mut types: Vec<String> = records
        .iter()
        .map(|r| r["type"].as_str().unwrap().to_string())
        .collect();
    types.dedup(); // collapse the run of assistant_delta
    types
}

fn of_type<'a>(records: &[&'a Value], ty: &str) -> &'a Value {
    records
        .iter()
        .find(|r| r["type"] == ty)
        .unwrap_or_else(|| panic!("no {ty} in {records:?}"))
}

fn deltas(records: &[&Value]) -> String {
    records
        .iter()
        .filter(|r| r["type"] == "assistant_delta")
        .map(|r| r["text"].as_str().unwrap())
        .collect()
}

#[test]
fn list_write_deny_and_failing_run() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("big.txt"), "0123456789").unwrap();
    std::fs::write(dir.path().join("a.txt"), "a").unwrap();
    std::fs::create_dir(dir.path().join("src")).unwrap();
    let (out, records) = script(
        dir.path(),
        "list files\n\nwrite hello.txt with hi there\ny\nwrite nope.txt with no\nn\nrun echo oops >&2; exit 3\n",
    );
    let cwd = dir.path().display().to_string();

    // Session start, then every record stamped and numbered.
    assert_eq!(records[0]["type"], "session_start");
    assert_eq!(records[0]["cwd"], cwd.as_str());
    assert_eq!(records[0]["version"], "1");
    assert!(records.iter().all(|r| r["ts"].as_u64().unwrap() > 1_600_000_000_000));
    assert!(
        records[1..]
            .iter()
            .all(|r| (1..=4).contains(&r["turn"].as_u64().unwrap()))
    );

    // Turn 1: list.
    let t = turn(&records, 1);
    assert_eq!(
        types(&t),
        [
            "user",
            "tool_call",
            "tool_result",
            "assistant_delta",
            "assistant_message",
            "usage",
            "turn_end"
        ]
    );
    assert_eq!(of_type(&t, "user")["text"], "list files");
    let call = of_type(&t, "tool_call");
    assert_eq!(
        (&call["id"], &call["name"], &call["input"]),
        (&"call_1_1".into(), &"list_files".into(), &json!({"path": "."}))
    );
    let result = of_type(&t, "tool_result");
    assert_eq!(result["id"], "call_1_1");
    assert_eq!(result["output"], "a.txt\nbig.txt\nsrc/\n");
    assert_eq!(result["is_error"], false);
    let reply = format!("I listed 3 entries in {cwd}. The largest file is big.txt (10 bytes).");
    assert_eq!(of_type(&t, "assistant_message")["text"], reply.as_str());
    assert_eq!(deltas(&t), reply);
    let first = t.iter().find(|r| r["type"] == "assistant_delta").unwrap();
    assert_eq!(first["text"], "I ");
    let words = reply.split(' ').count() as u64;
    let usage = of_type(&t, "usage");
    assert_eq!(usage["input_tokens"], 12);
    assert_eq!(usage["output_tokens"], words + 18 / 4);
    assert_eq!(of_type(&t, "turn_end")["status"], "done");
    assert!(out.contains(&format!("{reply}\n[tokens: in 12 / out {}]\n", words + 4)));

    // Turn 2: write, allowed.
    let t = turn(&records, 2);
    assert_eq!(
        types(&t),
        [
            "user",
            "tool_call",
            "permission_request",
            "permission_answer",
            "tool_result",
            "file_edit",
            "assistant_delta",
            "assistant_message",
            "usage",
            "turn_end"
        ]
    );
    assert_eq!(
        of_type(&t, "tool_call")["input"],
        json!({"path": "hello.txt", "content": "hi there\n"})
    );
    let req = of_type(&t, "permission_request");
    assert_eq!(req["id"], "perm_2_1");
    assert_eq!(req["tool"], "write_file");
    assert_eq!(req["description"], "write_file hello.txt (9 bytes)");
    assert_eq!(of_type(&t, "permission_answer")["decision"], "allow");
    assert_eq!(of_type(&t, "permission_answer")["id"], "perm_2_1");
    assert_eq!(of_type(&t, "tool_result")["is_error"], false);
    let edit = of_type(&t, "file_edit");
    assert_eq!(edit["path"], "hello.txt");
    assert_eq!(edit["description"], "created hello.txt (9 bytes)");
    assert_eq!(edit["diff"], "--- /dev/null\n+++ hello.txt\n@@ -0,0 +1 @@\n+hi there\n");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("hello.txt")).unwrap(),
        "hi there\n"
    );
    assert!(out.contains("⚠ permission required: write_file hello.txt (9 bytes)\nallow? [y]es / [n]o / [a]lways: "));

    // Turn 3: write, denied.
    let t = turn(&records, 3);
    assert_eq!(
        types(&t),
        [
            "user",
            "tool_call",
            "permission_request",
            "permission_answer",
            "tool_result",
            "assistant_delta",
            "assistant_message",
            "usage",
            "turn_end"
        ]
    );
    assert_eq!(of_type(&t, "permission_answer")["decision"], "deny");
    let result = of_type(&t, "tool_result");
    assert_eq!(
        (&result["output"], &result["is_error"]),
        (&"permission denied".into(), &true.into())
    );
    assert!(!dir.path().join("nope.txt").exists());

    // Turn 4: a failing command.
    let t = turn(&records, 4);
    assert_eq!(
        types(&t),
        [
            "user",
            "tool_call",
            "tool_result",
            "assistant_delta",
            "assistant_message",
            "usage",
            "turn_end"
        ]
    );
    assert_eq!(
        of_type(&t, "tool_call")["input"],
        json!({"command": "echo oops >&2; exit 3"})
    );
    let result = of_type(&t, "tool_result");
    assert_eq!(
        (&result["output"], &result["is_error"]),
        (&"oops\nexit status: 3".into(), &true.into())
    );
    assert_eq!(
        of_type(&t, "assistant_message")["text"],
        "The command `echo oops >&2; exit 3` failed (exit status: 3)."
    );

    // Banner first, prompt last (after EOF a newline).
    assert!(out.starts_with(&format!("demo agent ready (cwd: {cwd})\ndemo> ")));
    assert!(out.ends_with("demo> \n"));
    // The empty line only reprinted the prompt.
    assert_eq!(records.iter().filter(|r| r["type"] == "user").count(), 4);
}

#[test]
fn always_stops_asking() {
    let dir = tempfile::tempdir().unwrap();
    let (_, records) = script(dir.path(), "write a.txt with one\nalways\nwrite a.txt with two\n");
    assert_eq!(of_type(&turn(&records, 1), "permission_answer")["decision"], "always");
    let t = turn(&records, 2);
    assert_eq!(
        types(&t),
        [
            "user",
            "tool_call",
            "tool_result",
            "file_edit",
            "assistant_delta",
            "assistant_message",
            "usage",
            "turn_end"
        ]
    );
    let edit = of_type(&t, "file_edit");
    assert_eq!(edit["description"], "updated a.txt (4 bytes)");
    assert_eq!(edit["diff"], "--- a.txt\n+++ a.txt\n@@ -1 +1 @@\n-one\n+two\n");
    assert_eq!(std::fs::read_to_string(dir.path().join("a.txt")).unwrap(), "two\n");
}

#[test]
fn read_found_and_missing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "alpha\nbeta\n").unwrap();
    let (out, records) = script(dir.path(), "read the file notes.txt\nread missing.txt\nhello there\n");
    let t = turn(&records, 1);
    assert_eq!(of_type(&t, "tool_result")["output"], "alpha\nbeta\n");
    assert!(out.contains("  alpha\n  beta\n"));
    assert_eq!(
        of_type(&t, "assistant_message")["text"],
        "I read notes.txt: it has 2 lines and 11 bytes, and I showed all of it."
    );
    let t = turn(&records, 2);
    let result = of_type(&t, "tool_result");
    assert_eq!(
        (&result["output"], &result["is_error"]),
        (&"no such file".into(), &true.into())
    );
    let t = turn(&records, 3);
    assert_eq!(
        types(&t),
        ["user", "assistant_delta", "assistant_message", "usage", "turn_end"]
    );
    assert!(
        of_type(&t, "assistant_message")["text"]
            .as_str()
            .unwrap()
            .starts_with("You said \"hello there\".")
    );
}

#[test]
fn ctrl_c_at_prompt_and_during_permission() {
    let dir = tempfile::tempdir().unwrap();
    let flag = AtomicBool::new(false);
    let steps = VecDeque::from([
        Some("lis"),
        None, // Ctrl-C at the prompt: the partial line is dropped
        Some("write x.txt with hi\n"),
        None, // Ctrl-C at the permission prompt: deny + abort
        Some("list dir\n"),
    ]);
    let input = BufReader::new(Scripted { steps, flag: &flag });
    let (out, records) = run_in(dir.path(), input, &flag);
    let t = turn(&records, 1);
    assert_eq!(
        types(&t),
        [
            "user",
            "tool_call",
            "permission_request",
            "permission_answer",
            "tool_result",
            "turn_aborted"
        ]
    );
    assert_eq!(of_type(&t, "user")["text"], "write x.txt with hi");
    assert_eq!(of_type(&t, "permission_answer")["decision"], "deny");
    assert_eq!(of_type(&t, "tool_result")["is_error"], true);
    assert!(!dir.path().join("x.txt").exists());
    assert!(out.contains("\n^C turn aborted\ndemo> "));
    // The next message is turn 2 and runs normally.
    assert_eq!(of_type(&turn(&records, 2), "user")["text"], "list dir");
    assert_eq!(of_type(&turn(&records, 2), "turn_end")["status"], "done");
    assert!(out.starts_with(&format!(
        "demo agent ready (cwd: {})\ndemo> \ndemo> ",
        dir.path().display()
    )));
}

#[test]
fn ctrl_c_aborts_a_sleep() {
    let dir = tempfile::tempdir().unwrap();
    let flag = AtomicBool::new(false);
    let start = std::time::Instant::now();
    let (out, records) = std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(300));
            flag.store(true, Ordering::SeqCst);
        });
        run_in(dir.path(), io::Cursor::new("sleep 30\nsleep 0\n"), &flag)
    });
    assert!(start.elapsed() < Duration::from_secs(10));
    let t = turn(&records, 1);
    assert_eq!(types(&t), ["user", "tool_call", "tool_result", "turn_aborted"]);
    assert_eq!(of_type(&t, "tool_call")["input"], json!({"seconds": 30}));
    assert_eq!(of_type(&t, "tool_result")["output"], "aborted");
    assert!(out.contains("^C turn aborted"));
    assert_eq!(
        of_type(&turn(&records, 2), "assistant_message")["text"],
        "I slept for 0 seconds."
    );
}

#[test]
fn read_line_handles_crlf_partial_and_eof() {
    let flag = AtomicBool::new(false);
    let mut input = io::Cursor::new("a\r\nb");
    assert_eq!(read_line(&mut input, &flag).unwrap(), ReadLine::Line("a".into()));
    assert_eq!(read_line(&mut input, &flag).unwrap(), ReadLine::Line("b".into()));
    assert_eq!(read_line(&mut input, &flag).unwrap(), ReadLine::Eof);
}
