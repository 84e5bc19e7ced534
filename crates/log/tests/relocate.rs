//! Moving a log to another log dir while it is written (AlterReplicaLogDirs): the copy ends
//! byte-identical with the same offsets and epochs, the handle keeps working from the new
//! directory, and a power cut at any point of the swap loses nothing that was synced.

mod common;

use std::path::Path;

use brook_log::relocate::{Leftover, LogCopy, Step, future_dir};
use brook_log::storage::Storage;
use brook_log::{Durability, Log, LogConfig, ReadBound};
use common::*;

fn config() -> LogConfig {
    // Small segments, so the copy spans several and rolls its own.
    LogConfig { segment_bytes: 600, ..small_config() }
}

fn fill(log: &Log, tags: std::ops::Range<u8>) {
    for tag in tags {
        log.append(tagged_batch(NOW, 3, tag, 40), Durability::Async).expect("append");
    }
    log.sync().expect("sync");
}

fn copy_until_caught_up(copy: &mut LogCopy) {
    for _ in 0..1000 {
        if copy.step(256).expect("copy step") == Step::CaughtUp {
            return;
        }
    }
    panic!("the copy never caught up");
}

#[test]
fn a_log_moves_while_written_and_keeps_its_offsets() {
    let t = SimLog::new(config());
    let log = t.open();
    log.set_leader_epoch(2).unwrap();
    fill(&log, 0..10);
    log.set_leader_epoch(4).unwrap();
    fill(&log, 10..14);
    let mut copy = LogCopy::start(&log, Path::new("/other"), "abc").expect("start");
    assert_eq!(copy.future().dir(), Path::new("/other/topic-0.abc-future"));
    copy.step(256).expect("a first step");
    // Written while the copy runs: the copy picks it up, the rest at the swap.
    fill(&log, 14..20);
    copy_until_caught_up(&mut copy);
    log.append(tagged_batch(NOW, 2, 99, 40), Durability::Async).expect("append during the last stretch");
    let before = read_all(&log, 0, ReadBound::LogEnd);
    let (end, epochs) = (log.log_end_offset(), log.end_offset_for_epoch(2));
    assert!(copy.try_finish().expect("finish"));

    assert_eq!(log.dir(), Path::new("/other/topic-0"));
    assert_eq!(read_all(&log, 0, ReadBound::LogEnd), before, "the same batches at the same offsets");
    assert_eq!(log.log_end_offset(), end);
    assert_eq!(log.end_offset_for_epoch(2), epochs);
    assert_eq!(log.latest_epoch(), 4);
    assert!(t.sim.list_dir(Path::new(DIR)).unwrap().is_empty(), "the old directory is gone");
    assert!(t.sim.list_dir(Path::new("/data")).unwrap().is_empty());
    // The handle goes on in the new directory.
    let appended = log.append(tagged_batch(NOW, 1, 100, 40), Durability::Async).expect("append after");
    assert_eq!(appended.base_offset, end);
    log.sync().expect("sync");
    assert_eq!(log.high_watermark(), end + 1);

    // What a restart finds there is the whole log.
    let expected = read_all(&log, 0, ReadBound::LogEnd);
    drop(log);
    t.sim.power_cut(7);
    let reopened = Log::open(Path::new("/other/topic-0"), config(), t.env()).expect("reopen");
    assert_eq!(read_all(&reopened, 0, ReadBound::LogEnd), expected);
    assert_eq!(reopened.end_offset_for_epoch(2), epochs);
}

/// A truncation of the log under the copy (a follower meeting a new leader) starts the copy
/// over; a copy abandoned leaves nothing behind.
#[test]
fn a_truncation_under_the_copy_starts_it_over() {
    let t = SimLog::new(config());
    let log = t.open();
    fill(&log, 0..8);
    let mut copy = LogCopy::start(&log, Path::new("/other"), "x").expect("start");
    copy_until_caught_up(&mut copy);
    log.truncate_to(9).expect("truncate");
    fill(&log, 50..53);
    copy_until_caught_up(&mut copy);
    assert_eq!(read_all(copy.future(), 0, ReadBound::LogEnd), read_all(&log, 0, ReadBound::LogEnd));
    copy.abandon().expect("abandon");
    assert!(t.sim.list_dir(Path::new("/other/topic-0.x-future")).unwrap().is_empty());
    assert_eq!(log.dir(), Path::new(DIR));

    // Retention past the copy's end starts it at the new log start.
    let mut copy = LogCopy::start(&log, Path::new("/other"), "y").expect("start");
    copy.step(100).expect("step");
    let start = log.high_watermark() - 3;
    log.delete_records(start).expect("delete records");
    copy_until_caught_up(&mut copy);
    assert!(copy.try_finish().expect("finish"));
    assert_eq!(log.log_start_offset(), start);
    assert_eq!(read_all(&log, start, ReadBound::LogEnd).first().map(|(h, _)| h.base_offset <= start), Some(true));
}

/// Names of what a move leaves: the server finds them at start.
#[test]
fn leftovers_name_the_log() {
    let dir = future_dir(Path::new("/d"), "orders-2", "id9");
    let name = dir.file_name().unwrap().to_str().unwrap();
    assert_eq!(Leftover::parse(name), Some(Leftover::Future { name: "orders-2".into(), id: "id9".into() }));
}

/// A copy a stop interrupted is carried on from where it got to when it still matches the
/// log, and started over when the log lost the tail the copy holds.
#[test]
fn an_interrupted_copy_is_carried_on() {
    let t = SimLog::new(config());
    let log = t.open();
    log.set_leader_epoch(3).unwrap();
    fill(&log, 0..12);
    let mut copy = LogCopy::start(&log, Path::new("/other"), "abc").expect("start");
    for _ in 0..3 {
        copy.step(256).expect("copy step");
    }
    let reached = copy.future().log_end_offset();
    assert!(reached > 0 && reached < log.log_end_offset(), "copied part of the log: {reached}");
    copy.future().sync().expect("sync the copy");
    drop(copy);

    // Started again under the same id: it goes on from where it was.
    let mut copy = LogCopy::start(&log, Path::new("/other"), "abc").expect("start again");
    assert_eq!(copy.future().log_end_offset(), reached, "carried on");
    copy_until_caught_up(&mut copy);
    let before = read_all(&log, 0, ReadBound::LogEnd);
    assert!(copy.try_finish().expect("finish"));
    assert_eq!(read_all(&log, 0, ReadBound::LogEnd), before, "the same batches at the same offsets");

    // A copy holding a tail the log no longer has (lost to a crash, written again since)
    // starts over.
    let t = SimLog::new(config());
    let log = t.open();
    fill(&log, 0..12);
    let mut copy = LogCopy::start(&log, Path::new("/other"), "xyz").expect("start");
    copy_until_caught_up(&mut copy);
    let end = copy.future().log_end_offset();
    copy.future().sync().expect("sync the copy");
    drop(copy);
    log.truncate_to(end - 3).expect("truncate");
    fill(&log, 50..52);
    let copy = LogCopy::start(&log, Path::new("/other"), "xyz").expect("start again");
    assert_eq!(copy.future().log_end_offset(), log.log_start_offset(), "started over");
}
