//! `brook share-groups` (kafka-share-groups): list share groups, describe their members,
//! state and offsets (start offset and lag), reset a group's offsets, delete offsets, delete
//! groups. librdkafka has no share group admin API, so this speaks Kafka's requests to the
//! group's coordinator; the reset targets come from the partitions' watermarks, as for
//! consumer groups.

use kafka_protocol::messages::{
    AlterShareGroupOffsetsRequest, ApiKey, DeleteShareGroupOffsetsRequest, DescribeShareGroupOffsetsRequest, GroupId,
    ResponseKind, ShareGroupDescribeRequest, TopicName, alter_share_group_offsets_request,
    delete_share_group_offsets_request, describe_share_group_offsets_request, share_group_describe_response,
};
use kafka_protocol::protocol::StrBytes;

use crate::ToolError;
use crate::args::{Opt, Parsed};
use crate::consumer_groups::{chosen_partitions, consumer, print_table, reset_target};
use crate::coordinator::{chosen_groups, coordinator, delete, unexpected};
use crate::wire::{Wire, error_text};

pub const PURPOSE: &str = "List, describe, reset the offsets of, or delete share groups.";

pub const OPTS: &[Opt] = &[
    Opt { name: "bootstrap-server", value: true, help: "the broker(s) to connect to (host:port,...)" },
    Opt { name: "command-config", value: true, help: "a properties file of client settings" },
    Opt { name: "list", value: false, help: "list share groups" },
    Opt { name: "describe", value: false, help: "offsets and lag, members, or state" },
    Opt { name: "reset-offsets", value: false, help: "move a group's start offsets (the group must have no member)" },
    Opt { name: "delete-offsets", value: false, help: "delete a group's offsets for --topic (no member either)" },
    Opt { name: "delete", value: false, help: "delete share groups" },
    Opt { name: "offsets", value: false, help: "with --describe: start offsets and lag (the default view)" },
    Opt { name: "members", value: false, help: "with --describe: the members and their partitions" },
    Opt { name: "state", value: false, help: "with --describe: coordinator, state, member count" },
    Opt { name: "verbose", value: false, help: "with --describe --offsets: the leader epoch too" },
    Opt { name: "group", value: true, help: "the share group (repeatable for --describe and --delete)" },
    Opt { name: "all-groups", value: false, help: "every share group (--describe, --delete)" },
    Opt { name: "topic", value: true, help: "the topic (T or T:0,1) to reset or delete offsets of (repeatable)" },
    Opt { name: "all-topics", value: false, help: "reset every topic the group has offsets for" },
    Opt { name: "to-earliest", value: false, help: "reset to the log start" },
    Opt { name: "to-latest", value: false, help: "reset to the log end" },
    Opt { name: "to-current", value: false, help: "reset to the current start offset" },
    Opt { name: "to-offset", value: true, help: "reset to this offset" },
    Opt { name: "to-datetime", value: true, help: "reset to the first record at or after YYYY-MM-DDTHH:mm:SS[.sss]" },
    Opt { name: "dry-run", value: false, help: "show the new offsets only" },
    Opt { name: "execute", value: false, help: "set the new offsets" },
];

fn text(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

pub fn run(parsed: &Parsed) -> Result<(), ToolError> {
    let actions = ["list", "describe", "reset-offsets", "delete-offsets", "delete"];
    if actions.iter().filter(|a| parsed.has(a)).count() != 1 {
        return Err(ToolError::usage(
            "Command must include exactly one action: --list, --describe, --delete, --reset-offsets, --delete-offsets",
        ));
    }
    let mut wire = Wire::connect(parsed)?;
    let Some(groups) = chosen_groups(parsed, &mut wire, "share")? else { return Ok(()) };
    if parsed.has("delete") {
        return delete(&mut wire, &groups, "share");
    }
    if parsed.has("describe") {
        for group in &groups {
            describe(parsed, &mut wire, group)?;
        }
        return Ok(());
    }
    let [group] = groups.as_slice() else {
        return Err(ToolError::usage("Give one --group"));
    };
    let (mut coordinator, _) = coordinator(&mut wire, group)?;
    if !describe_group(&mut coordinator, group)?.members.is_empty() {
        return Err(ToolError::failed(format!("Share group '{group}' is not empty.")));
    }
    if parsed.has("delete-offsets") {
        delete_offsets(parsed, &mut coordinator, group)
    } else {
        reset(parsed, &mut coordinator, group)
    }
}

fn describe_group(
    coordinator: &mut Wire,
    group: &str,
) -> Result<share_group_describe_response::DescribedGroup, ToolError> {
    let request = ShareGroupDescribeRequest::default().with_group_ids(vec![GroupId(text(group))]);
    let ResponseKind::ShareGroupDescribe(r) = coordinator.call(ApiKey::ShareGroupDescribe, 1, &request)? else {
        return Err(unexpected("ShareGroupDescribe"));
    };
    let described = r.groups.into_iter().next().ok_or_else(|| unexpected("ShareGroupDescribe"))?;
    match described.error_code {
        0 => Ok(described),
        code => Err(ToolError::failed(error_text(code, described.error_message.as_ref()))),
    }
}

/// (topic, partition, start offset, leader epoch, lag) of each partition the group has.
type Offsets = Vec<(String, i32, i64, i32, i64)>;

fn offsets(coordinator: &mut Wire, group: &str) -> Result<Offsets, ToolError> {
    let request = DescribeShareGroupOffsetsRequest::default().with_groups(vec![
        describe_share_group_offsets_request::DescribeShareGroupOffsetsRequestGroup::default()
            .with_group_id(GroupId(text(group)))
            .with_topics(None),
    ]);
    let ResponseKind::DescribeShareGroupOffsets(r) =
        coordinator.call(ApiKey::DescribeShareGroupOffsets, 1, &request)?
    else {
        return Err(unexpected("DescribeShareGroupOffsets"));
    };
    let g = r.groups.into_iter().next().ok_or_else(|| unexpected("DescribeShareGroupOffsets"))?;
    if g.error_code != 0 {
        return Err(ToolError::failed(error_text(g.error_code, g.error_message.as_ref())));
    }
    let mut rows = Vec::new();
    for t in g.topics {
        for p in t.partitions {
            if p.error_code != 0 {
                return Err(ToolError::failed(format!(
                    "{}-{}: {}",
                    t.topic_name.as_str(),
                    p.partition_index,
                    error_text(p.error_code, p.error_message.as_ref())
                )));
            }
            rows.push((t.topic_name.to_string(), p.partition_index, p.start_offset, p.leader_epoch, p.lag));
        }
    }
    rows.sort();
    Ok(rows)
}

/// A number, or "-" where Kafka's tool shows none (-1).
fn or_dash(n: i64) -> String {
    if n < 0 { "-".into() } else { n.to_string() }
}

fn describe(parsed: &Parsed, wire: &mut Wire, group: &str) -> Result<(), ToolError> {
    let (mut coordinator, coordinator_name) = coordinator(wire, group)?;
    let described = describe_group(&mut coordinator, group)?;
    println!();
    if parsed.has("state") {
        print_table(&[
            ["GROUP", "COORDINATOR (ID)", "STATE", "#MEMBERS"].map(String::from),
            [
                group.to_string(),
                coordinator_name,
                described.group_state.to_string(),
                described.members.len().to_string(),
            ],
        ]);
    } else if parsed.has("members") {
        if described.members.is_empty() {
            println!("Share group '{group}' has no active members.");
            return Ok(());
        }
        let mut rows =
            vec![["GROUP", "CONSUMER-ID", "HOST", "CLIENT-ID", "#PARTITIONS", "ASSIGNMENT"].map(String::from)];
        for m in &described.members {
            let assigned: Vec<String> = m
                .assignment
                .topic_partitions
                .iter()
                .flat_map(|t| t.partitions.iter().map(move |p| format!("{}:{p}", t.topic_name.as_str())))
                .collect();
            rows.push([
                group.to_string(),
                m.member_id.to_string(),
                m.client_host.to_string(),
                m.client_id.to_string(),
                assigned.len().to_string(),
                assigned.join(","),
            ]);
        }
        print_table(&rows);
    } else {
        let offsets = offsets(&mut coordinator, group)?;
        if offsets.is_empty() {
            println!("Share group '{group}' has no offset information.");
            return Ok(());
        }
        if parsed.has("verbose") {
            let mut rows =
                vec![["GROUP", "TOPIC", "PARTITION", "LEADER-EPOCH", "START-OFFSET", "LAG"].map(String::from)];
            rows.extend(offsets.into_iter().map(|(t, p, start, epoch, lag)| {
                let epoch = if start < 0 { "-".into() } else { epoch.to_string() };
                [group.to_string(), t, p.to_string(), epoch, or_dash(start), or_dash(lag)]
            }));
            print_table(&rows);
        } else {
            let mut rows = vec![["GROUP", "TOPIC", "PARTITION", "START-OFFSET", "LAG"].map(String::from)];
            rows.extend(
                offsets
                    .into_iter()
                    .map(|(t, p, start, _, lag)| [group.to_string(), t, p.to_string(), or_dash(start), or_dash(lag)]),
            );
            print_table(&rows);
        }
    }
    Ok(())
}

fn reset(parsed: &Parsed, coordinator: &mut Wire, group: &str) -> Result<(), ToolError> {
    if parsed.has("execute") == parsed.has("dry-run") {
        return Err(ToolError::usage("Give one of --dry-run or --execute with --reset-offsets"));
    }
    let current = offsets(coordinator, group)?;
    let probe = consumer(parsed, "brook-share-groups")?;
    let known = || current.iter().map(|(t, p, ..)| (t.clone(), *p)).collect();
    let partitions = chosen_partitions(parsed, &probe, known)?;
    let mut rows = vec![["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"].map(String::from)];
    let mut topics: Vec<alter_share_group_offsets_request::AlterShareGroupOffsetsRequestTopic> = Vec::new();
    for (topic, partition) in partitions {
        let start = current.iter().find(|(t, p, ..)| *t == topic && *p == partition).map(|r| r.2).filter(|&s| s >= 0);
        let target = reset_target(parsed, &probe, &topic, partition, start)?;
        rows.push([group.to_string(), topic.clone(), partition.to_string(), target.to_string()]);
        let entry = alter_share_group_offsets_request::AlterShareGroupOffsetsRequestPartition::default()
            .with_partition_index(partition)
            .with_start_offset(target);
        match topics.iter_mut().find(|t| t.topic_name.as_str() == topic) {
            Some(t) => t.partitions.push(entry),
            None => topics.push(
                alter_share_group_offsets_request::AlterShareGroupOffsetsRequestTopic::default()
                    .with_topic_name(TopicName(text(&topic)))
                    .with_partitions(vec![entry]),
            ),
        }
    }
    if parsed.has("execute") {
        let request = AlterShareGroupOffsetsRequest::default().with_group_id(GroupId(text(group))).with_topics(topics);
        let ResponseKind::AlterShareGroupOffsets(r) = coordinator.call(ApiKey::AlterShareGroupOffsets, 0, &request)?
        else {
            return Err(unexpected("AlterShareGroupOffsets"));
        };
        if r.error_code != 0 {
            return Err(ToolError::failed(error_text(r.error_code, r.error_message.as_ref())));
        }
        let failed: Vec<String> = r
            .responses
            .iter()
            .flat_map(|t| {
                t.partitions.iter().filter(|p| p.error_code != 0).map(move |p| {
                    format!(
                        "{}-{}: {}",
                        t.topic_name.as_str(),
                        p.partition_index,
                        error_text(p.error_code, p.error_message.as_ref())
                    )
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

fn delete_offsets(parsed: &Parsed, coordinator: &mut Wire, group: &str) -> Result<(), ToolError> {
    if parsed.all("topic").is_empty() {
        return Err(ToolError::usage("Give --topic with --delete-offsets"));
    }
    let request = DeleteShareGroupOffsetsRequest::default().with_group_id(GroupId(text(group))).with_topics(
        parsed
            .all("topic")
            .iter()
            .map(|t| {
                delete_share_group_offsets_request::DeleteShareGroupOffsetsRequestTopic::default()
                    .with_topic_name(TopicName(text(t)))
            })
            .collect(),
    );
    let ResponseKind::DeleteShareGroupOffsets(r) = coordinator.call(ApiKey::DeleteShareGroupOffsets, 0, &request)?
    else {
        return Err(unexpected("DeleteShareGroupOffsets"));
    };
    if r.error_code != 0 {
        return Err(ToolError::failed(error_text(r.error_code, r.error_message.as_ref())));
    }
    let mut rows = vec![["TOPIC", "STATUS"].map(String::from)];
    let mut failed = false;
    for t in &r.responses {
        failed |= t.error_code != 0;
        let status = match t.error_code {
            0 => "Successful".to_string(),
            code => format!("Error: {}", error_text(code, t.error_message.as_ref())),
        };
        rows.push([t.topic_name.to_string(), status]);
    }
    println!();
    print_table(&rows);
    if failed { Err(ToolError::failed("some offsets were not deleted")) } else { Ok(()) }
}
