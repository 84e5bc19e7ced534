//! `brook streams-groups` (kafka-streams-groups): list streams groups (KIP-1071), describe
//! their members and tasks, state, and committed offsets with lag, and delete them. librdkafka
//! has no streams group admin API, so this speaks Kafka's requests to the group's coordinator.

use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestGroup;
use kafka_protocol::messages::{
    ApiKey, GroupId, OffsetFetchRequest, ResponseKind, StreamsGroupDescribeRequest, streams_group_describe_response,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::consumer::Consumer;

use crate::ToolError;
use crate::args::{Opt, Parsed};
use crate::client;
use crate::consumer_groups::{consumer, print_table};
use crate::coordinator::{chosen_groups, coordinator, delete, unexpected};
use crate::wire::{Wire, error_text};

pub const PURPOSE: &str = "List, describe or delete streams groups (Kafka Streams with group.protocol=streams).";

pub const OPTS: &[Opt] = &[
    Opt { name: "bootstrap-server", value: true, help: "the broker(s) to connect to (host:port,...)" },
    Opt { name: "command-config", value: true, help: "a properties file of client settings" },
    Opt { name: "list", value: false, help: "list streams groups" },
    Opt { name: "describe", value: false, help: "committed offsets and lag, members, or state" },
    Opt { name: "delete", value: false, help: "delete streams groups (they must have no member)" },
    Opt { name: "offsets", value: false, help: "with --describe: committed offsets and lag (the default view)" },
    Opt { name: "members", value: false, help: "with --describe: the members and their tasks" },
    Opt { name: "state", value: false, help: "with --describe: coordinator, state, epochs, member count" },
    Opt { name: "group", value: true, help: "the streams group (repeatable for --describe and --delete)" },
    Opt { name: "all-groups", value: false, help: "every streams group (--describe, --delete)" },
];

const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

fn text(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

pub fn run(parsed: &Parsed) -> Result<(), ToolError> {
    let actions = ["list", "describe", "delete"];
    if actions.iter().filter(|a| parsed.has(a)).count() != 1 {
        return Err(ToolError::usage("Command must include exactly one action: --list, --describe, --delete"));
    }
    let mut wire = Wire::connect(parsed)?;
    let Some(groups) = chosen_groups(parsed, &mut wire, "streams")? else { return Ok(()) };
    if parsed.has("delete") {
        return delete(&mut wire, &groups, "streams");
    }
    for group in &groups {
        describe(parsed, &mut wire, group)?;
    }
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
