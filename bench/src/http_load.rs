//! The HTTP load generator (raw HTTP/1.1 keep-alive over tokio, one runtime
//! thread so the server keeps most of the CPU) and the server processes it
//! drives: the real `tally` binary and the `http-ceiling` bare handler.

use crate::report::{rss_mib, Measurement};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The bearer key of benchmark servers.
pub(crate) const KEY: &str = "bench-key-0123456789abcdef";

/// A server process that is killed when dropped.
pub(crate) struct ServerProcess {
    child: Child,
    pub(crate) addr: SocketAddr,
}

impl ServerProcess {
    /// Starts `program args` with `env`, waiting for "… listening on http://ADDR".
    pub(crate) fn start(
        program: &Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> anyhow::Result<ServerProcess> {
        let mut command = Command::new(program);
        command
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
        let mut lines = BufReader::new(stdout).lines();
        let addr = loop {
            let line = lines
                .next()
                .ok_or_else(|| anyhow::anyhow!("server exited before listening"))??;
            if let Some((_, addr)) = line.split_once("listening on http://") {
                break addr.trim().parse()?;
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Ok(ServerProcess { child, addr })
    }

    /// The server's resident memory.
    pub(crate) fn rss_mib(&self) -> Option<f64> {
        rss_mib(self.child.id())
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One blocking request (setup only); returns status and body.
pub(crate) async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &str,
) -> anyhow::Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr).await?;
    let raw = format!(
        "{method} {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {KEY}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(raw.as_bytes()).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let text = String::from_utf8_lossy(&response);
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

/// Reads one HTTP/1.1 response with a Content-Length; returns its status.
async fn read_response(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> anyhow::Result<u16> {
    buffer.clear();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = find(buffer, b"\r\n\r\n") {
            let head = std::str::from_utf8(&buffer[..end])?;
            let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
            let length = head
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            while buffer.len() < end + 4 + length {
                let read = stream.read(&mut chunk).await?;
                anyhow::ensure!(read > 0, "connection closed");
                buffer.extend_from_slice(&chunk[..read]);
            }
            return Ok(status);
        }
        let read = stream.read(&mut chunk).await?;
        anyhow::ensure!(read > 0, "connection closed");
        buffer.extend_from_slice(&chunk[..read]);
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

fn raw_request(path: &str, body: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {KEY}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Sends POSTs of `body` to the `paths` (round robin, offset per connection)
/// over `connections` keep-alive connections for `duration`.
pub(crate) fn load(
    scenario: &str,
    server: &ServerProcess,
    paths: Vec<String>,
    body: &str,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<Measurement> {
    let requests = paths.iter().map(|path| raw_request(path, body)).collect();
    load_requests(scenario, server, requests, connections, duration)
}

/// Sends POSTs of each of `bodies` (round robin) to one `path`.
pub(crate) fn load_bodies(
    scenario: &str,
    server: &ServerProcess,
    path: &str,
    bodies: Vec<String>,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<Measurement> {
    let requests = bodies.iter().map(|body| raw_request(path, body)).collect();
    load_requests(scenario, server, requests, connections, duration)
}

fn load_requests(
    scenario: &str,
    server: &ServerProcess,
    requests: Vec<Vec<u8>>,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<Measurement> {
    let requests: Arc<Vec<Vec<u8>>> = Arc::new(requests);
    drive(
        scenario,
        server,
        connections,
        move |connection, addr, started| {
            let requests = Arc::clone(&requests);
            async move {
                let mut outcome = Outcome::default();
                let Ok(mut stream) = connect(addr).await else {
                    outcome.fail(0);
                    return outcome;
                };
                let mut buffer = Vec::with_capacity(4096);
                let mut next = connection;
                while started.elapsed() < duration {
                    let request = &requests[next % requests.len()];
                    next = next.wrapping_mul(31).wrapping_add(17);
                    let t0 = Instant::now();
                    match exchange(&mut stream, request, &mut buffer).await {
                        Ok(status) if (200..300).contains(&status) => outcome.done(t0),
                        Ok(status) => outcome.fail(status),
                        Err(_) => {
                            outcome.fail(0);
                            break;
                        }
                    }
                }
                outcome
            }
        },
    )
}

/// The `gateway` loop: on each connection, place a hold (`hold_body`) on one
/// of `wallets` (the same walk over them as [`load`]), then capture it
/// (`capture_body`). One operation is the pair; its latency runs from
/// sending the hold to the capture's reply. A refused hold is one error and
/// its capture is not sent.
pub(crate) fn load_hold_capture(
    scenario: &str,
    server: &ServerProcess,
    wallets: &[String],
    hold_body: &str,
    capture_body: &str,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<Measurement> {
    let holds: Arc<Vec<Vec<u8>>> = Arc::new(
        wallets
            .iter()
            .map(|id| raw_request(&format!("/v1/wallets/{id}/holds"), hold_body))
            .collect(),
    );
    let capture_body: Arc<str> = Arc::from(capture_body);
    drive(
        scenario,
        server,
        connections,
        move |connection, addr, started| {
            let holds = Arc::clone(&holds);
            let capture_body = Arc::clone(&capture_body);
            async move {
                let mut outcome = Outcome::default();
                let Ok(mut stream) = connect(addr).await else {
                    outcome.fail(0);
                    return outcome;
                };
                let mut buffer = Vec::with_capacity(4096);
                let mut capture = Vec::with_capacity(512);
                let mut next = connection;
                while started.elapsed() < duration {
                    let hold = &holds[next % holds.len()];
                    next = next.wrapping_mul(31).wrapping_add(17);
                    let t0 = Instant::now();
                    match exchange(&mut stream, hold, &mut buffer).await {
                        Ok(201) => {}
                        Ok(status) => {
                            outcome.fail(status);
                            continue;
                        }
                        Err(_) => {
                            outcome.fail(0);
                            break;
                        }
                    }
                    let Some(id) = hold_id(&buffer) else {
                        outcome.fail(0);
                        continue;
                    };
                    capture_request(&mut capture, id, &capture_body);
                    match exchange(&mut stream, &capture, &mut buffer).await {
                        Ok(status) if (200..300).contains(&status) => outcome.done(t0),
                        Ok(status) => outcome.fail(status),
                        Err(_) => {
                            outcome.fail(0);
                            break;
                        }
                    }
                }
                outcome
            }
        },
    )
}

/// The `transfers` loop: on each connection, one `POST /v1/transfers` of
/// `credits` between the two wallets of one of `pairs` (the same walk over
/// them as [`load`]). Each pair alternates direction across all
/// connections (a counter per pair: even sends first to second, odd the
/// reverse), so a pair's balances drift by at most `credits`. Only a 201
/// counts as an operation; any other status is an error.
pub(crate) fn load_transfers(
    scenario: &str,
    server: &ServerProcess,
    pairs: &[(String, String)],
    credits: &str,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<Measurement> {
    let transfer = |from: &str, to: &str| {
        raw_request(
            "/v1/transfers",
            &format!(r#"{{"from_wallet":"{from}","to_wallet":"{to}","credits":"{credits}"}}"#),
        )
    };
    // Per pair: [first → second, second → first], and its turn counter.
    let requests: Arc<Vec<[Vec<u8>; 2]>> = Arc::new(
        pairs
            .iter()
            .map(|(a, b)| [transfer(a, b), transfer(b, a)])
            .collect(),
    );
    let turns: Arc<Vec<AtomicU64>> = Arc::new(pairs.iter().map(|_| AtomicU64::new(0)).collect());
    drive(
        scenario,
        server,
        connections,
        move |connection, addr, started| {
            let requests = Arc::clone(&requests);
            let turns = Arc::clone(&turns);
            async move {
                let mut outcome = Outcome::default();
                let Ok(mut stream) = connect(addr).await else {
                    outcome.fail(0);
                    return outcome;
                };
                let mut buffer = Vec::with_capacity(4096);
                let mut next = connection;
                while started.elapsed() < duration {
                    let pair = next % requests.len();
                    next = next.wrapping_mul(31).wrapping_add(17);
                    let turn = turns[pair].fetch_add(1, Ordering::Relaxed);
                    let request = &requests[pair][(turn % 2) as usize];
                    let t0 = Instant::now();
                    match exchange(&mut stream, request, &mut buffer).await {
                        Ok(201) => outcome.done(t0),
                        Ok(status) => outcome.fail(status),
                        Err(_) => {
                            outcome.fail(0);
                            break;
                        }
                    }
                }
                outcome
            }
        },
    )
}

/// The `"id":"hld_…"` of a hold's reply in `response`.
fn hold_id(response: &[u8]) -> Option<&str> {
    let start = find(response, b"\"id\":\"hld_")? + b"\"id\":\"".len();
    let length = response[start..].iter().position(|&byte| byte == b'"')?;
    std::str::from_utf8(&response[start..start + length]).ok()
}

/// `POST /v1/holds/{id}/capture` with `body`, written into `out`.
fn capture_request(out: &mut Vec<u8>, id: &str, body: &str) {
    use std::io::Write;
    out.clear();
    let _ = write!(
        out,
        "POST /v1/holds/{id}/capture HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {KEY}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
}

async fn connect(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let stream = TcpStream::connect(addr).await?;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// Sends one request and reads its response into `buffer`; returns the status.
async fn exchange(
    stream: &mut TcpStream,
    request: &[u8],
    buffer: &mut Vec<u8>,
) -> anyhow::Result<u16> {
    stream.write_all(request).await?;
    read_response(stream, buffer).await
}

/// What one connection measured: latencies of the operations that
/// succeeded, and failures by HTTP status (0: connection or protocol error).
#[derive(Default)]
struct Outcome {
    latencies: Vec<u32>,
    errors: BTreeMap<u16, u64>,
}

impl Outcome {
    fn done(&mut self, t0: Instant) {
        self.latencies.push(t0.elapsed().as_micros() as u32);
    }

    fn fail(&mut self, status: u16) {
        *self.errors.entry(status).or_default() += 1;
    }
}

/// Runs `connection(index, addr, started)` for each of `connections` on a
/// one-thread runtime and summarises what they measured; failures are
/// printed by status.
fn drive<F, Fut>(
    scenario: &str,
    server: &ServerProcess,
    connections: usize,
    connection: F,
) -> anyhow::Result<Measurement>
where
    F: Fn(usize, SocketAddr, Instant) -> Fut,
    Fut: std::future::Future<Output = Outcome> + Send + 'static,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let addr = server.addr;
    let (outcome, elapsed) = runtime.block_on(async move {
        let started = Instant::now();
        let handles: Vec<_> = (0..connections)
            .map(|index| tokio::spawn(connection(index, addr, started)))
            .collect();
        let mut total = Outcome::default();
        for handle in handles {
            if let Ok(outcome) = handle.await {
                total.latencies.extend(outcome.latencies);
                for (status, count) in outcome.errors {
                    *total.errors.entry(status).or_default() += count;
                }
            }
        }
        (total, started.elapsed())
    });
    if !outcome.errors.is_empty() {
        eprintln!(
            "{scenario}: errors by status (0: connection): {:?}",
            outcome.errors
        );
    }
    let errors = outcome.errors.values().sum();
    Ok(Measurement::new(
        scenario,
        outcome.latencies,
        errors,
        elapsed,
        server.rss_mib(),
    ))
}
