//! Measurements and the report: throughput, latency percentiles and RSS per
//! scenario, the ratios against baselines, printed as a table and as JSON.

use serde::Serialize;
use std::time::Duration;

/// What one scenario measured.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Measurement {
    /// Scenario name.
    pub(crate) scenario: String,
    /// Completed operations.
    pub(crate) ops: u64,
    /// Operations that failed (non-2xx or errors).
    pub(crate) errors: u64,
    /// Operations per second.
    pub(crate) throughput: f64,
    /// Latency percentiles in microseconds.
    pub(crate) p50_us: u32,
    pub(crate) p99_us: u32,
    pub(crate) p999_us: u32,
    /// Resident memory of the server process (or this process), in MiB.
    pub(crate) rss_mib: Option<f64>,
    /// A scenario's headline figure that is not a rate (e.g. restart time).
    pub(crate) note: Option<String>,
}

impl Measurement {
    /// Summarises per-operation latencies (microseconds) over `elapsed`.
    pub(crate) fn new(
        scenario: &str,
        mut latencies_us: Vec<u32>,
        errors: u64,
        elapsed: Duration,
        rss_mib: Option<f64>,
    ) -> Measurement {
        latencies_us.sort_unstable();
        let percentile = |p: f64| -> u32 {
            if latencies_us.is_empty() {
                return 0;
            }
            let rank = ((latencies_us.len() as f64) * p).ceil() as usize;
            latencies_us[rank.clamp(1, latencies_us.len()) - 1]
        };
        let ops = latencies_us.len() as u64;
        Measurement {
            scenario: scenario.to_owned(),
            ops,
            errors,
            throughput: ops as f64 / elapsed.as_secs_f64(),
            p50_us: percentile(0.50),
            p99_us: percentile(0.99),
            p999_us: percentile(0.999),
            rss_mib,
            note: None,
        }
    }
}

impl Measurement {
    /// A scenario measured only as a rate (no per-operation latencies).
    pub(crate) fn rate(scenario: &str, ops: u64, throughput: f64) -> Measurement {
        Measurement {
            scenario: scenario.to_owned(),
            ops,
            errors: 0,
            throughput,
            p50_us: 0,
            p99_us: 0,
            p999_us: 0,
            rss_mib: None,
            note: None,
        }
    }
}

/// A ratio between two scenarios and the target it is held to.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Ratio {
    pub(crate) name: String,
    pub(crate) value: f64,
    pub(crate) target: f64,
    pub(crate) met: bool,
}

/// The ratio `numerator / denominator` of throughputs, if both ran.
pub(crate) fn ratio(
    results: &[Measurement],
    numerator: &str,
    denominator: &str,
    target: f64,
) -> Option<Ratio> {
    let find = |name: &str| results.iter().find(|m| m.scenario == name);
    let (top, bottom) = (find(numerator)?, find(denominator)?);
    if bottom.throughput <= 0.0 {
        return None;
    }
    let value = top.throughput / bottom.throughput;
    Some(Ratio {
        name: format!("{numerator} / {denominator}"),
        value,
        target,
        met: value >= target,
    })
}

/// Prints the results as a Markdown table.
pub(crate) fn print_table(results: &[Measurement], ratios: &[Ratio]) {
    println!("| scenario | ops | errors | ops/s | p50 µs | p99 µs | p99.9 µs | RSS MiB | note |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
    for m in results {
        let rss = m
            .rss_mib
            .map_or_else(|| "-".to_owned(), |rss| format!("{rss:.0}"));
        println!(
            "| {} | {} | {} | {:.0} | {} | {} | {} | {} | {} |",
            m.scenario,
            m.ops,
            m.errors,
            m.throughput,
            m.p50_us,
            m.p99_us,
            m.p999_us,
            rss,
            m.note.as_deref().unwrap_or("")
        );
    }
    println!();
    println!("| ratio | value | target | met |");
    println!("| --- | ---: | ---: | --- |");
    for r in ratios {
        println!(
            "| {} | {:.2} | {:.2} | {} |",
            r.name,
            r.value,
            r.target,
            if r.met { "yes" } else { "no" }
        );
    }
}

/// Resident set size of process `pid` in MiB, from /proc.
pub(crate) fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}
