//! The HTTP load generator (raw HTTP/1.1 keep-alive over tokio, one runtime
//! thread so the server keeps most of the CPU) and the server processes it
//! drives: the real `tally` binary and the `http-ceiling` bare handler.

use crate::report::{rss_mib, Measurement};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
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
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let requests: Arc<Vec<Vec<u8>>> = Arc::new(requests);
    let addr = server.addr;
    let (latencies, errors, elapsed) = runtime.block_on(async move {
        let started = Instant::now();
        let handles: Vec<_> = (0..connections)
            .map(|connection| {
                let requests = Arc::clone(&requests);
                tokio::spawn(async move {
                    let mut latencies = Vec::new();
                    let mut errors = 0u64;
                    let Ok(mut stream) = TcpStream::connect(addr).await else {
                        return (latencies, 1);
                    };
                    let _ = stream.set_nodelay(true);
                    let mut buffer = Vec::with_capacity(4096);
                    let mut next = connection;
                    while started.elapsed() < duration {
                        let request = &requests[next % requests.len()];
                        next = next.wrapping_mul(31).wrapping_add(17);
                        let t0 = Instant::now();
                        if stream.write_all(request).await.is_err() {
                            errors += 1;
                            break;
                        }
                        match read_response(&mut stream, &mut buffer).await {
                            Ok(status) if (200..300).contains(&status) => {
                                latencies.push(t0.elapsed().as_micros() as u32);
                            }
                            Ok(_) => errors += 1,
                            Err(_) => {
                                errors += 1;
                                break;
                            }
                        }
                    }
                    (latencies, errors)
                })
            })
            .collect();
        let mut latencies = Vec::new();
        let mut errors = 0;
        for handle in handles {
            if let Ok((l, e)) = handle.await {
                latencies.extend(l);
                errors += e;
            }
        }
        (latencies, errors, started.elapsed())
    });
    Ok(Measurement::new(
        scenario,
        latencies,
        errors,
        elapsed,
        server.rss_mib(),
    ))
}
