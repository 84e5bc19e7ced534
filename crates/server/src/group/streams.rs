//! Streams groups (KIP-1071) in the group coordinator: the group lives beside the classic and
//! consumer groups of the same id space (sharing their committed offsets), its heartbeats
//! handled by `brook_streams`, its session and revocation deadlines kept here as timers.
//! A group's state is written to `__consumer_offsets` in Kafka's records (`streams_records`)
//! before a heartbeat is answered, so a new coordinator carries on with the same members.

use brook_streams::group::{self, Refusal};
use brook_streams::{Catalog, Heartbeat, Outcome, StreamsGroup};
use kafka_protocol::error::ResponseError;
use tracing::info;

use super::classic::{Group, GroupState};
use super::{Action, GroupCoordinator, Guard, TimerKey};

/// A streams group's group-level settings (its `streams.*` group configs).
pub struct StreamsSettings {
    pub session_timeout_ms: i32,
    pub standby_replicas: i32,
    pub initial_delay_ms: i32,
}

fn refused((why, message): group::Refused) -> (ResponseError, String) {
    let code = match why {
        Refusal::InvalidRequest => ResponseError::InvalidRequest,
        Refusal::UnknownMemberId => ResponseError::UnknownMemberId,
        Refusal::FencedMemberEpoch => ResponseError::FencedMemberEpoch,
        Refusal::GroupMaxSizeReached => ResponseError::GroupMaxSizeReached,
        Refusal::InvalidTopology => ResponseError::StreamsInvalidTopology,
        Refusal::InvalidTopologyEpoch => ResponseError::StreamsInvalidTopologyEpoch,
    };
    (code, message)
}

fn not_streams(group_id: &str) -> (ResponseError, String) {
    (ResponseError::GroupIdNotFound, format!("Group {group_id} is not a streams group."))
}

impl GroupCoordinator {
    /// Handles one StreamsGroupHeartbeat.
    pub fn streams_heartbeat(
        &self,
        now_ms: i64,
        group_id: &str,
        heartbeat: Heartbeat,
        catalog: &Catalog<'_>,
        settings: &StreamsSettings,
    ) -> Result<Outcome, (ResponseError, String)> {
        if group_id.is_empty() {
            return Err((ResponseError::InvalidRequest, "GroupId can't be empty.".into()));
        }
        group::validate(&heartbeat).map_err(refused)?;
        self.lock(now_ms).streams_heartbeat(group_id, heartbeat, catalog, settings)
    }

    /// A streams group as StreamsGroupDescribe shows it: its state name and a copy.
    pub fn streams_describe(&self, group_id: &str) -> Result<(&'static str, StreamsGroup), (ResponseError, String)> {
        let state = self.state.lock().expect("group coordinator lock");
        let group = state
            .groups
            .get(group_id)
            .ok_or_else(|| (ResponseError::GroupIdNotFound, format!("Group {group_id} not found.")))?;
        let s = group.streams.as_ref().ok_or_else(|| not_streams(group_id))?;
        Ok((s.state_name(), s.clone()))
    }
}

impl Guard<'_> {
    fn streams_heartbeat(
        &mut self,
        group_id: &str,
        heartbeat: Heartbeat,
        catalog: &Catalog<'_>,
        settings: &StreamsSettings,
    ) -> Result<Outcome, (ResponseError, String)> {
        let now_ms = self.state.now_ms;
        let max_size = self.state.config.max_size;
        let joining = heartbeat.member_epoch == 0;
        let group = match self.state.groups.get_mut(group_id) {
            Some(g) => g,
            None if joining => {
                self.state.groups.entry(group_id.to_string()).or_insert_with(|| Group::new(group_id, now_ms))
            }
            None => {
                return Err((
                    ResponseError::UnknownMemberId,
                    format!("Member {} is not a member of the group.", heartbeat.member_id),
                ));
            }
        };
        if group.streams.is_none() {
            if group.consumer.is_some() || !group.members.is_empty() || group.state != GroupState::Empty {
                return Err(not_streams(group_id));
            }
            // An empty classic group (offsets only) becomes a streams group, keeping its offsets.
            group.streams = Some(StreamsGroup::default());
        }
        let streams = group.streams.as_mut().expect("set above");
        let member_id = heartbeat.member_id.clone();
        let epoch_before = streams.epoch;
        let group_settings = group::Settings {
            now_ms,
            max_size,
            standby_replicas: settings.standby_replicas,
            initial_delay_ms: i64::from(settings.initial_delay_ms),
        };
        let outcome = streams.heartbeat(heartbeat, catalog, &group_settings).map_err(refused)?;
        if streams.epoch != epoch_before {
            info!(group = group_id, member = member_id, epoch = streams.epoch, "streams group epoch bumped");
        }
        let rebalance_timeout = streams.members.get(&member_id).map(|m| m.rebalance_timeout_ms);
        let only_this_member = (!outcome.group_changed).then_some(member_id.clone());
        self.write_streams_group(group_id, only_this_member.as_deref());
        let heartbeat_key = TimerKey::Heartbeat(group_id.to_string(), member_id.clone());
        let revocation = TimerKey::Revocation(group_id.to_string(), member_id);
        match rebalance_timeout {
            None => {
                self.cancel(&heartbeat_key);
                self.cancel(&revocation);
            }
            Some(rebalance_timeout) => {
                self.schedule(heartbeat_key, i64::from(settings.session_timeout_ms), Action::ExpireStreams);
                if !outcome.revoking {
                    self.cancel(&revocation);
                } else if !self.state.timers.contains_key(&revocation) {
                    let epoch = outcome.member_epoch;
                    self.schedule(revocation, i64::from(rebalance_timeout), Action::ExpireStreamsRevocation { epoch });
                }
            }
        }
        Ok(outcome)
    }

    /// A streams member missed its session timeout or did not stop its tasks in time.
    pub(super) fn remove_streams_member(&mut self, group_id: &str, member_id: &str, why: &str) {
        let Some(s) = self.state.groups.get_mut(group_id).and_then(|g| g.streams.as_mut()) else { return };
        if s.remove_member(member_id) {
            info!(group = group_id, member = member_id, epoch = s.epoch, why, "streams member removed");
            self.write_streams_group(group_id, None);
        }
        self.cancel(&TimerKey::Heartbeat(group_id.to_string(), member_id.to_string()));
        self.cancel(&TimerKey::Revocation(group_id.to_string(), member_id.to_string()));
    }

    pub(super) fn expire_streams_revocation(&mut self, group_id: &str, member_id: &str, epoch: i32) {
        let stuck = self
            .state
            .groups
            .get(group_id)
            .and_then(|g| g.streams.as_ref())
            .and_then(|s| s.members.get(member_id))
            .is_some_and(|m| m.state == group::MemberState::UnrevokedTasks && m.epoch == epoch);
        if stuck {
            self.remove_streams_member(group_id, member_id, "tasks not revoked within the rebalance timeout");
        }
    }
}
