//! Storage-engine benchmark: `cargo bench -p brook-log`. Prints each figure beside the same
//! disk measured by `dd` in the same run, as a ratio, since these machines are noisy.
//! `BROOK_BENCH_QUICK=1` shrinks the sizes; `BROOK_BENCH_DIR` picks the file system (default:
//! the system temp dir).
//!
//! Throughputs are the best of 3 rounds (the disk's capability, with the noise of this virtual
//! disk's background work taken out), with `dd` and the log taking turns; latencies are
//! percentiles over every operation. A custom harness rather than criterion: the figures only
//! mean something next to `dd`, fsync and each other, which criterion's per-function statistics
//! do not give.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use brook_log::batch::build;
use brook_log::storage::{OsStorage, Storage};
use brook_log::{Durability, Flusher, Log, LogConfig, LogEnv, ReadBound};
use bytes::Bytes;

const MIB: u64 = 1 << 20;
const ROUNDS: usize = 3;

fn main() {
    let quick = std::env::var_os("BROOK_BENCH_QUICK").is_some();
    let root = std::env::var_os("BROOK_BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from);
    let dir = tempfile::tempdir_in(&root).expect("bench dir");
    let dir = dir.path();
    let page_cache_bytes = if quick { 128 * MIB } else { 1024 * MIB };
    let durable_bytes = if quick { 64 * MIB } else { 1024 * MIB };
    let flusher = Flusher::start();
    println!("brook-log benchmark in {} ({})", dir.display(), if quick { "quick" } else { "full" });
    println!();

    // 1. Non-durable append of 16 KiB batches vs dd bs=16k into the page cache.
    let batch16 = batch_of(16 * 1024);
    let (mut dd_rates, mut append_rates) = (Vec::new(), Vec::new());
    let append_dir = dir.join("append");
    for round in 0..ROUNDS {
        dd_rates.push(dd(dir, "bs=16k", page_cache_bytes / (16 * 1024), &[]));
        let _ = std::fs::remove_dir_all(&append_dir);
        settle();
        let log = Log::open(&append_dir, LogConfig::default(), LogEnv::os(&flusher)).expect("open");
        let start = Instant::now();
        let mut written = 0;
        while written < page_cache_bytes {
            log.append(batch16.clone(), Durability::Async).expect("append");
            written += batch16.len() as u64;
        }
        append_rates.push(rate(written, start.elapsed()));
        log.close().expect("close");
        if round + 1 < ROUNDS {
            drop(log);
        }
    }
    let (dd_rate, append_rate) = (best(&dd_rates), best(&append_rates));
    row("dd bs=16k (page cache)", dd_rate, "MB/s", None);
    row("append 16 KiB batches, not waiting for sync", append_rate, "MB/s", Some(append_rate / dd_rate));

    // 2. Reading back from the page cache.
    let log = Log::open(&append_dir, LogConfig::default(), LogEnv::os(&flusher)).expect("open");
    let mut read_rates = Vec::new();
    for _ in 0..ROUNDS {
        let start = Instant::now();
        let (mut offset, mut read) = (0, 0u64);
        while offset < log.high_watermark() {
            let bytes = log.read(offset, MIB as usize, ReadBound::HighWatermark).expect("read");
            offset = last_next_offset(&bytes);
            read += bytes.len() as u64;
        }
        read_rates.push(rate(read, start.elapsed()));
    }
    row("read 1 MiB fetches from page cache", best(&read_rates), "MB/s", None);
    drop(log);

    // 3. Opening a large log after a clean shutdown.
    let mut open_ms = Vec::new();
    for _ in 0..ROUNDS {
        let start = Instant::now();
        let log = Log::open(&append_dir, LogConfig::default(), LogEnv::os(&flusher)).expect("open");
        open_ms.push(start.elapsed().as_secs_f64() * 1e3);
        assert!(log.size_bytes() >= page_cache_bytes);
    }
    row(&format!("open a {} MiB log after clean shutdown", page_cache_bytes / MIB), median(&mut open_ms), "ms", None);
    std::fs::remove_dir_all(&append_dir).expect("clean up");
    println!();

    // 4. Durable append: 8 writers of 64 KiB batches, each waiting for its sync, vs dd with one
    //    sync per MiB; and the latency of one 4 KiB write + fdatasync.
    let mut dd_dsync = Vec::new();
    let mut durable: Vec<(usize, f64, Vec<f64>)> = vec![(1, 0.0, Vec::new()), (4, 0.0, Vec::new())];
    for _ in 0..ROUNDS {
        dd_dsync.push(dd(dir, "bs=1M", durable_bytes / MIB, &["oflag=dsync"]));
        for (in_flight, best_rate, all_latencies) in &mut durable {
            settle();
            let (rate, latencies) =
                durable_append(&dir.join("durable"), &flusher, durable_bytes, 8, 64 * 1024, *in_flight);
            *best_rate = best_rate.max(rate);
            all_latencies.extend(latencies);
        }
    }
    let dd_dsync = best(&dd_dsync);
    row("dd bs=1M oflag=dsync", dd_dsync, "MB/s", None);
    for (in_flight, rate, mut latencies) in durable {
        let what = format!("durable append, 8 writers x 64 KiB, {in_flight} in flight each");
        row(&what, rate, "MB/s", Some(rate / dd_dsync));
        println!(
            "    latency until durable: p50 {:.2} ms, p99 {:.2} ms",
            percentile(&mut latencies, 0.50),
            percentile(&mut latencies, 0.99)
        );
    }
    let mut fsync = fdatasync_latencies(dir, 200);
    println!(
        "    4 KiB write + fdatasync:  p50 {:.2} ms, p99 {:.2} ms",
        percentile(&mut fsync, 0.50),
        percentile(&mut fsync, 0.99)
    );
    println!();

    // 5. Recovery after kill -9 depends on the unsynced tail, not on the log's size.
    let tail = 64 * MIB;
    for size in [100 * MIB, if quick { 400 * MIB } else { 2048 * MIB }] {
        let path = dir.join(format!("recover-{size}"));
        let took = recovery_time(&path, &flusher, size, tail);
        row(&format!("recover a {} MiB log with a {} MiB unchecked tail", size / MIB, tail / MIB), took, "ms", None);
        std::fs::remove_dir_all(&path).expect("clean up");
    }
}

/// A batch of one record whose whole encoding is `size` bytes.
fn batch_of(size: usize) -> Bytes {
    let probe = build::simple(0, 1, 0).len();
    let mut value_len = size - probe;
    loop {
        let batch = build::simple(now_ms(), 1, value_len);
        match batch.len().cmp(&size) {
            std::cmp::Ordering::Equal => return batch,
            std::cmp::Ordering::Greater => value_len -= batch.len() - size,
            std::cmp::Ordering::Less => value_len += size - batch.len(),
        }
    }
}

/// `writers` threads append `batch_size` batches with `Durability::Sync`, each keeping up to
/// `in_flight` appends waiting for their sync (a Kafka producer pipelines up to 5 requests per
/// connection). Returns MB/s and every append's latency until durable, in ms.
fn durable_append(
    dir: &Path,
    flusher: &Flusher,
    total: u64,
    writers: u64,
    batch_size: usize,
    in_flight: usize,
) -> (f64, Vec<f64>) {
    let log = Log::open(dir, LogConfig::default(), LogEnv::os(flusher)).expect("open");
    let batch = batch_of(batch_size);
    let per_writer = total / writers / batch_size as u64;
    let start = Instant::now();
    let latencies: Vec<f64> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..writers)
            .map(|_| {
                let (log, batch) = (log.clone(), batch.clone());
                scope.spawn(move || {
                    let mut latencies = Vec::new();
                    let mut pending = std::collections::VecDeque::new();
                    let mut sent = 0;
                    while sent < per_writer || !pending.is_empty() {
                        while sent < per_writer && pending.len() < in_flight {
                            let appended = log.append(batch.clone(), Durability::Sync).expect("append");
                            pending.push_back((appended.last_offset + 1, Instant::now()));
                            sent += 1;
                        }
                        let (end, _) = *pending.front().expect("an append is pending");
                        pollster::block_on(log.wait_for_high_watermark(end)).expect("sync");
                        let high_watermark = log.high_watermark();
                        while pending.front().is_some_and(|(end, _)| *end <= high_watermark) {
                            let (_, at) = pending.pop_front().expect("checked");
                            latencies.push(at.elapsed().as_secs_f64() * 1e3);
                        }
                    }
                    latencies
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("writer")).collect()
    });
    let written = per_writer * writers * batch_size as u64;
    let rate = rate(written, start.elapsed());
    drop(log);
    std::fs::remove_dir_all(dir).expect("clean up");
    (rate, latencies)
}

fn fdatasync_latencies(dir: &Path, count: usize) -> Vec<f64> {
    let path = dir.join("fsync-probe");
    let file = OsStorage::default().open(&path, true).expect("probe");
    let block = vec![7u8; 4096];
    let latencies = (0..count)
        .map(|_| {
            let t = Instant::now();
            file.append(&[&block]).expect("write");
            file.sync_data().expect("fdatasync");
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    OsStorage::default().remove_file(&path).expect("clean up");
    latencies
}

/// Builds a log of `size` bytes with a clean checkpoint, appends `tail` more bytes that are
/// synced but not checkpointed, "crashes" (drops it without closing), and times the reopen.
fn recovery_time(dir: &Path, flusher: &Flusher, size: u64, tail: u64) -> f64 {
    let config = LogConfig { recovery_checkpoint_interval_ms: i64::MAX, ..LogConfig::default() };
    let batch = batch_of(64 * 1024);
    let fill = |log: &Log, bytes: u64| {
        let mut written = 0;
        while written < bytes {
            log.append(batch.clone(), Durability::Async).expect("append");
            written += batch.len() as u64;
        }
    };
    let log = Log::open(dir, config.clone(), LogEnv::os(flusher)).expect("open");
    fill(&log, size - tail);
    log.close().expect("close");
    fill(&log, tail);
    log.sync().expect("sync");
    drop(log);
    let start = Instant::now();
    let log = Log::open(dir, config, LogEnv::os(flusher)).expect("recover");
    let took = start.elapsed().as_secs_f64() * 1e3;
    assert!(log.size_bytes() >= size, "recovery kept everything");
    took
}

/// Writes back all dirty pages, so that one measurement does not pay for the last one's.
fn settle() {
    Command::new("sync").status().expect("sync runs");
}

/// Runs dd writing `count` blocks to a new file in `dir`; returns MB/s.
fn dd(dir: &Path, bs: &str, count: u64, extra: &[&str]) -> f64 {
    settle();
    let out = dir.join("dd.out");
    let output = Command::new("dd")
        .args(["if=/dev/zero", &format!("of={}", out.display()), bs, &format!("count={count}")])
        .args(extra)
        .output()
        .expect("dd runs");
    let _ = std::fs::remove_file(&out);
    let text = String::from_utf8_lossy(&output.stderr);
    // "N bytes (...) copied, S s, R MB/s"
    let line = text.lines().find(|l| l.contains("copied")).expect("dd summary line");
    let bytes: f64 = line.split_whitespace().next().and_then(|b| b.parse().ok()).expect("dd byte count");
    let secs: f64 = line
        .split(", ")
        .find_map(|part| part.strip_suffix(" s").and_then(|s| s.trim().parse().ok()))
        .expect("dd seconds");
    bytes / secs / 1e6
}

fn last_next_offset(bytes: &[u8]) -> i64 {
    let mut rest = bytes;
    let mut next = 0;
    while let Some(header) = brook_log::batch::BatchHeader::parse(rest) {
        next = header.next_offset();
        rest = &rest[header.size_bytes()..];
    }
    next
}

fn rate(bytes: u64, elapsed: Duration) -> f64 {
    bytes as f64 / elapsed.as_secs_f64() / 1e6
}

fn median(values: &mut [f64]) -> f64 {
    percentile(values, 0.5)
}

fn best(values: &[f64]) -> f64 {
    values.iter().copied().fold(0.0, f64::max)
}

fn percentile(values: &mut [f64], p: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    values[((values.len() - 1) as f64 * p).round() as usize]
}

fn row(what: &str, value: f64, unit: &str, ratio: Option<f64>) {
    match ratio {
        Some(r) => println!("  {what:<58} {value:>9.1} {unit:<5} ({:.0}% of dd)", r * 100.0),
        None => println!("  {what:<58} {value:>9.1} {unit}"),
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}
