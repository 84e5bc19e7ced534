//! The simulation in CI: many seeds, each a complete fault schedule, all clean; and one seed
//! replays exactly. `BROOK_SIM_SEEDS` and `BROOK_SIM_FIRST` choose the seeds (`scripts/simulate`
//! runs more, in release).

use brook_simulation::{Config, Report, run};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Runs `seeds` on every core (a seed is independent of the others), in seed order.
fn run_all(seeds: std::ops::Range<u64>, config: &Config) -> Vec<Report> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let mut reports: Vec<Report> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let seeds = seeds.clone();
                scope.spawn(move || seeds.filter(|s| s % threads == t).map(|s| run(s, config)).collect::<Vec<_>>())
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().expect("a seed's thread")).collect()
    });
    reports.sort_by_key(|r| r.seed);
    reports
}

fn failures(reports: &[Report]) -> Vec<String> {
    reports
        .iter()
        .filter(|r| !r.anomalies.is_empty())
        .map(|r| format!("seed {}: {:?} under faults {:?}", r.seed, r.anomalies, r.faults))
        .collect()
}

/// Every seed's history and final logs pass the checker: nothing acknowledged lost, nothing
/// read that is not in the committed log, no replica diverging below its high watermark, and
/// the cluster settles once the faults stop.
#[test]
fn seeds_with_faults_lose_nothing() {
    let (seeds, first) = (env("BROOK_SIM_SEEDS", 100), env("BROOK_SIM_FIRST", 1));
    let config = Config::default();
    let reports = run_all(first..first + seeds, &config);
    let failed = failures(&reports);
    assert!(failed.is_empty(), "{} of {seeds} seeds found anomalies:\n{}", failed.len(), failed.join("\n"));
    let acked: usize = reports.iter().map(|r| r.acknowledged).sum();
    let faults: usize = reports.iter().map(|r| r.faults.len()).sum();
    assert!(acked > 1_000 * seeds as usize, "the workload ran: {acked} acknowledged writes");
    assert!(faults >= 3 * seeds as usize, "faults were injected: {faults}");
    let shutdowns: u64 = reports.iter().map(|r| r.clean_shutdowns).sum();
    assert!(shutdowns > 0, "some controlled shutdowns completed");
}

/// Five brokers, three partitions: elections have more candidates and ISRs more members.
#[test]
fn five_brokers_lose_nothing() {
    let config = Config { brokers: 5, partitions: 3, ..Config::default() };
    let reports = run_all(1..env("BROOK_SIM_SEEDS", 100) / 4 + 1, &config);
    let failed = failures(&reports);
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

/// A seed is one interleaving: running it again gives the same history, faults and events.
#[test]
fn a_seed_replays_exactly() {
    let config = Config::default();
    let (a, b) = (run(7, &config), run(7, &config));
    assert_eq!(a, b);
    assert_ne!(a.faults, run(8, &config).faults, "another seed, another schedule");
}

/// Seeds that once found a bug, run for good (their interleavings shift as the code changes,
/// so each bug also has a test of its own where one could be written):
/// - 20261972, 20263015, 20265741, 20267973, 20268710, 20269669: an ISR change whose answer was
///   lost kept a caught-up follower out of the ISR (fixed: AlterPartition has its own deadline).
/// - 20263963, 20268726: a broker back from a power cut led again, in its old epoch, from
///   metadata older than its restart, and wrote other records at offsets the next leader had
///   committed (the simulated broker now serves only once registered and unfenced, as the real
///   one does).
#[test]
fn seeds_that_once_found_bugs_stay_clean() {
    let config = Config::default();
    let seeds = [20261972, 20263015, 20263963, 20265741, 20267973, 20268710, 20268726, 20269669];
    let mut reports: Vec<Report> = seeds.into_iter().map(|seed| run(seed, &config)).collect();
    // Five brokers, seed 965: a follower joined the ISR at the high watermark while the other
    // was ahead, and the leader's next sync moved the mark past the newcomer's log end, since
    // the floor was taken before the expansion counted; the newcomer then led without an
    // acknowledged record (fixed in `Role::follower_fetch`, with a unit test there).
    reports.push(run(965, &Config { brokers: 5, partitions: 3, ..Config::default() }));
    let failed = failures(&reports);
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}
