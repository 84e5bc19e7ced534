//! `brook streams-groups` (kafka-streams-groups): list streams groups (KIP-1071), describe
//! their members and tasks, state, and committed offsets with lag, reset the offsets of an
//! empty group, and delete them. librdkafka
//! has no streams group admin API, so this speaks Kafka's requests to the group's coordinator.

use kafka_protocol::messages::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestGroup;
use kafka_protocol::messages::{
    ApiKey, GroupId, OffsetCommitRequest, OffsetFetchRequest, ResponseKind, StreamsGroupDescribeRequest, TopicName,
    streams_group_describe_response,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::consumer::Consumer;

use crate::ToolError;
use crate::args::{Opt, Parsed};
use crate::client;
use crate::consumer_groups::{chosen_partitions_by, consumer, print_table, reset_target};
use crate::coordinator::{chosen_groups, coordinator, delete, unexpected};
use crate::wire::{Wire, error_text};

pub const PURPOSE: &str = "List, describe or delete streams groups (Kafka Streams with group.protocol=streams).";

pub const OPTS: &[Opt] = &[
    Opt { name: "bootstrap-server", value: true, help: "the broker(s) to connect to (host:port,...)" },
    Opt { name: "command-config", value: true, help: "a properties file of client settings" },
    Opt { name: "list", value: false, help: "list streams groups" },
    Opt { name: "describe", value: false, help: "committed offsets and lag, members, or state" },
    Opt { name: "delete", value: false, help: "delete streams groups (they must have no member)" },
    Opt {
        name: "reset-offsets",
        value: false,
        help: "move a group's committed offsets (the group must have no member)",
    },
    Opt { name: "offsets", value: false, help: "with --describe: committed offsets and lag (the default view)" },
    Opt { name: "members", value: false, help: "with --describe: the members and their tasks" },
    Opt { name: "state", value: false, help: "with --describe: coordinator, state, epochs, member count" },
    Opt { name: "group", value: true, help: "the streams group (repeatable for --describe and --delete)" },
    Opt { name: "all-groups", value: false, help: "every streams group (--describe, --delete)" },
    Opt { name: "input-topic", value: true, help: "the input topic (T or T:0,1) to reset (repeatable)" },
    Opt { name: "all-input-topics", value: false, help: "reset every topic the group committed offsets for" },
    Opt { name: "to-earliest", value: false, help: "reset to the log start" },
    Opt { name: "to-latest", value: false, help: "reset to the log end" },
    Opt { name: "to-current", value: false, help: "reset to the committed offset" },
    Opt { name: "to-offset", value: true, help: "reset to this offset" },
    Opt { name: "shift-by", value: true, help: "move the committed offset by this many records" },
    Opt { name: "to-datetime", value: true, help: "reset to the first record at or after YYYY-MM-DDTHH:mm:SS[.sss]" },
    Opt { name: "dry-run", value: false, help: "show the new offsets only" },
    Opt { name: "execute", value: false, help: "commit the new offsets" },
];

const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

fn text(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

pub fn run(parsed: &Parsed) -> Result<(), ToolError> {
    let actions = ["list", "describe", "delete", "reset-offsets"];
    if actions.iter().filter(|a| parsed.has(a)).count() != 1 {
        return Err(ToolError::usage(
            "Command must include exactly one action: --list, --describe, --delete, --reset-offsets",
        ));
    }
    let mut wire = Wire::connect(parsed)?;
    let Some(groups) = chosen_groups(parsed, &mut wire, "streams")? else { return Ok(()) };
    if parsed.has("delete") {
        return delete(&mut wire, &groups, "streams");
    }
    if parsed.has("reset-offsets") {
        let [group] = groups.as_slice() else { return Err(ToolError::usage("Give one --group")) };
        return reset(parsed, &mut wire, group);
    }
    for group in &groups {
        describe(parsed, &mut wire, group)?;
    }
    Ok(())
}

/// Commits new offsets for an empty group (as the admin client does: no member, no epoch).
fn reset(parsed: &Parsed, wire: &mut Wire, group: &str) -> Result<(), ToolError> {
    if parsed.has("execute") == parsed.has("dry-run") {
        return Err(ToolError::usage("Give one of --dry-run or --execute with --reset-offsets"));
    }
    let (mut coordinator, _) = coordinator(wire, group)?;
    let described = describe_group(&mut coordinator, group)?;
    if !described.members.is_empty() {
        return Err(ToolError::failed(format!(
            "Assignments can only be reset if the group '{group}' is inactive, but the current state is {}.",
            described.group_state.as_str()
        )));
    }
    let current = committed(&mut coordinator, group)?;
    let probe = consumer(parsed, "brook-streams-groups")?;
    let known = || current.iter().map(|(t, p, _)| (t.clone(), *p)).collect();
    let partitions = chosen_partitions_by(parsed, &probe, known, ("input-topic", "all-input-topics"))?;
    let mut rows = vec![["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"].map(String::from)];
    let mut topics: Vec<OffsetCommitRequestTopic> = Vec::new();
    for (topic, partition) in partitions {
        let at = current.iter().find(|(t, p, _)| *t == topic && *p == partition).map(|r| r.2);
        let target = reset_target(parsed, &probe, &topic, partition, at)?;
        rows.push([group.to_string(), topic.clone(), partition.to_string(), target.to_string()]);
        let entry =
            OffsetCommitRequestPartition::default().with_partition_index(partition).with_committed_offset(target);
        match topics.iter_mut().find(|t| t.name.as_str() == topic) {
            Some(t) => t.partitions.push(entry),
            None => topics.push(
                OffsetCommitRequestTopic::default().with_name(TopicName(text(&topic))).with_partitions(vec![entry]),
            ),
        }
    }
    if parsed.has("execute") {
        let request = OffsetCommitRequest::default()
            .with_group_id(GroupId(text(group)))
            .with_generation_id_or_member_epoch(-1)
            .with_topics(topics);
        let ResponseKind::OffsetCommit(r) = coordinator.call(ApiKey::OffsetCommit, 8, &request)? else {
            return Err(unexpected("OffsetCommit"));
        };
        let failed: Vec<String> = r
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions.iter().filter(|p| p.error_code != 0).map(move |p| {
                    format!("{}-{}: {}", t.name.as_str(), p.partition_index, error_text(p.error_code, None))
                })
            })
            .collect();
        if !failed.is_empty() {
            return Err(ToolError::failed(failed.join("; ")));
        }
    }
    println!();
    print_table(&rows);
    Ok(())
}

fn describe_group(
    coordinator: &mut Wire,
    group: &str,
) -> Result<streams_group_describe_response::DescribedGroup, ToolError> {
    let request = StreamsGroupDescribeRequest::default().with_group_ids(vec![GroupId(text(group))]);
    let ResponseKind::StreamsGroupDescribe(r) = coordinator.call(ApiKey::StreamsGroupDescribe, 0, &request)? else {
        return Err(unexpected("StreamsGroupDescribe"));
    };
    let described = r.groups.into_iter().next().ok_or_else(|| unexpected("StreamsGroupDescribe"))?;
    match described.error_code {
        0 => Ok(described),
        code => Err(ToolError::failed(error_text(code, described.error_message.as_ref()))),
    }
}

/// "ACTIVE: 0:[0,1]; STANDBY: 1:[2];" as Kafka's tool shows a member's tasks.
fn tasks(a: &streams_group_describe_response::Assignment) -> String {
    let mut out = String::new();
    for (role, set) in [("ACTIVE", &a.active_tasks), ("STANDBY", &a.standby_tasks), ("WARMUP", &a.warmup_tasks)] {
        if set.is_empty() {
            continue;
        }
        out.push_str(role);
        out.push(':');
        for t in set {
            let partitions: Vec<String> = t.partitions.iter().map(i32::to_string).collect();
            out.push_str(&format!(" {}:[{}];", t.subtopology_id.as_str(), partitions.join(",")));
        }
        out.push(' ');
    }
    out.trim_end().to_string()
}

/// (topic, partition, committed offset) of every partition the group committed.
fn committed(coordinator: &mut Wire, group: &str) -> Result<Vec<(String, i32, i64)>, ToolError> {
    let request = OffsetFetchRequest::default()
        .with_groups(vec![OffsetFetchRequestGroup::default().with_group_id(GroupId(text(group))).with_topics(None)]);
    let ResponseKind::OffsetFetch(r) = coordinator.call(ApiKey::OffsetFetch, 8, &request)? else {
        return Err(unexpected("OffsetFetch"));
    };
    let g = r.groups.into_iter().next().ok_or_else(|| unexpected("OffsetFetch"))?;
    if g.error_code != 0 {
        return Err(ToolError::failed(error_text(g.error_code, None)));
    }
    let mut rows: Vec<(String, i32, i64)> = g
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(move |p| (t.name.to_string(), p.partition_index, p.committed_offset)))
        .filter(|(_, _, offset)| *offset >= 0)
        .collect();
    rows.sort();
    Ok(rows)
}

fn describe(parsed: &Parsed, wire: &mut Wire, group: &str) -> Result<(), ToolError> {
    let (mut coordinator, coordinator_name) = coordinator(wire, group)?;
    let described = describe_group(&mut coordinator, group)?;
    println!();
    if parsed.has("state") {
        print_table(&[
            ["GROUP", "COORDINATOR (ID)", "STATE", "GROUP-EPOCH", "TARGET-ASSIGNMENT-EPOCH", "#MEMBERS"]
                .map(String::from),
            [
                group.to_string(),
                coordinator_name,
                described.group_state.to_string(),
                described.group_epoch.to_string(),
                described.assignment_epoch.to_string(),
                described.members.len().to_string(),
            ],
        ]);
    } else if parsed.has("members") {
        if described.members.is_empty() {
            println!("Streams group '{group}' has no active members.");
            return Ok(());
        }
        let mut rows = vec![["GROUP", "MEMBER", "PROCESS", "CLIENT-ID", "ASSIGNMENTS"].map(String::from)];
        for m in &described.members {
            rows.push([
                group.to_string(),
                m.member_id.to_string(),
                m.process_id.to_string(),
                m.client_id.to_string(),
                tasks(&m.assignment),
            ]);
        }
        print_table(&rows);
    } else {
        let offsets = committed(&mut coordinator, group)?;
        if offsets.is_empty() {
            println!("Streams group '{group}' has no committed offsets.");
            return Ok(());
        }
        let probe = consumer(parsed, "brook-streams-groups")?;
        let mut rows =
            vec![["GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG"].map(String::from)];
        for (topic, partition, offset) in offsets {
            let (_, end) = probe.fetch_watermarks(&topic, partition, TIMEOUT).map_err(client::unreachable)?;
            rows.push([
                group.to_string(),
                topic,
                partition.to_string(),
                offset.to_string(),
                end.to_string(),
                (end - offset).max(0).to_string(),
            ]);
        }
        print_table(&rows);
    }
    Ok(())
}
