//! The `wasmux` command line: the daemon (`serve`) and thin clients of its
//! HTTP API. Exit codes: 0 ok, 1 failure, 2 usage, 3 daemon unreachable,
//! 4 not found, 5 rejected (conflict, queue full), 6 the turn failed.

mod client;
mod logs_cmd;
mod open_cmd;
mod plugin_cmd;
mod plugins_cmd;
mod session_cmds;

pub use client::{CliError, Client};

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

use crate::events::Decision;

/// Host AI coding agents in tmux; stream, queue, and extend them with WASM.
#[derive(Parser, Debug)]
#[command(
    name = "wasmux",
    version,
    about,
    after_help = "Client commands find the daemon through the state dir's daemon.json (written by `wasmux serve`), \
or WASMUX_URL; the token comes from WASMUX_TOKEN or the state dir's token file. Exit codes: 0 ok, 1 failure, \
2 usage, 3 daemon unreachable, 4 not found, 5 rejected (conflict, queue full), 6 the turn failed."
)]
pub struct Cli {
    /// Which daemon to talk to.
    #[command(flatten)]
    pub daemon: DaemonArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Where the daemon is and how to authenticate to it.
#[derive(clap::Args, Debug, Clone)]
pub struct DaemonArgs {
    /// State directory (default: $XDG_STATE_HOME/wasmux).
    #[arg(long, global = true, env = "WASMUX_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// Daemon URL for client commands (default: from the state dir's daemon.json).
    #[arg(long, global = true, env = "WASMUX_URL")]
    pub url: Option<String>,
    /// API token for client commands (default: the state dir's token file).
    #[arg(long, global = true, env = "WASMUX_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

impl DaemonArgs {
    /// A client of the daemon these arguments name.
    pub fn client(&self) -> Result<Client, CliError> {
        Client::discover(self.state_dir.clone(), self.url.clone(), self.token.clone())
    }

    /// The state directory, resolved.
    pub fn state_dir(&self) -> PathBuf {
        self.state_dir.clone().unwrap_or_else(crate::config::default_state_dir)
    }
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the daemon.
    Serve(ServeArgs),
    /// List sessions.
    Ls {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The outbox of integration replies: each delivery's status, attempts
    /// and last error, newest first.
    Deliveries {
        /// Only `pending`, `attempting`, `delivered` or `failed`.
        #[arg(long)]
        status: Option<crate::store::DeliveryStatus>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Create a session: `wasmux new NAME --provider P [-- ARGS]`.
    New(session_cmds::NewArgs),
    /// Queue a message (`--wait` prints the response).
    Send(session_cmds::SendArgs),
    /// Type into the running turn, or queue if idle.
    Steer {
        /// Session.
        name: String,
        /// Text.
        text: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Interrupt the running turn.
    Abort {
        /// Session.
        name: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Start the session's agent again: an exited session gets a new pane
    /// (its log and seq numbering continue); a running one is relaunched,
    /// its queue kept.
    Restart {
        /// Session.
        name: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Clear the queue, abort the turn and restart the agent.
    Reset {
        /// Session.
        name: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Kill a session's agent and delete the session.
    Rm {
        /// Session.
        name: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show state, running turn, queue and pending permissions.
    State {
        /// Session.
        name: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Answer a permission request: allow, deny or always.
    Permit {
        /// Session.
        name: String,
        /// Permission id.
        id: String,
        /// The answer.
        #[arg(value_enum)]
        decision: Decision,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print a session's events (`-f` follows).
    Logs(logs_cmd::LogsArgs),
    /// Open the session's tmux pane here (`--print` shows the command).
    Attach {
        /// Session.
        name: String,
        /// Print the tmux command instead of running it.
        #[arg(long)]
        print: bool,
    },
    /// Print (and open in a browser) a one-time sign-in link to the web console.
    Open {
        /// Land on this session's page.
        name: Option<String>,
        /// Only print the link.
        #[arg(long)]
        print: bool,
    },
    /// Inspect, check and reload plugins.
    #[command(subcommand)]
    Plugins(plugins_cmd::PluginsCommand),
    /// A fake coding agent for the terminal (no API key): the `demo` provider runs it.
    DemoAgent(wasmux_demo_agent::DemoArgs),
    /// Run an agent that speaks a protocol on stdio inside a pane: its
    /// output goes to DIR/protocol.jsonl and is shown readably; lines on
    /// DIR/bridge.sock go to its stdin. Providers start this themselves.
    Bridge {
        /// Session directory.
        #[arg(long)]
        dir: PathBuf,
        /// The agent command.
        #[arg(last = true, required = true)]
        agent: Vec<String>,
    },
    /// Plugin author tools.
    #[command(subcommand)]
    Plugin(plugin_cmd::PluginCommand),
    /// (internal) Record a pane's raw output into DIR; run by tmux `pipe-pane`.
    #[command(hide = true)]
    PipeSink {
        /// Directory for the raw files.
        dir: PathBuf,
    },
}

/// Options of `wasmux serve`.
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Config file (TOML). Also `WASMUX_CONFIG`.
    #[arg(long, env = "WASMUX_CONFIG")]
    pub config: Option<PathBuf>,
    /// Listen address (default 127.0.0.1:7420).
    #[arg(long)]
    pub listen: Option<std::net::SocketAddr>,
    /// Folder of drop-in plugins (default <state-dir>/plugins).
    #[arg(long)]
    pub plugins_dir: Option<PathBuf>,
    /// Log lines as `text` or `json` (one object per line). Also
    /// `WASMUX_LOG_FORMAT`.
    #[arg(long, value_enum, env = "WASMUX_LOG_FORMAT", default_value = "text")]
    pub log_format: crate::logging::LogFormat,
}

fn init_tracing(default: &str) {
    crate::logging::init(default, crate::logging::LogFormat::Text);
}

/// Parse arguments and run; the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("wasmux: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(run(cli));
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("wasmux: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// Client commands die quietly on a closed pipe (`wasmux logs x | head`)
/// instead of panicking in `println!`; the daemon and the pane helpers keep
/// SIGPIPE ignored and see `EPIPE`.
fn quiet_on_broken_pipe() {
    // SAFETY: restoring the default disposition of one signal at start-up,
    // before any thread that could race on it exists.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
}

async fn run(cli: Cli) -> Result<ExitCode, CliError> {
    let daemon = cli.daemon;
    match cli.command {
        Command::Serve(args) => {
            crate::logging::init("info", args.log_format);
            let mut config =
                crate::config::Config::load(args.config.as_deref()).map_err(|e| CliError::Other(e.to_string()))?;
            if let Some(dir) = daemon.state_dir {
                config.state_dir = Some(dir);
            }
            if let Some(listen) = args.listen {
                config.listen = listen;
            }
            if let Some(dir) = args.plugins_dir {
                config.plugins_dir = Some(dir);
            }
            crate::server::run(config, args.config)
                .await
                .map_err(|e| CliError::Other(format!("{e:#}")))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Plugins(cmd) => {
            init_tracing("warn");
            quiet_on_broken_pipe();
            plugins_cmd::run(cmd, &daemon).await
        }
        Command::DemoAgent(args) => Ok(wasmux_demo_agent::main(args)),
        Command::Bridge { dir, agent } => Ok(crate::bridge::run(&dir, &agent)),
        Command::Plugin(cmd) => {
            init_tracing("warn");
            plugin_cmd::run(cmd).await
        }
        Command::Attach { name, print } => session_cmds::attach(&daemon.state_dir(), &name, print),
        Command::PipeSink { dir } => {
            crate::tmux::sink::run(&dir).map_err(|e| CliError::Other(format!("pipe-sink: {e}")))?;
            Ok(ExitCode::SUCCESS)
        }
        other => {
            init_tracing("warn");
            quiet_on_broken_pipe();
            let client = daemon.client()?;
            client_command(&client, other).await
        }
    }
}

async fn client_command(client: &Client, cmd: Command) -> Result<ExitCode, CliError> {
    use reqwest::Method;
    match cmd {
        Command::Ls { json } => session_cmds::ls(client, json).await,
        Command::Deliveries { status, json } => session_cmds::deliveries(client, status, json).await,
        Command::New(a) => session_cmds::new(client, a).await,
        Command::Send(a) => session_cmds::send(client, a).await,
        Command::Steer { name, text, json } => session_cmds::steer(client, &name, &text, json).await,
        Command::Abort { name, json } => {
            session_cmds::simple(
                client,
                Method::POST,
                &format!("/sessions/{name}/abort"),
                json,
                |r| match r["aborted"].as_str() {
                    Some(id) => format!("aborted {id}"),
                    None => "no turn was running".into(),
                },
            )
            .await
        }
        Command::Restart { name, json } => {
            session_cmds::simple(client, Method::POST, &format!("/sessions/{name}/restart"), json, |r| {
                format!("restarted {}", r["name"].as_str().unwrap_or(""))
            })
            .await
        }
        Command::Reset { name, json } => {
            session_cmds::simple(client, Method::POST, &format!("/sessions/{name}/reset"), json, |_| {
                "agent restarted, queue cleared".into()
            })
            .await
        }
        Command::Rm { name, json } => {
            session_cmds::simple(client, Method::DELETE, &format!("/sessions/{name}"), json, |r| {
                format!("deleted {}", r["name"].as_str().unwrap_or(""))
            })
            .await
        }
        Command::State { name, json } => session_cmds::state(client, &name, json).await,
        Command::Permit {
            name,
            id,
            decision,
            json,
        } => {
            let r = client
                .post(
                    &format!("/sessions/{name}/permissions/{id}"),
                    &serde_json::json!({"decision": decision.as_str()}),
                )
                .await?;
            if json {
                println!("{r}");
            } else {
                println!("{id}: {}", decision.as_str());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Logs(a) => logs_cmd::logs(client, a).await,
        Command::Open { name, print } => open_cmd::open(client, name.as_deref(), print).await,
        _ => Err(CliError::Other("not a client command".into())),
    }
}
