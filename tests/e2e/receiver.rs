//! A webhook receiver for the tests: a real HTTP server on 127.0.0.1 that
//! logs every request as soon as it has read it, and answers 500 to its
//! first `failures` requests, then 200. A stalling receiver instead holds
//! each request longer than Tally's timeout before answering (an endpoint
//! that hangs) until it is healed. One thread per connection, so a stalled
//! request does not hold back the log of the next one.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request the receiver saw.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    /// The number in `Tally-Event-Id: evt_<number>`.
    pub(crate) event_id: u64,
    pub(crate) signature: String,
    pub(crate) event_type: String,
    pub(crate) body: Vec<u8>,
    /// The status it answered (or, stalled, would have answered) with.
    pub(crate) status: u16,
}

/// How the receiver answers.
#[derive(Debug)]
struct Behavior {
    failures: usize,
    /// Hold each request this long before answering, while set.
    stall: Option<Duration>,
    healed: AtomicBool,
}

/// A running receiver; it lives as long as the test process.
pub(crate) struct Receiver {
    pub(crate) url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    behavior: Arc<Behavior>,
}

impl Receiver {
    /// Answers 500 to the first `failures` requests, then 200.
    pub(crate) fn start(failures: usize) -> Receiver {
        Receiver::serve(Behavior {
            failures,
            stall: None,
            healed: AtomicBool::new(false),
        })
    }

    /// Holds every request for `stall` (longer than Tally's timeout) until
    /// [`Receiver::heal`], then answers 200 at once.
    pub(crate) fn stalling(stall: Duration) -> Receiver {
        Receiver::serve(Behavior {
            failures: 0,
            stall: Some(stall),
            healed: AtomicBool::new(false),
        })
    }

    /// A stalling receiver answers at once from now on.
    pub(crate) fn heal(&self) {
        self.behavior.healed.store(true, Ordering::SeqCst);
    }

    fn serve(behavior: Behavior) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/hooks", listener.local_addr().expect("addr"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let behavior = Arc::new(behavior);
        let (log, rules) = (Arc::clone(&seen), Arc::clone(&behavior));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (log, rules) = (Arc::clone(&log), Arc::clone(&rules));
                std::thread::spawn(move || answer(stream, &log, &rules));
            }
        });
        Receiver {
            url,
            seen,
            behavior,
        }
    }

    /// Every request so far, in the order they were read.
    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("log").clone()
    }

    /// The event ids of every request so far, in the order they were read.
    pub(crate) fn event_ids(&self) -> Vec<u64> {
        self.seen().iter().map(|request| request.event_id).collect()
    }
}

fn answer(mut stream: TcpStream, log: &Mutex<Vec<Seen>>, behavior: &Behavior) {
    let Ok(clone) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(clone);
    let (mut length, mut signature, mut event_type, mut event_id) =
        (0, String::new(), String::new(), 0);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        let (name, value) = line.split_once(':').unwrap_or((&line, ""));
        let value = value.trim().to_owned();
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.parse().unwrap_or(0),
            "tally-signature" => signature = value,
            "tally-event-type" => event_type = value,
            "tally-event-id" => {
                event_id = value
                    .strip_prefix("evt_")
                    .and_then(|digits| digits.parse().ok())
                    .unwrap_or(0)
            }
            _ => {}
        }
    }
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
    let status = {
        let mut log = log.lock().expect("log");
        let status = if log.len() < behavior.failures {
            500
        } else {
            200
        };
        log.push(Seen {
            event_id,
            signature,
            event_type,
            body,
            status,
        });
        status
    };
    if let Some(stall) = behavior.stall {
        if !behavior.healed.load(Ordering::SeqCst) {
            std::thread::sleep(stall);
        }
    }
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
}
