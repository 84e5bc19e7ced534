//! `brook consumer-groups` (kafka-consumer-groups): list groups, describe their members,
//! committed offsets and lag, reset a group's offsets, delete groups.

use std::collections::BTreeMap;

use futures::executor::block_on;
use rdkafka::admin::AdminOptions;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};

use crate::ToolError;
use crate::args::{Opt, Parsed};
use crate::client::{self, TIMEOUT};

pub const PURPOSE: &str = "List, describe, reset the offsets of, or delete consumer groups.";

pub const OPTS: &[Opt] = &[
    Opt { name: "bootstrap-server", value: true, help: "the broker(s) to connect to (host:port,...)" },
    Opt { name: "command-config", value: true, help: "a properties file of client settings" },
    Opt { name: "list", value: false, help: "list consumer groups" },
    Opt { name: "describe", value: false, help: "members, committed offsets, log end offsets and lag" },
    Opt { name: "reset-offsets", value: false, help: "move a group's committed offsets (the group must be inactive)" },
    Opt { name: "delete", value: false, help: "delete groups" },
    Opt { name: "offsets", value: false, help: "with --describe: offsets and lag (the default view)" },
    Opt { name: "members", value: false, help: "with --describe: the members and how many partitions each has" },
    Opt { name: "state", value: false, help: "with --describe: coordinator, assignor, state, member count" },
    Opt { name: "verbose", value: false, help: "with --describe --members: each member's partitions" },
    Opt { name: "group", value: true, help: "the group (repeatable for --describe and --delete)" },
    Opt { name: "all-groups", value: false, help: "every group (--describe, --delete)" },
    Opt { name: "topic", value: true, help: "the topic whose offsets to reset (repeatable)" },
    Opt { name: "all-topics", value: false, help: "reset every topic the group has offsets for" },
    Opt { name: "to-earliest", value: false, help: "reset to the log start" },
    Opt { name: "to-latest", value: false, help: "reset to the log end" },
    Opt { name: "to-offset", value: true, help: "reset to this offset" },
    Opt { name: "shift-by", value: true, help: "move the committed offsets by this much (may be negative)" },
    Opt { name: "to-datetime", value: true, help: "reset to the first record at or after YYYY-MM-DDTHH:mm:SS[.sss]" },
    Opt { name: "dry-run", value: false, help: "show the new offsets only (the default)" },
    Opt { name: "execute", value: false, help: "commit the new offsets" },
];

pub fn run(parsed: &Parsed) -> Result<(), ToolError> {
    let actions = ["list", "describe", "reset-offsets", "delete"].iter().filter(|a| parsed.has(a)).count();
    if actions != 1 {
        return Err(ToolError::usage(
            "Command must include exactly one action: --list, --describe, --delete, --reset-offsets",
        ));
    }
    let probe: BaseConsumer = consumer(parsed, "brook-consumer-groups")?;
    if parsed.has("list") {
        for name in group_names(&probe)? {
            println!("{name}");
        }
        return Ok(());
    }
    let groups: Vec<String> = if parsed.has("all-groups") {
        group_names(&probe)?
    } else if parsed.all("group").is_empty() {
        return Err(ToolError::usage("Missing required argument \"[group]\""));
    } else {
        parsed.all("group").to_vec()
    };
    if parsed.has("describe") {
        describe(parsed, &probe, &groups)
    } else if parsed.has("delete") {
        delete(parsed, &groups)
    } else {
        reset(parsed, &probe, &groups)
    }
}

pub(crate) fn consumer(parsed: &Parsed, group: &str) -> Result<BaseConsumer, ToolError> {
    client::config(parsed, &[("group.id".into(), group.into()), ("enable.auto.commit".into(), "false".into())])?
        .create()
        .map_err(|e| ToolError::failed(format!("cannot create a client: {e}")))
}

fn group_names(probe: &BaseConsumer) -> Result<Vec<String>, ToolError> {
    let list = probe.fetch_group_list(None, TIMEOUT).map_err(client::unreachable)?;
    let mut names: Vec<String> = list.groups().iter().map(|g| g.name().to_string()).collect();
    names.sort();
    Ok(names)
}

/// (topic, partition) -> committed offset, for the topics the group has offsets for.
fn committed(parsed: &Parsed, probe: &BaseConsumer, group: &str) -> Result<BTreeMap<(String, i32), i64>, ToolError> {
    let metadata = probe.fetch_metadata(None, TIMEOUT).map_err(client::unreachable)?;
    let mut all = TopicPartitionList::new();
    for topic in metadata.topics().iter().filter(|t| !t.name().starts_with("__")) {
        for p in topic.partitions() {
            all.add_partition(topic.name(), p.id());
        }
    }
    let reader = consumer(parsed, group)?;
    let offsets = reader.committed_offsets(all, TIMEOUT).map_err(client::unreachable)?;
    Ok(offsets
        .elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(o) => Some(((e.topic().to_string(), e.partition()), o)),
            _ => None,
        })
        .collect())
}

fn describe(parsed: &Parsed, probe: &BaseConsumer, groups: &[String]) -> Result<(), ToolError> {
    for group in groups {
        let description = crate::native::describe_group(probe.client(), group, TIMEOUT).map_err(ToolError::failed)?;
        if parsed.has("state") || parsed.has("members") {
            let Some(d) = description else {
                return Err(ToolError::failed(format!("Consumer group '{group}' does not exist.")));
            };
            describe_view(parsed, group, &d);
            continue;
        }
        let state = description.as_ref().map_or("Dead", |d| d.state.as_str());
        // (topic, partition) -> (member id, host, client id)
        let mut owners: BTreeMap<(String, i32), (String, String, String)> = BTreeMap::new();
        for m in description.iter().flat_map(|d| &d.members) {
            for tp in &m.partitions {
                owners.insert(tp.clone(), (m.id.clone(), m.host.clone(), m.client_id.clone()));
            }
        }
        let offsets = committed(parsed, probe, group)?;
        if offsets.is_empty() && owners.is_empty() {
            if description.is_none() {
                return Err(ToolError::failed(format!("Consumer group '{group}' does not exist.")));
            }
            println!("\nConsumer group '{group}' has no active members.");
            continue;
        }
        if state != "Stable" && owners.is_empty() {
            println!("\nConsumer group '{group}' has no active members.");
        }
        let keys: std::collections::BTreeSet<(String, i32)> = offsets.keys().chain(owners.keys()).cloned().collect();
        let mut rows = vec![
            [
                "GROUP",
                "TOPIC",
                "PARTITION",
                "CURRENT-OFFSET",
                "LOG-END-OFFSET",
                "LAG",
                "CONSUMER-ID",
                "HOST",
                "CLIENT-ID",
            ]
            .map(String::from),
        ];
        for (topic, partition) in keys {
            let (_, end) = probe.fetch_watermarks(&topic, partition, TIMEOUT).map_err(client::unreachable)?;
            let current = offsets.get(&(topic.clone(), partition)).copied();
            let owner = owners.get(&(topic.clone(), partition));
            let dash = || "-".to_string();
            rows.push([
                group.clone(),
                topic,
                partition.to_string(),
                current.map_or_else(dash, |c| c.to_string()),
                end.to_string(),
                current.map_or_else(dash, |c| (end - c).max(0).to_string()),
                owner.map_or_else(dash, |o| o.0.clone()),
                owner.map_or_else(dash, |o| o.1.clone()),
                owner.map_or_else(dash, |o| o.2.clone()),
            ]);
        }
        println!();
        print_table(&rows);
    }
    Ok(())
}

/// `--describe --state` and `--describe --members [--verbose]`.
fn describe_view(parsed: &Parsed, group: &str, d: &crate::native::GroupDescription) {
    println!();
    if parsed.has("state") {
        print_table(&[
            ["GROUP", "COORDINATOR (ID)", "ASSIGNMENT-STRATEGY", "STATE", "#MEMBERS"].map(String::from),
            [
                group.to_string(),
                d.coordinator.clone(),
                d.assignor.clone(),
                d.state.clone(),
                d.members.len().to_string(),
            ],
        ]);
        return;
    }
    if d.members.is_empty() {
        println!("Consumer group '{group}' has no active members.");
        return;
    }
    let mut rows = vec![["GROUP", "CONSUMER-ID", "HOST", "CLIENT-ID", "#PARTITIONS", "ASSIGNMENT"].map(String::from)];
    for m in &d.members {
        // Kafka's verbose form: topic(0,1),other(2)
        let mut by_topic: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for (t, p) in &m.partitions {
            by_topic.entry(t).or_default().push(p.to_string());
        }
        let assignment: Vec<String> = by_topic.iter().map(|(t, ps)| format!("{t}({})", ps.join(","))).collect();
        rows.push([
            group.to_string(),
            m.id.clone(),
            m.host.clone(),
            m.client_id.clone(),
            m.partitions.len().to_string(),
            if assignment.is_empty() { "-".into() } else { assignment.join(",") },
        ]);
    }
    if !parsed.has("verbose") {
        for row in &mut rows {
            row[5].clear();
        }
    }
    print_table(&rows);
}

/// Columns padded to their widest cell, as Kafka's tool prints them.
pub(crate) fn print_table<const N: usize>(rows: &[[String; N]]) {
    let widths: Vec<usize> = (0..N).map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0)).collect();
    for row in rows {
        let cells: Vec<String> = row.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
        println!("{}", cells.join(" ").trim_end());
    }
}

fn delete(parsed: &Parsed, groups: &[String]) -> Result<(), ToolError> {
    let admin = client::admin(parsed)?;
    let refs: Vec<&str> = groups.iter().map(String::as_str).collect();
    let results = block_on(admin.delete_groups(&refs, &AdminOptions::new().request_timeout(Some(TIMEOUT))))
        .map_err(|e| ToolError::failed(e.to_string()))?;
    let mut failed = Vec::new();
    for result in results {
        match result {
            Ok(group) => println!("Deletion of requested consumer groups ('{group}') was successful."),
            Err((group, code)) => failed.push(format!("Group '{group}': {code}")),
        }
    }
    if failed.is_empty() { Ok(()) } else { Err(ToolError::failed(failed.join("; "))) }
}

/// Milliseconds since the epoch of `YYYY-MM-DDTHH:mm:SS[.sss]` (UTC).
fn parse_datetime(text: &str) -> Option<i64> {
    let (date, time) = text.trim_end_matches('Z').split_once('T')?;
    let d: Vec<i64> = date.split('-').map(|p| p.parse().ok()).collect::<Option<_>>()?;
    let (hms, millis) = time.split_once('.').unwrap_or((time, "0"));
    let t: Vec<i64> = hms.split(':').map(|p| p.parse().ok()).collect::<Option<_>>()?;
    let (&[y, m, day], &[h, min, s]) = (d.as_slice(), t.as_slice()) else { return None };
    let millis: i64 = format!("{millis:0<3}")[..3].parse().ok()?;
    // Days since the epoch (Howard Hinnant's civil-date algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + h) * 60 + min) * 60_000 + s * 1000 + millis)
}

fn reset(parsed: &Parsed, probe: &BaseConsumer, groups: &[String]) -> Result<(), ToolError> {
    let [group] = groups else { return Err(ToolError::usage("--reset-offsets takes one --group")) };
    if let Some(d) = crate::native::describe_group(probe.client(), group, TIMEOUT).map_err(ToolError::failed)? {
        if !d.members.is_empty() {
            return Err(ToolError::failed(format!(
                "Assignments can only be reset if the group '{group}' is inactive, but the current state is {}.",
                d.state
            )));
        }
    }
    let committed = committed(parsed, probe, group)?;
    let partitions = chosen_partitions(parsed, probe, || committed.keys().cloned().collect())?;
    let mut new_offsets = TopicPartitionList::new();
    let mut rows = vec![["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"].map(String::from)];
    for (topic, partition) in partitions {
        let current = committed.get(&(topic.clone(), partition)).copied();
        let target = reset_target(parsed, probe, &topic, partition, current)?;
        new_offsets
            .add_partition_offset(&topic, partition, Offset::Offset(target))
            .map_err(|e| ToolError::failed(e.to_string()))?;
        rows.push([group.clone(), topic, partition.to_string(), target.to_string()]);
    }
    if parsed.has("execute") {
        consumer(parsed, group)?
            .commit(&new_offsets, CommitMode::Sync)
            .map_err(|e| ToolError::failed(e.to_string()))?;
    }
    println!();
    print_table(&rows);
    Ok(())
}

/// The partitions `--reset-offsets` moves: `--all-topics` (those `known` lists) or each
/// `--topic T` (all its partitions) or `--topic T:0,1`.
pub(crate) fn chosen_partitions(
    parsed: &Parsed,
    probe: &BaseConsumer,
    known: impl FnOnce() -> Vec<(String, i32)>,
) -> Result<Vec<(String, i32)>, ToolError> {
    chosen_partitions_by(parsed, probe, known, ("topic", "all-topics"))
}

/// As `chosen_partitions`, with the tool's own names for `--topic` and `--all-topics`.
pub(crate) fn chosen_partitions_by(
    parsed: &Parsed,
    probe: &BaseConsumer,
    known: impl FnOnce() -> Vec<(String, i32)>,
    (topic, all): (&str, &str),
) -> Result<Vec<(String, i32)>, ToolError> {
    if parsed.has(all) {
        return Ok(known());
    }
    if parsed.all(topic).is_empty() {
        return Err(ToolError::usage(format!("One of --{topic} or --{all} is required with --reset-offsets")));
    }
    let metadata = probe.fetch_metadata(None, TIMEOUT).map_err(client::unreachable)?;
    let mut out = Vec::new();
    for spec in parsed.all(topic) {
        // Kafka's `topic:0,1` form picks partitions.
        let (name, only) = match spec.split_once(':') {
            Some((n, ps)) => (n, Some(ps.split(',').filter_map(|p| p.trim().parse().ok()).collect::<Vec<i32>>())),
            None => (spec.as_str(), None),
        };
        let topic = metadata
            .topics()
            .iter()
            .find(|t| t.name() == name && t.error().is_none())
            .ok_or_else(|| ToolError::failed(format!("Topic '{name}' does not exist")))?;
        for p in topic.partitions() {
            if only.as_ref().is_none_or(|o| o.contains(&p.id())) {
                out.push((name.to_string(), p.id()));
            }
        }
    }
    Ok(out)
}

/// The offset `--reset-offsets` moves a partition to (`current`: where the group is now),
/// within the log as Kafka keeps it.
pub(crate) fn reset_target(
    parsed: &Parsed,
    probe: &BaseConsumer,
    topic: &str,
    partition: i32,
    current: Option<i64>,
) -> Result<i64, ToolError> {
    let (low, high) = probe.fetch_watermarks(topic, partition, TIMEOUT).map_err(client::unreachable)?;
    let target = if parsed.has("to-earliest") {
        low
    } else if parsed.has("to-latest") {
        high
    } else if parsed.has("to-current") {
        current.unwrap_or(high)
    } else if let Some(o) = parsed.number::<i64>("to-offset")? {
        o
    } else if let Some(shift) = parsed.number::<i64>("shift-by")? {
        current.unwrap_or(high) + shift
    } else if let Some(text) = parsed.get("to-datetime") {
        let ms = parse_datetime(text)
            .ok_or_else(|| ToolError::usage(format!("--to-datetime: '{text}' is not YYYY-MM-DDTHH:mm:SS.sss")))?;
        let mut query = TopicPartitionList::new();
        query
            .add_partition_offset(topic, partition, Offset::Offset(ms))
            .map_err(|e| ToolError::failed(e.to_string()))?;
        let found = probe.offsets_for_times(query, TIMEOUT).map_err(client::unreachable)?;
        match found.elements().first().map(|e| e.offset()) {
            Some(Offset::Offset(o)) => o,
            _ => high,
        }
    } else {
        return Err(ToolError::usage(
            "One of --to-earliest, --to-latest, --to-offset, --shift-by or --to-datetime is required",
        ));
    };
    // Out of range: Kafka moves it to the nearest end.
    Ok(target.clamp(low, high))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Dates as Kafka's tool takes them, in UTC.
    #[test]
    fn datetimes() {
        assert_eq!(parse_datetime("1970-01-01T00:00:00.000"), Some(0));
        assert_eq!(parse_datetime("2026-11-26T01:02:03.456"), Some(1_795_654_923_456));
        assert_eq!(parse_datetime("2000-03-01T00:00:00"), Some(951_868_800_000));
        assert_eq!(parse_datetime("yesterday"), None);
    }
}
