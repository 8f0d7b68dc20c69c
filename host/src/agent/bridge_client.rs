//! The daemon's side of `wasmux bridge`: protocol lines from the provider
//! go to the bridge's Unix socket (and on to the agent's stdin).

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::actions::ProtocolSink;

/// A (re)connecting client of one bridge socket.
pub struct BridgeClient {
    path: PathBuf,
    conn: Mutex<Option<UnixStream>>,
}

impl BridgeClient {
    /// A client of the socket at `path` (connected lazily).
    pub fn new(path: PathBuf) -> BridgeClient {
        BridgeClient {
            path,
            conn: Mutex::new(None),
        }
    }

    fn connect(&self) -> Result<UnixStream, String> {
        // The bridge may still be starting: retry briefly.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match UnixStream::connect(&self.path) {
                Ok(s) => {
                    let _ = s.set_write_timeout(Some(Duration::from_secs(5)));
                    return Ok(s);
                }
                Err(e) if Instant::now() > deadline => {
                    return Err(format!(
                        "cannot reach the agent's bridge at {}: {e}",
                        self.path.display()
                    ));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }
}

impl ProtocolSink for BridgeClient {
    fn send_line(&self, line: &str) -> Result<(), String> {
        if line.contains('\n') {
            return Err("a protocol line cannot contain a newline".into());
        }
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        for _ in 0..2 {
            if conn.is_none() {
                *conn = Some(self.connect()?);
            }
            let s = conn.as_mut().expect("connected");
            if s.write_all(format!("{line}\n").as_bytes())
                .and_then(|_| s.flush())
                .is_ok()
            {
                return Ok(());
            }
            *conn = None; // reconnect once (bridge restarted)
        }
        Err("writing to the agent's bridge failed".into())
    }
}
