//! `brook metadata-quorum` (kafka-metadata-quorum): `describe --status` (the quorum's leader,
//! epoch, high watermark and voters) or `describe --replication` (each voter's and observer's
//! progress), from DescribeQuorum.

use kafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
use kafka_protocol::messages::describe_quorum_response::ReplicaState;
use kafka_protocol::messages::{ApiKey, DescribeClusterRequest, DescribeQuorumRequest, ResponseKind, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::ToolError;
use crate::args::{Opt, Parsed};
use crate::wire::{Wire, error_text};

pub const PURPOSE: &str = "Describe the metadata quorum: `describe --status` or `describe --replication`.";

pub const OPTS: &[Opt] = &[
    Opt { name: "bootstrap-server", value: true, help: "the broker(s) to connect to (host:port,...)" },
    Opt { name: "status", value: false, help: "with describe: the leader, epoch, high watermark and voters" },
    Opt { name: "replication", value: false, help: "with describe: every voter's and observer's progress" },
];

/// Kafka's tool takes a `describe` command before its options.
pub fn strip_command(args: &[String]) -> Result<Vec<String>, ToolError> {
    let (commands, options): (Vec<&String>, Vec<&String>) = args.iter().partition(|a| *a == "describe");
    if commands.len() != 1 {
        return Err(ToolError::usage("The command is missing: describe --status or describe --replication"));
    }
    Ok(options.into_iter().cloned().collect())
}

pub fn run(parsed: &Parsed) -> Result<(), ToolError> {
    if parsed.has("status") == parsed.has("replication") {
        return Err(ToolError::usage("describe needs one of --status or --replication"));
    }
    let mut wire = Wire::connect(parsed)?;
    let topic = TopicData::default()
        .with_topic_name(TopicName(StrBytes::from_static_str("__cluster_metadata")))
        .with_partitions(vec![PartitionData::default()]);
    let request = DescribeQuorumRequest::default().with_topics(vec![topic]);
    let ResponseKind::DescribeQuorum(response) = wire.call(ApiKey::DescribeQuorum, 1, &request)? else {
        return Err(ToolError::failed("unexpected answer to DescribeQuorum"));
    };
    if response.error_code != 0 {
        return Err(ToolError::failed(error_text(response.error_code, None)));
    }
    let quorum = response
        .topics
        .first()
        .and_then(|t| t.partitions.first())
        .ok_or_else(|| ToolError::failed("DescribeQuorum answered no partition"))?;
    if quorum.error_code != 0 {
        return Err(ToolError::failed(error_text(quorum.error_code, None)));
    }
    let leader = quorum.leader_id.0;
    let leader_end = quorum.current_voters.iter().find(|v| v.replica_id.0 == leader).map_or(-1, |v| v.log_end_offset);
    if parsed.has("replication") {
        println!(
            "{:<7} {:<13} {:<6} {:<19} {:<22} Status",
            "NodeId", "LogEndOffset", "Lag", "LastFetchTimestamp", "LastCaughtUpTimestamp"
        );
        let voters =
            quorum.current_voters.iter().map(|v| (v, if v.replica_id.0 == leader { "Leader" } else { "Follower" }));
        for (r, status) in voters.chain(quorum.observers.iter().map(|o| (o, "Observer"))) {
            let lag = (leader_end - r.log_end_offset).max(0);
            println!(
                "{:<7} {:<13} {:<6} {:<19} {:<22} {status}",
                r.replica_id.0, r.log_end_offset, lag, r.last_fetch_timestamp, r.last_caught_up_timestamp
            );
        }
        return Ok(());
    }
    let ResponseKind::DescribeCluster(cluster) =
        wire.call(ApiKey::DescribeCluster, 0, &DescribeClusterRequest::default())?
    else {
        return Err(ToolError::failed("unexpected answer to DescribeCluster"));
    };
    let followers: Vec<&ReplicaState> = quorum.current_voters.iter().filter(|v| v.replica_id.0 != leader).collect();
    let max_lag = followers.iter().map(|v| (leader_end - v.log_end_offset).max(0)).max().unwrap_or(0);
    let leader_caught_up =
        quorum.current_voters.iter().find(|v| v.replica_id.0 == leader).map_or(-1, |v| v.last_caught_up_timestamp);
    let max_lag_ms =
        followers.iter().map(|v| (leader_caught_up - v.last_caught_up_timestamp).max(0)).max().unwrap_or(0);
    let ids = |replicas: &[ReplicaState]| {
        replicas.iter().map(|r| format!("{{\"id\": {}}}", r.replica_id.0)).collect::<Vec<_>>().join(", ")
    };
    println!("ClusterId:              {}", cluster.cluster_id.as_str());
    println!("LeaderId:               {leader}");
    println!("LeaderEpoch:            {}", quorum.leader_epoch);
    println!("HighWatermark:          {}", quorum.high_watermark);
    println!("MaxFollowerLag:         {max_lag}");
    println!("MaxFollowerLagTimeMs:   {max_lag_ms}");
    println!("CurrentVoters:          [{}]", ids(&quorum.current_voters));
    println!("CurrentObservers:       [{}]", ids(&quorum.observers));
    Ok(())
}
