//! Scenarios every terminal agent has, run the same way against each real
//! CLI; the per-CLI files script the model and name the tools.

use anyhow::{Context, Result};
use serde_json::{Value, json};
use wasmux_testkit::model_stub::{Reply, Request};

use super::{Cli, LONG, Rig, of, rig, types};

impl Cli {
    /// The text of the last user message of a model request in this CLI's
    /// API dialect.
    pub fn last_user_text(self, r: &Request) -> String {
        match self {
            Cli::Claude => super::claude::last_user_text(r),
            Cli::Codex => super::codex::last_user_text(r),
            Cli::Gemini => super::acp::gemini_last_user_text(r),
            Cli::OpenCode | Cli::Pi => super::acp::chat_last_user_text(r),
        }
    }
}

impl Rig {
    /// Send `prompt`, answer the permission request it raises with
    /// `decision`: the pending request and the finished message.
    pub async fn answered(&self, name: &str, prompt: &str, decision: &str) -> Result<(Value, Value)> {
        let id = self.send(name, prompt).await?;
        let pending = self.permission(name).await?;
        let pid = pending["permissionId"].as_str().context("permissionId")?;
        let url = format!("/sessions/{name}/permissions/{pid}");
        let (status, body) = self.d.post(&url, json!({"decision": decision})).await?;
        assert_eq!(status, 200, "{body}");
        let done = self.done(name, &id).await?;
        Ok((pending, done))
    }

    /// The next model call of `name` carries exactly `prompt` (nothing of an
    /// earlier, interrupted turn was typed into it) and gets `answer`.
    pub async fn next_turn_is_clean(&self, name: &str, prompt: &str, answer: &str) -> Result<()> {
        self.stub.clear();
        self.stub.push(Reply::text(answer));
        let w = self.send_wait(name, prompt).await?;
        let evs = self.events(name).await?;
        let seen: Vec<String> = evs
            .iter()
            .map(|e| {
                format!(
                    "{} {}",
                    e["type"],
                    e.get("value").or(e.get("message")).unwrap_or(&Value::Null)
                )
            })
            .collect();
        assert_eq!(w["status"], "done", "{w}\n{}", self.pane(name));
        assert_eq!(w["response"], answer, "{w}\n{seen:#?}");
        let calls = self.stub.model_calls();
        assert_eq!(self.cli.last_user_text(calls.last().context("a call")?), prompt);
        Ok(())
    }
}

/// The message's response ends with `answer` (the final text of the turn).
pub fn assert_final_answer(done: &Value, answer: &str) {
    assert!(
        done["response"].as_str().unwrap_or_default().ends_with(answer),
        "{done}"
    );
}

/// The turn's call of `tool` has a successful result whose output holds
/// `output`.
pub fn assert_successful_call(turn: &[Value], tool: &str, output: &str) -> Result<()> {
    let call = of(turn, "tool-call")
        .into_iter()
        .find(|e| e["name"] == tool)
        .with_context(|| format!("the {tool} call"))?;
    let result = of(turn, "tool-result")
        .into_iter()
        .find(|e| e["callId"] == call["callId"])
        .context("its result")?;
    assert_eq!(result["isError"], false, "{result}");
    assert!(result["output"].to_string().contains(output), "{result}");
    Ok(())
}

/// An approved request: one `file-edit`, and the state left
/// `waiting-permission` for `working`, then ended `idle`.
pub fn assert_approved_edit(evs: &[Value]) -> Result<()> {
    let edits = of(evs, "file-edit");
    assert_eq!(edits.len(), 1, "{:?}", types(evs));
    assert!(edits[0]["filePath"].as_str().unwrap_or_default().ends_with("hello.py"));
    let states: Vec<&str> = of(evs, "state").iter().filter_map(|e| e["value"].as_str()).collect();
    let waiting = states
        .iter()
        .rposition(|s| *s == "waiting-permission")
        .context("waiting")?;
    assert!(states[waiting + 1..].contains(&"working"), "{states:?}");
    assert_eq!(states.last(), Some(&"idle"), "{states:?}");
    Ok(())
}

/// A refused `tool` call: no `file-edit` and no successful result for it.
pub fn assert_refused(evs: &[Value], tool: &str) -> Result<()> {
    assert!(of(evs, "file-edit").is_empty(), "{evs:#?}");
    let call = of(evs, "tool-call")
        .into_iter()
        .find(|e| e["name"] == tool)
        .with_context(|| format!("the {tool} call"))?
        .clone();
    let ok = of(evs, "tool-result")
        .into_iter()
        .any(|e| e["callId"] == call["callId"] && e["isError"] == false);
    assert!(!ok, "a refused {tool} has no successful result: {evs:#?}");
    Ok(())
}

/// Abort while the model's reply streams: the message is aborted and the
/// next turn gets only its own answer.
pub async fn abort_during_a_streaming_reply(cli: Cli, name: &str) -> Result<()> {
    let r = rig(cli).await?;
    r.start(name).await?;
    r.stub.push(
        Reply::new(20, 30)
            .then_text("Starting a long answer, ")
            .then_hold()
            .then_text("never seen."),
    );
    let id = r.send(name, "Write a long essay").await?;
    r.d.wait_for(LONG, "the reply to be streaming", || async {
        Ok((r.stub.holding() == 1).then_some(()))
    })
    .await?;
    let (status, body) = r.d.post(&format!("/sessions/{name}/abort"), json!({})).await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["aborted"], id.as_str(), "{body}");
    let done = r.done(name, &id).await?;
    assert_eq!(done["status"], "aborted", "{done}");
    r.stub.release();
    r.wait_state(name, "idle").await?;
    r.next_turn_is_clean(name, "Say something short", "Short answer.").await
}

/// A turn, `reset`, then a turn that gets its own answer.
pub async fn reset_then_a_turn(cli: Cli, name: &str) -> Result<()> {
    let r = rig(cli).await?;
    r.start(name).await?;
    r.stub.push(Reply::text("First answer."));
    let w = r.send_wait(name, "First question").await?;
    assert_eq!(w["response"], "First answer.", "{w}");
    let (status, body) = r.d.post(&format!("/sessions/{name}/reset"), json!({})).await?;
    assert_eq!(status, 200, "{body}");
    r.wait_state(name, "idle").await?;
    r.stub.push(Reply::text("Second answer."));
    let w = r.send_wait(name, "Second question").await?;
    assert_eq!(w["status"], "done", "{w}\n{}", r.pane(name));
    assert_eq!(w["response"], "Second answer.", "{w}");
    Ok(())
}

/// Two sessions started one after the other under one `HOME`: each stores
/// only its own answer (each bound its own transcript).
pub async fn two_sessions_back_to_back(cli: Cli, a: &str, b: &str) -> Result<()> {
    let r = rig(cli).await?;
    r.start(a).await?;
    r.stub.push(Reply::text("Answer for A."));
    let w = r.send_wait(a, "Question A").await?;
    assert_eq!(w["response"], "Answer for A.", "{w}");
    r.start(b).await?;
    r.stub.push(Reply::text("Answer for B."));
    let w = r.send_wait(b, "Question B").await?;
    assert_eq!(w["status"], "done", "{w}\n{}", r.pane(b));
    assert_eq!(w["response"], "Answer for B.", "{w}");
    for (name, own) in [(a, "Answer for A."), (b, "Answer for B.")] {
        let evs = r.events(name).await?;
        let msgs: Vec<&str> = of(&evs, "message")
            .iter()
            .filter_map(|e| e["message"].as_str())
            .collect();
        assert_eq!(msgs, [own], "{name}: {msgs:?}");
    }
    Ok(())
}

/// Abort while a permission dialog is open: the message is aborted, the
/// request is resolved `cancelled`, a later answer gets 409, the file is
/// untouched and the next turn gets only its own prompt. `script` queues
/// the model's edit of `hello.py`.
pub async fn abort_while_a_permission_dialog_is_open(cli: Cli, name: &str, script: impl Fn(&Rig)) -> Result<()> {
    let r = rig(cli).await?;
    r.start(name).await?;
    script(&r);
    let id = r.send(name, "Change the greeting to say hello, world").await?;
    let pending = r.permission(name).await?;
    let pid = pending["permissionId"].as_str().context("permissionId")?.to_string();
    let (status, body) = r.d.post(&format!("/sessions/{name}/abort"), json!({})).await?;
    assert_eq!(status, 200, "{body}");
    let done = r.done(name, &id).await?;
    assert_eq!(done["status"], "aborted", "{done}");
    let url = format!("/sessions/{name}/permissions/{pid}");
    let (status, body) = r.d.post(&url, json!({"decision": "allow"})).await?;
    assert_eq!(status, 409, "{body}");
    let evs = r.events(name).await?;
    let resolved = of(&evs, "permission-resolved");
    assert_eq!(resolved.len(), 1, "{evs:#?}");
    assert_eq!(resolved[0]["decision"], "cancelled");
    r.wait_state(name, "idle").await?;
    assert_eq!(
        std::fs::read_to_string(r.project.join("hello.py"))?,
        "print(\"Hello\")\n"
    );
    r.next_turn_is_clean(name, "Say hi", "Hi there.").await
}

/// The model's call of `cli`'s shell tool running `cmd` (Codex asks to
/// leave its read-only sandbox, which needs approval).
pub fn shell_call(cli: Cli, cmd: &str) -> (&'static str, Value) {
    match cli {
        Cli::Claude => ("Bash", json!({"command": cmd, "description": "Run it"})),
        Cli::Codex => (
            "exec_command",
            json!({"cmd": cmd, "sandbox_permissions": "require_escalated", "justification": "Create the file"}),
        ),
        Cli::Gemini => ("run_shell_command", json!({"command": cmd, "description": "Run it"})),
        Cli::OpenCode => ("bash", json!({"command": cmd, "description": "Run it"})),
        Cli::Pi => ("bash", json!({"command": cmd})),
    }
}

/// Successful `tool-result`s of the last turn.
fn successes(evs: &[Value]) -> usize {
    of(super::last_turn(evs), "tool-result")
        .iter()
        .filter(|e| e["isError"] == false)
        .count()
}

/// A shell command denied (nothing runs, no successful result), allowed
/// (it runs), allowed always (it runs, and — when `always_covers_it` — the
/// same command in the next turn runs without asking; otherwise it asks
/// again and is allowed). The rig, for the caller's own checks.
pub async fn shell_command_permissions(cli: Cli, name: &str, always_covers_it: bool) -> Result<Rig> {
    let r = rig(cli).await?;
    r.start(name).await?;
    let script = |cmd: &str, answer: &str| {
        r.stub.clear();
        let (tool, input) = shell_call(cli, cmd);
        r.stub.push(Reply::new(30, 20).then_tool(tool, input));
        r.stub.push(Reply::new(40, 10).then_text(answer));
    };
    let file = |f: &str| r.project.join(f);

    script("touch denied.txt", "Not made.");
    let (pending, done) = r.answered(name, "Make denied.txt", "deny").await?;
    r.wait_state(name, "idle").await?;
    assert!(!file("denied.txt").exists(), "{pending}\n{done}");
    let evs = r.events(name).await?;
    assert_eq!(
        successes(&evs),
        0,
        "a denied command has no successful result: {evs:#?}"
    );

    script("touch allowed.txt", "Made it.");
    let (_, done) = r.answered(name, "Make allowed.txt", "allow").await?;
    assert_eq!(done["status"], "done", "{done}\n{}", r.pane(name));
    assert_final_answer(&done, "Made it.");
    assert!(file("allowed.txt").exists());
    assert_eq!(successes(&r.events(name).await?), 1);
    r.wait_state(name, "idle").await?;

    script("touch always.txt", "Made it again.");
    let (_, done) = r.answered(name, "Make always.txt", "always").await?;
    assert_eq!(done["status"], "done", "{done}\n{}", r.pane(name));
    assert!(file("always.txt").exists());
    r.wait_state(name, "idle").await?;
    std::fs::remove_file(file("always.txt"))?;

    script("touch always.txt", "Made it once more.");
    let w = if always_covers_it {
        r.send_wait(name, "Make always.txt once more").await?
    } else {
        r.answered(name, "Make always.txt once more", "allow").await?.1
    };
    assert_eq!(w["status"], "done", "{w}\n{}", r.pane(name));
    assert_final_answer(&w, "Made it once more.");
    assert!(file("always.txt").exists(), "the command allowed always ran again");
    let evs = r.events(name).await?;
    let turn = super::last_turn(&evs);
    let asked = of(turn, "permission-request").len();
    assert_eq!(asked, usize::from(!always_covers_it), "{:?}", types(turn));
    assert_eq!(successes(&evs), 1, "{:?}", types(turn));
    Ok(r)
}

/// The daemon is SIGKILLed while the model's reply streams; the agent
/// finishes the reply while the daemon is down; after the restart the
/// interrupted message is reconciled — done, with the answer the agent
/// finished — and the next turn gets only its own answer.
pub async fn sigkill_mid_turn_then_a_turn(cli: Cli, name: &str) -> Result<()> {
    let mut r = rig(cli).await?;
    r.start(name).await?;
    r.stub.push(
        Reply::new(20, 30)
            .then_text("Working on it, ")
            .then_hold()
            .then_text("finished while the daemon was down."),
    );
    let id = r.send(name, "Write a long essay").await?;
    r.d.wait_for(LONG, "the reply to be streaming", || async {
        Ok((r.stub.holding() == 1).then_some(()))
    })
    .await?;
    let before = r.d.get(&format!("/sessions/{name}/messages/{id}")).await?.1;
    assert_eq!(
        before["status"],
        "running",
        "{before}\n{:#?}\n{}",
        r.events(name).await?,
        r.diagnostics(name)
    );
    r.d.kill9();
    r.stub.release();
    r.d.wait_for(LONG, "the reply to finish", || async {
        Ok((r.stub.holding() == 0).then_some(()))
    })
    .await?;
    r.d.restart().await?;
    let done = r.done(name, &id).await?;
    assert_eq!(done["status"], "done", "{done}\n{}", r.diagnostics(name));
    assert_final_answer(&done, "finished while the daemon was down.");
    r.wait_state(name, "idle").await?;
    r.next_turn_is_clean(name, "Say something short", "Short answer.").await
}

/// Steer while the model's reply streams (before its tool call): the
/// steer is typed into the running turn (`mode: steer`) and the agent's
/// next model call carries it as the newest user text.
pub async fn steer_reaches_the_running_turn(
    cli: Cli,
    name: &str,
    tool: impl Fn(&Rig) -> (&'static str, Value),
) -> Result<()> {
    let r = rig(cli).await?;
    r.start(name).await?;
    let tool = tool(&r);
    r.stub.push(
        Reply::new(30, 20)
            .then_text("Looking.")
            .then_hold()
            .then_tool(tool.0, tool.1),
    );
    r.stub.push(Reply::new(60, 40).then_text("Steered answer."));
    let id = r.send(name, "What does this project do?").await?;
    r.d.wait_for(LONG, "the reply to be streaming", || async {
        Ok((r.stub.holding() == 1).then_some(()))
    })
    .await?;
    let (status, s) =
        r.d.post(&format!("/sessions/{name}/steer"), json!({"text": "mind the tests"}))
            .await?;
    assert_eq!((status.as_u16(), s["mode"].as_str()), (200, Some("steer")), "{s}");
    r.stub.release();
    let done = r.done(name, &id).await?;
    assert_eq!(done["status"], "done", "{done}\n{}", r.diagnostics(name));
    let calls = r.stub.wait_model_calls(2, LONG).await?;
    let texts: Vec<String> = calls.iter().map(|c| cli.last_user_text(c)).collect();
    assert!(
        texts.iter().any(|t| t.contains("mind the tests")),
        "no model call carried the steer: {texts:?}\n{}",
        r.diagnostics(name)
    );
    let evs = r.events(name).await?;
    assert_eq!(of(&evs, "steer").len(), 1, "{:?}", types(&evs));
    Ok(())
}

/// Text left unsubmitted in the agent's input (a daemon killed between a
/// prompt's text and its Enter, or a person who typed and walked away)
/// is never merged into the next prompt: the model gets only the message.
pub async fn leftover_input_is_not_merged_into_the_next_prompt(cli: Cli, name: &str) -> Result<()> {
    let r = rig(cli).await?;
    r.start(name).await?;
    let socket = r.d.tmux_socket();
    crate::harness::tmux(
        &socket,
        &["send-keys", "-t", &format!("={name}:"), "-l", "LEFTOVER words"],
    )?;
    r.d.wait_for(LONG, "the leftover on screen", || async {
        Ok(r.pane(name).contains("LEFTOVER").then_some(()))
    })
    .await?;
    r.stub.push(Reply::text("Only the message."));
    let w = r.send_wait(name, "Question after a leftover").await?;
    assert_eq!(w["status"], "done", "{w}\n{}", r.pane(name));
    let calls = r.stub.model_calls();
    let text = cli.last_user_text(calls.last().context("a model call")?);
    assert_eq!(text.trim(), "Question after a leftover", "the model got: {text:?}");
    Ok(())
}
