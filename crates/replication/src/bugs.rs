//! Deliberately broken replication, for showing that the fault checker, the power-cut test
//! and the simulation catch what they claim to. Only a build with the `bugs` feature has
//! them, and then only the one the `BROOK_BUG` environment variable names:
//! - `hw-leader-end`: the high watermark ignores the followers (the leader's own log end);
//! - `unsynced-follower`: followers report what they appended before it is synced, so a power
//!   cut can take what the high watermark promised;
//! - `ack-before-replication` (the server's): acks=all is answered once the leader alone has
//!   the batch.
//!
//! One build then serves every bug, each run choosing its own.

/// Whether this run has the bug `name`.
#[cfg(feature = "bugs")]
pub fn planted(name: &str) -> bool {
    static BUG: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    BUG.get_or_init(|| std::env::var("BROOK_BUG").ok()).as_deref() == Some(name)
}

/// Whether this run has the bug `name`: never, without the `bugs` feature.
#[cfg(not(feature = "bugs"))]
#[inline(always)]
pub fn planted(_name: &str) -> bool {
    false
}
