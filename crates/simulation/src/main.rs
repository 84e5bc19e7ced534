//! Runs many seeds of the simulation and prints what each found:
//! `brook-simulation [--seeds N] [--first S] [--brokers B] [--partitions P] [--fault-ms MS]`.
//! One seed (`--seeds 1 --first S`) also prints its fault schedule. Exits 1 if any seed found
//! an anomaly.

use std::process::ExitCode;
use std::time::Instant;

use brook_simulation::{Config, run};

fn main() -> ExitCode {
    let mut config = Config::default();
    let (mut seeds, mut first) = (100u64, 1u64);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().and_then(|v| v.parse::<u64>().ok());
        match (flag.as_str(), value) {
            ("--seeds", Some(v)) => seeds = v,
            ("--first", Some(v)) => first = v,
            ("--brokers", Some(v)) if v >= 3 => config.brokers = v as i32,
            ("--partitions", Some(v)) if v >= 1 => config.partitions = v as i32,
            ("--fault-ms", Some(v)) => config.fault_ms = v as i64,
            _ => {
                eprintln!(
                    "usage: brook-simulation [--seeds N] [--first S] [--brokers B>=3] [--partitions P] [--fault-ms MS]"
                );
                return ExitCode::from(2);
            }
        }
    }
    let started = Instant::now();
    let (mut failed, mut faults, mut acked, mut events, mut simulated) = (0, 0, 0, 0, 0);
    for seed in first..first + seeds {
        let report = run(seed, &config);
        faults += report.faults.len();
        acked += report.acknowledged;
        events += report.events;
        simulated += report.simulated_ms;
        if seeds == 1 {
            report.faults.iter().for_each(|f| println!("fault at {f}"));
        }
        if !report.anomalies.is_empty() {
            failed += 1;
            println!("seed {seed}: {} anomalies, first: {}", report.anomalies.len(), report.anomalies[0]);
        }
    }
    let wall = started.elapsed();
    println!(
        "{seeds} seeds from {first} ({} brokers, {} partitions, {} ms of faults each): {failed} with anomalies; \
         {faults} faults, {acked} acknowledged writes, {events} events, {:.0} s simulated; {:.1} ms wall per seed",
        config.brokers,
        config.partitions,
        config.fault_ms,
        simulated as f64 / 1000.0,
        wall.as_secs_f64() * 1000.0 / seeds.max(1) as f64
    );
    if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
