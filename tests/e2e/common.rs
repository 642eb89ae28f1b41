//! The test harness: starts the real `tally` binary on 127.0.0.1 (port 0,
//! read back from its stdout) with a temp data folder, and a small blocking
//! HTTP client. Killing the child process is a real SIGKILL.

use rust_decimal::Decimal;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Mutex};
use std::time::Duration;

/// The bearer key every test server uses.
pub(crate) const KEY: &str = "test-key-0123456789abcdef";

/// A running server process.
pub(crate) struct Server {
    child: Mutex<Child>,
    /// `http://127.0.0.1:PORT`.
    pub(crate) base: String,
    agent: ureq::Agent,
}

/// A response: status, parsed JSON body (Null if not JSON), replay header.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: Value,
    pub(crate) replayed: bool,
}

impl Reply {
    /// The error code of an error body.
    pub(crate) fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

impl Server {
    /// Starts a server over `data_dir` with extra `TALLY_*` settings.
    pub(crate) fn start_with(data_dir: &Path, env: &[(&str, &str)]) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tally"));
        command
            .env("TALLY_LISTEN", "127.0.0.1:0")
            .env("TALLY_DATA_DIR", data_dir)
            .env("TALLY_API_KEY", KEY)
            .env("TALLY_SHARDS", "2")
            .env("TALLY_HTTP_WORKERS", "2")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("spawn tally");
        let stdout = child.stdout.take().expect("stdout");
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(base) = line.strip_prefix("tally listening on ") {
                    let _ = sender.send(base.to_owned());
                }
            }
        });
        let base = receiver
            .recv_timeout(Duration::from_secs(60))
            .expect("server printed its address");
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(60))
            .build();
        Server {
            child: Mutex::new(child),
            base,
            agent,
        }
    }

    /// Starts a server over `data_dir` with default settings.
    pub(crate) fn start(data_dir: &Path) -> Server {
        Server::start_with(data_dir, &[])
    }

    /// SIGKILL, and wait for the process to be gone. Clients may still hold
    /// the server; their next request fails to connect.
    pub(crate) fn kill(&self) {
        let mut child = self.child.lock().expect("child");
        let _ = child.kill();
        let _ = child.wait();
    }

    /// SIGTERM while clients may still hold the server; waits for the exit.
    pub(crate) fn terminate_in_place(&self) -> Option<i32> {
        let mut child = self.child.lock().expect("child");
        let pid = child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill -TERM");
        assert!(sent.success());
        child.wait().expect("wait").code()
    }

    /// SIGTERM; returns the exit status code.
    pub(crate) fn terminate(self) -> Option<i32> {
        self.terminate_in_place()
    }

    /// A request with the test key; `key` sets Idempotency-Key.
    pub(crate) fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        key: Option<&str>,
    ) -> Reply {
        self.raw(
            method,
            path,
            body,
            &[("Authorization", &format!("Bearer {KEY}"))],
            key,
        )
    }

    /// A request with exactly the given headers.
    pub(crate) fn raw(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        headers: &[(&str, &str)],
        key: Option<&str>,
    ) -> Reply {
        let mut request = self
            .agent
            .request(method, &format!("{}{}", self.base, path));
        for (name, value) in headers {
            request = request.set(name, value);
        }
        if let Some(key) = key {
            request = request.set("Idempotency-Key", key);
        }
        let result = match body {
            Some(body) => request
                .set("Content-Type", "application/json")
                .send_string(body),
            None => request.call(),
        };
        let response = match result {
            Ok(response) => response,
            Err(ureq::Error::Status(_, response)) => response,
            Err(error) => panic!("{method} {path}: transport error {error}"),
        };
        let status = response.status();
        let replayed = response.header("Idempotent-Replayed") == Some("true");
        let text = response.into_string().unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            body,
            replayed,
        }
    }

    /// Like `call`, but transport errors (server gone) are `None`.
    pub(crate) fn try_call(
        &self,
        method: &str,
        path: &str,
        body: &str,
        key: Option<&str>,
    ) -> Option<Reply> {
        let mut request = self
            .agent
            .request(method, &format!("{}{}", self.base, path))
            .set("Authorization", &format!("Bearer {KEY}"))
            .set("Content-Type", "application/json");
        if let Some(key) = key {
            request = request.set("Idempotency-Key", key);
        }
        let response = match request.send_string(body) {
            Ok(response) => response,
            Err(ureq::Error::Status(_, response)) => response,
            Err(ureq::Error::Transport(_)) => return None,
        };
        let status = response.status();
        let replayed = response.header("Idempotent-Replayed") == Some("true");
        let text = response.into_string().ok()?;
        Some(Reply {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
            replayed,
        })
    }

    /// The `/metrics` exposition text.
    pub(crate) fn metrics_text(&self) -> String {
        let response = self
            .agent
            .get(&format!("{}/metrics", self.base))
            .call()
            .expect("scrape");
        response.into_string().expect("text")
    }

    /// The value of an unlabelled metric from `/metrics`.
    pub(crate) fn metric(&self, name: &str) -> Option<f64> {
        self.metrics_text().lines().find_map(|line| {
            line.strip_prefix(name)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
    }

    /// Creates a USD wallet at rate 1 and returns its id.
    pub(crate) fn wallet(&self, paid: &str, granted: &str) -> String {
        let body = format!(
            r#"{{"external_customer_id":"cus_test","currency":"USD","rate_amount":"1","paid_credits":"{paid}","granted_credits":"{granted}"}}"#
        );
        let reply = self.call("POST", "/v1/wallets", Some(&body), None);
        assert_eq!(reply.status, 201, "{:?}", reply.body);
        reply.body["id"].as_str().expect("id").to_owned()
    }

    /// The wallet's JSON.
    pub(crate) fn get_wallet(&self, id: &str) -> Value {
        let reply = self.call("GET", &format!("/v1/wallets/{id}"), None, None);
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        reply.body
    }

    /// Every ledger entry of a wallet, newest first, following cursors.
    pub(crate) fn ledger(&self, id: &str) -> Vec<Value> {
        let mut entries = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(cursor) => {
                    format!("/v1/wallets/{id}/wallet-transactions?limit=1000&cursor={cursor}")
                }
                None => format!("/v1/wallets/{id}/wallet-transactions?limit=1000"),
            };
            let reply = self.call("GET", &path, None, None);
            assert_eq!(reply.status, 200, "{:?}", reply.body);
            entries.extend(reply.body["data"].as_array().expect("data").iter().cloned());
            match reply.body["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        entries
    }

    /// Checks that the ledger sums to the wallet's balances and that its
    /// sequence numbers are 1..=n with no gap; returns the entries.
    pub(crate) fn assert_ledger_matches_balance(&self, id: &str) -> Vec<Value> {
        let wallet = self.get_wallet(id);
        let entries = self.ledger(id);
        let (mut paid, mut granted) = (Decimal::ZERO, Decimal::ZERO);
        for entry in &entries {
            if entry["direction"] == "internal" {
                continue;
            }
            let sign = if entry["direction"] == "inbound" {
                Decimal::ONE
            } else {
                -Decimal::ONE
            };
            paid += sign * dec(&entry["paid_credits"]);
            granted += sign * dec(&entry["granted_credits"]);
        }
        assert_eq!(
            paid,
            dec(&wallet["balance"]["paid_credits"]),
            "paid of {id}"
        );
        assert_eq!(
            granted,
            dec(&wallet["balance"]["granted_credits"]),
            "granted of {id}"
        );
        let mut seqs: Vec<u64> = entries
            .iter()
            .map(|e| e["sequence"].as_u64().expect("seq"))
            .collect();
        seqs.sort_unstable();
        let expected: Vec<u64> = (1..=entries.len() as u64).collect();
        assert_eq!(seqs, expected, "sequence numbers of {id}");
        assert_eq!(wallet["sequence"].as_u64(), Some(entries.len() as u64));
        entries
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(child) = self.child.get_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs `tally verify` on a data folder no server has open; returns
/// (exit code, stdout).
pub(crate) fn verify_offline(data_dir: &Path) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_tally"))
        .arg("verify")
        .arg("--data-dir")
        .arg(data_dir)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run tally verify");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

/// A JSON string field as an exact decimal.
pub(crate) fn dec(value: &Value) -> Decimal {
    value
        .as_str()
        .unwrap_or_else(|| panic!("expected a decimal string, got {value}"))
        .parse()
        .expect("decimal")
}

/// A fresh temp folder for a data dir.
pub(crate) fn data_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

/// A fixed instant tests move a manual clock to first (well after any real
/// "now" the server starts at, so setting it never runs the clock backwards).
pub(crate) const EPOCH: &str = "2040-01-01T00:00:00Z";

/// Seconds in a day.
pub(crate) const DAY: u64 = 86_400;

impl Server {
    /// Starts a server on a manual clock set to [`EPOCH`], with extra settings.
    pub(crate) fn start_manual(data_dir: &Path, env: &[(&str, &str)]) -> Server {
        let mut all = vec![("TALLY_CLOCK", "manual")];
        all.extend_from_slice(env);
        let server = Server::start_with(data_dir, &all);
        server.set_clock(EPOCH);
        server
    }

    /// A request with a JSON body built by `serde_json::json!`.
    pub(crate) fn send(&self, method: &str, path: &str, body: &Value) -> Reply {
        self.call(method, path, Some(&body.to_string()), None)
    }

    /// Moves the manual clock to `now` (RFC 3339) and runs what came due.
    pub(crate) fn set_clock(&self, now: &str) -> Reply {
        let reply = self.send(
            "POST",
            "/v1/admin/clock",
            &serde_json::json!({ "now": now }),
        );
        assert_eq!(reply.status, 200, "set clock: {:?}", reply.body);
        reply
    }

    /// Moves the manual clock forward and runs what came due.
    pub(crate) fn advance(&self, seconds: u64) -> Reply {
        let body = serde_json::json!({ "advance_seconds": seconds });
        let reply = self.send("POST", "/v1/admin/clock", &body);
        assert_eq!(reply.status, 200, "advance clock: {:?}", reply.body);
        reply
    }

    /// Creates a wallet from a JSON body; returns its view.
    pub(crate) fn create_wallet(&self, body: &Value) -> Value {
        let reply = self.send("POST", "/v1/wallets", body);
        assert_eq!(reply.status, 201, "create wallet: {:?}", reply.body);
        reply.body
    }

    /// Events of a wallet, oldest first, as listed by `GET /v1/events`.
    pub(crate) fn events_of(&self, wallet: &str) -> Vec<Value> {
        let reply = self.call("GET", "/v1/events?limit=1000", None, None);
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        reply.body["data"]
            .as_array()
            .expect("data")
            .iter()
            .filter(|event| event["wallet_id"] == wallet)
            .cloned()
            .collect()
    }

    /// `GET /v1/admin/verify` must report a consistent store.
    pub(crate) fn assert_verified(&self) {
        let reply = self.call("GET", "/v1/admin/verify", None, None);
        assert_eq!(reply.status, 200);
        assert_eq!(reply.body["consistent"], true, "{:?}", reply.body);
    }
}

/// The `type`s of events, in order.
pub(crate) fn event_types(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|event| event["type"].as_str().unwrap_or("").to_owned())
        .collect()
}
