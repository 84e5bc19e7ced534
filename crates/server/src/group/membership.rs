//! JoinGroup, SyncGroup, Heartbeat and LeaveGroup for classic groups, and the rebalance they
//! drive, following Kafka's `GroupMetadataManager` state by state.

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use tokio::sync::oneshot;
use tracing::info;

use super::classic::{Group, GroupState, JoinOutcome, Member, SyncOutcome};
use super::{Action, GroupCoordinator, Guard, TimerKey};

/// A JoinGroup request, version-independent.
pub struct JoinRequest {
    pub group_id: String,
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    /// JoinGroup v4+: a member without an id is first given one (MEMBER_ID_REQUIRED).
    pub require_known_member_id: bool,
}

/// A SyncGroup request; the leader's carries every member's assignment.
pub struct SyncRequest {
    pub group_id: String,
    pub member_id: String,
    pub instance_id: Option<String>,
    pub generation: i32,
    /// SyncGroup v5+: must match the group's, when given.
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignments: Vec<(String, Bytes)>,
}

/// One member leaving (LeaveGroup v3+ batches them).
pub struct LeaveMember {
    pub member_id: String,
    pub instance_id: Option<String>,
}

impl GroupCoordinator {
    pub fn join(&self, now_ms: i64, request: JoinRequest) -> oneshot::Receiver<JoinOutcome> {
        let (tx, rx) = oneshot::channel();
        let mut guard = self.lock(now_ms);
        if let Err(error) = guard.validate_join(&request) {
            let _ = tx.send(JoinOutcome::error(error, &request.member_id));
        } else {
            guard.join(request, tx);
        }
        rx
    }

    pub fn sync(&self, now_ms: i64, request: SyncRequest) -> oneshot::Receiver<SyncOutcome> {
        let (tx, rx) = oneshot::channel();
        self.lock(now_ms).sync(request, tx);
        rx
    }

    pub fn heartbeat(
        &self,
        now_ms: i64,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
    ) -> Option<ResponseError> {
        self.lock(now_ms).heartbeat(group_id, member_id, instance_id, generation).err()
    }

    /// Removes members; the group's error (if any) and one result per member.
    pub fn leave(
        &self,
        now_ms: i64,
        group_id: &str,
        members: &[LeaveMember],
    ) -> Result<Vec<Option<ResponseError>>, ResponseError> {
        self.lock(now_ms).leave(group_id, members)
    }
}

impl Guard<'_> {
    fn validate_join(&self, request: &JoinRequest) -> Result<(), ResponseError> {
        let config = &self.state.config;
        if request.group_id.is_empty() {
            return Err(ResponseError::InvalidGroupId);
        }
        if !(config.min_session_timeout_ms..=config.max_session_timeout_ms).contains(&request.session_timeout_ms) {
            return Err(ResponseError::InvalidSessionTimeout);
        }
        Ok(())
    }

    fn group(&mut self, id: &str) -> Option<&mut Group> {
        self.state.groups.get_mut(id)
    }

    fn join(&mut self, request: JoinRequest, tx: oneshot::Sender<JoinOutcome>) {
        let unknown = request.member_id.is_empty();
        let now_ms = self.state.now_ms;
        if !self.state.groups.contains_key(&request.group_id) {
            if !unknown {
                let _ = tx.send(JoinOutcome::error(ResponseError::UnknownMemberId, &request.member_id));
                return;
            }
            self.state.groups.insert(request.group_id.clone(), Group::new(&request.group_id, now_ms));
        }
        let max_size = self.state.config.max_size;
        let group = self.state.groups.get_mut(&request.group_id).expect("inserted above");
        if group.streams.is_some() {
            // As Kafka: a streams group is not joined with the classic protocol.
            let _ = tx.send(JoinOutcome::error(ResponseError::InconsistentGroupProtocol, &request.member_id));
            return;
        }
        if let Some(c) = &group.consumer {
            if !c.members.is_empty() {
                let _ = tx.send(JoinOutcome::error(ResponseError::InconsistentGroupProtocol, &request.member_id));
                return;
            }
            // An empty consumer-protocol group goes back to the classic protocol.
            let records = group.consumer.take().map(super::consumer_records::tombstones);
            self.state.writes.extend(records.into_iter().flatten());
        }
        let group = self.group(&request.group_id).expect("inserted above");
        if !accepts_joining_member(group, &request.member_id, max_size) {
            group.remove(&request.member_id);
            let _ = tx.send(JoinOutcome::error(ResponseError::GroupMaxSizeReached, ""));
            return;
        }
        if group.state == GroupState::Dead {
            let _ = tx.send(JoinOutcome::error(ResponseError::CoordinatorNotAvailable, &request.member_id));
            return;
        }
        if !group.supports_protocols(&request.protocol_type, &request.protocols) {
            let _ = tx.send(JoinOutcome::error(ResponseError::InconsistentGroupProtocol, &request.member_id));
            return;
        }
        if unknown {
            self.join_new_member(request, tx);
        } else {
            self.join_existing_member(request, tx);
        }
    }

    fn join_new_member(&mut self, request: JoinRequest, tx: oneshot::Sender<JoinOutcome>) {
        let prefix = request.instance_id.as_deref().unwrap_or(&request.client_id);
        let member_id = format!("{prefix}-{}", uuid::Uuid::new_v4());
        let group_id = request.group_id.clone();
        if let Some(instance_id) = request.instance_id.clone() {
            let group = self.group(&group_id).expect("checked by the caller");
            if let Some(old_id) = group.static_member(&instance_id).map(str::to_string) {
                return self.replace_static_member(request, &old_id, member_id, tx);
            }
            return self.add_member_and_rebalance(request, member_id, tx);
        }
        if request.require_known_member_id {
            let timeout = request.session_timeout_ms;
            self.group(&group_id).expect("checked by the caller").pending_members.insert(member_id.clone());
            self.schedule(
                TimerKey::Heartbeat(group_id, member_id.clone()),
                i64::from(timeout),
                Action::ExpireHeartbeat,
            );
            let _ = tx.send(JoinOutcome::error(ResponseError::MemberIdRequired, &member_id));
            return;
        }
        self.add_member_and_rebalance(request, member_id, tx);
    }

    fn join_existing_member(&mut self, request: JoinRequest, tx: oneshot::Sender<JoinOutcome>) {
        let group = self.group(&request.group_id).expect("checked by the caller");
        let member_id = request.member_id.clone();
        if group.pending_members.contains(&member_id) {
            return self.add_member_and_rebalance(request, member_id, tx);
        }
        if let Err(error) = group.validate_member(&member_id, request.instance_id.as_deref()) {
            let _ = tx.send(JoinOutcome::error(error, &member_id));
            return;
        }
        let member = &group.members[&member_id];
        let same_metadata = member.matches(&request.protocols);
        match group.state {
            GroupState::PreparingRebalance => self.update_member_and_rebalance(request, tx, "member rejoining"),
            GroupState::CompletingRebalance if same_metadata => {
                // A retry of a JoinGroup whose answer was lost: the current generation again.
                let outcome = group.join_outcome(&member_id, group.is_leader(&member_id));
                let _ = tx.send(outcome);
            }
            GroupState::Stable if same_metadata && !group.is_leader(&member_id) => {
                let _ = tx.send(group.join_outcome(&member_id, false));
            }
            // The leader rejoining forces a rebalance (its view of the topics may have changed),
            // as does anyone with new metadata.
            GroupState::CompletingRebalance | GroupState::Stable => {
                let reason = if same_metadata { "the leader rejoined" } else { "a member's metadata changed" };
                self.update_member_and_rebalance(request, tx, reason)
            }
            GroupState::Empty | GroupState::Dead => {
                let _ = tx.send(JoinOutcome::error(ResponseError::UnknownMemberId, &member_id));
            }
        }
    }

    /// A static member rejoined with a new member id: it takes over the old member's place.
    fn replace_static_member(
        &mut self,
        request: JoinRequest,
        old_id: &str,
        new_id: String,
        tx: oneshot::Sender<JoinOutcome>,
    ) {
        let group_id = request.group_id.clone();
        let group = self.group(&group_id).expect("checked by the caller");
        let mut member = group.remove(old_id).expect("the static member exists");
        for waiter in member.join_waiters.drain(..) {
            let _ = waiter.send(JoinOutcome::error(ResponseError::FencedInstanceId, old_id));
        }
        for waiter in member.sync_waiters.drain(..) {
            let _ = waiter.send(SyncOutcome::error(ResponseError::FencedInstanceId));
        }
        let was_leader = group.leader.is_none() || group.leader.as_deref() == Some(old_id);
        let same_metadata = member.matches(&request.protocols);
        member.id = new_id.clone();
        member.session_timeout_ms = request.session_timeout_ms;
        member.rebalance_timeout_ms = request.rebalance_timeout_ms;
        group.members.insert(new_id.clone(), member);
        if was_leader {
            group.leader = Some(new_id.clone());
        }
        self.cancel(&TimerKey::Heartbeat(group_id.clone(), old_id.to_string()));
        let group = self.group(&group_id).expect("checked by the caller");
        if group.state == GroupState::Stable && same_metadata {
            // Nothing changed for the group: the member carries on with its old assignment.
            let mut outcome = group.join_outcome(&new_id, was_leader);
            outcome.skip_assignment = was_leader;
            let timeout = request.session_timeout_ms;
            self.schedule(TimerKey::Heartbeat(group_id.clone(), new_id), i64::from(timeout), Action::ExpireHeartbeat);
            self.write_group(&group_id);
            let _ = tx.send(outcome);
        } else {
            let request = JoinRequest { member_id: new_id, ..request };
            self.update_member_and_rebalance(request, tx, "a static member rejoined with new metadata");
        }
    }

    fn add_member_and_rebalance(&mut self, request: JoinRequest, member_id: String, tx: oneshot::Sender<JoinOutcome>) {
        let join_timeout = self.state.config.new_member_join_timeout_ms;
        let group_id = request.group_id.clone();
        let group = self.group(&group_id).expect("checked by the caller");
        group.pending_members.remove(&member_id);
        if group.state == GroupState::PreparingRebalance && group.previous_state == GroupState::Empty {
            group.new_member_added = true;
        }
        group.add(Member {
            id: member_id.clone(),
            instance_id: request.instance_id,
            client_id: request.client_id,
            client_host: request.client_host,
            rebalance_timeout_ms: request.rebalance_timeout_ms,
            session_timeout_ms: request.session_timeout_ms,
            protocol_type: request.protocol_type,
            protocols: request.protocols,
            assignment: Bytes::new(),
            join_waiters: vec![tx],
            sync_waiters: Vec::new(),
            is_new: true,
            seq: 0,
        });
        info!(group = group_id, member = member_id, "member joined");
        self.schedule(
            TimerKey::Heartbeat(group_id.clone(), member_id),
            i64::from(join_timeout),
            Action::ExpireHeartbeat,
        );
        self.rebalance_or_complete_join(&group_id, "a member joined");
    }

    fn update_member_and_rebalance(&mut self, request: JoinRequest, tx: oneshot::Sender<JoinOutcome>, reason: &str) {
        let group = self.group(&request.group_id).expect("checked by the caller");
        let member = group.members.get_mut(&request.member_id).expect("validated by the caller");
        member.protocols = request.protocols;
        member.rebalance_timeout_ms = request.rebalance_timeout_ms;
        member.session_timeout_ms = request.session_timeout_ms;
        member.join_waiters.push(tx);
        self.rebalance_or_complete_join(&request.group_id, reason);
    }

    fn rebalance_or_complete_join(&mut self, group_id: &str, reason: &str) {
        let Some(group) = self.group(group_id) else { return };
        if group.can_rebalance() {
            self.prepare_rebalance(group_id, reason);
        } else if group.state == GroupState::PreparingRebalance
            && group.previous_state != GroupState::Empty
            && group.has_all_members_joined()
        {
            // (The initial rebalance completes on its delay timer instead.)
            self.complete_join(group_id);
        }
    }

    pub(super) fn prepare_rebalance(&mut self, group_id: &str, reason: &str) {
        let initial_delay = self.state.config.initial_rebalance_delay_ms;
        let now_ms = self.state.now_ms;
        let group = self.group(group_id).expect("callers pass a live group");
        if group.state == GroupState::CompletingRebalance {
            for m in group.members.values_mut() {
                m.assignment = Bytes::new();
            }
            group.propagate_assignment(Some(ResponseError::RebalanceInProgress));
        }
        group.pending_sync.clear();
        let initial = group.state == GroupState::Empty;
        let remaining = (group.rebalance_timeout_ms() - initial_delay).max(0);
        group.transition(GroupState::PreparingRebalance, now_ms);
        info!(group = group_id, generation = group.generation, reason, "preparing to rebalance");
        self.cancel(&TimerKey::Sync(group_id.to_string()));
        let key = TimerKey::Join(group_id.to_string());
        if initial {
            let action = Action::InitialJoin { delay_ms: initial_delay, remaining_ms: remaining };
            self.schedule(key, i64::from(initial_delay), action);
        } else if self.group(group_id).expect("live").has_all_members_joined() {
            self.complete_join(group_id);
        } else {
            let timeout = self.group(group_id).expect("live").rebalance_timeout_ms();
            self.schedule(key, i64::from(timeout), Action::CompleteJoin);
        }
    }

    pub(super) fn initial_join_due(&mut self, group_id: &str, delay_ms: i32, remaining_ms: i32) {
        let initial_delay = self.state.config.initial_rebalance_delay_ms;
        let Some(group) = self.group(group_id) else { return };
        if group.new_member_added && remaining_ms != 0 {
            group.new_member_added = false;
            let next_delay = initial_delay.min(remaining_ms);
            let next_remaining = (remaining_ms - delay_ms).max(0);
            let action = Action::InitialJoin { delay_ms: next_delay, remaining_ms: next_remaining };
            self.schedule(TimerKey::Join(group_id.to_string()), i64::from(next_delay), action);
        } else {
            self.complete_join(group_id);
        }
    }

    /// Ends the join phase: members that did not rejoin are dropped, the next generation
    /// starts, and every parked JoinGroup is answered.
    pub(super) fn complete_join(&mut self, group_id: &str) {
        self.cancel(&TimerKey::Join(group_id.to_string()));
        let now_ms = self.state.now_ms;
        let Some(group) = self.group(group_id) else { return };
        if group.state != GroupState::PreparingRebalance {
            return;
        }
        let missing: Vec<String> = group
            .members
            .values()
            .filter(|m| m.join_waiters.is_empty() && m.instance_id.is_none())
            .map(|m| m.id.clone())
            .collect();
        for id in &missing {
            group.remove(id);
        }
        let elected = group.elect_joined_leader();
        let empty = group.members.is_empty();
        for id in missing {
            self.cancel(&TimerKey::Heartbeat(group_id.to_string(), id));
        }
        if !elected && !empty {
            // Nobody rejoined: wait another rebalance timeout for sessions to expire.
            let timeout = self.group(group_id).expect("live").rebalance_timeout_ms();
            self.schedule(TimerKey::Join(group_id.to_string()), i64::from(timeout), Action::CompleteJoin);
            return;
        }
        let group = self.group(group_id).expect("live");
        group.init_next_generation(now_ms);
        info!(
            group = group_id,
            generation = group.generation,
            members = group.members.len(),
            "rebalance: join complete"
        );
        if group.state == GroupState::Empty {
            self.write_group(group_id);
            return;
        }
        let mut timers = Vec::new();
        let ids: Vec<String> = group.members.keys().cloned().collect();
        for id in ids {
            let outcome = group.join_outcome(&id, group.is_leader(&id));
            let member = group.members.get_mut(&id).expect("listed above");
            for waiter in member.join_waiters.drain(..) {
                let _ = waiter.send(outcome.clone());
            }
            member.is_new = false;
            timers.push((id.clone(), member.session_timeout_ms));
            group.pending_sync.insert(id);
        }
        let (generation, rebalance_timeout) = (group.generation, group.rebalance_timeout_ms());
        for (id, timeout) in timers {
            self.schedule(TimerKey::Heartbeat(group_id.to_string(), id), i64::from(timeout), Action::ExpireHeartbeat);
        }
        self.schedule(
            TimerKey::Sync(group_id.to_string()),
            i64::from(rebalance_timeout),
            Action::ExpireSync { generation },
        );
    }

    pub(super) fn expire_heartbeat(&mut self, group_id: &str, member_id: &str) {
        let Some(group) = self.group(group_id) else { return };
        if group.pending_members.remove(member_id) {
            if group.state == GroupState::PreparingRebalance && group.has_all_members_joined() {
                self.complete_join(group_id);
            }
            return;
        }
        match group.members.get(member_id) {
            Some(member) if !member.has_satisfied_heartbeat() => {
                info!(group = group_id, member = member_id, "member's session expired");
                self.remove_member_and_rebalance(group_id, member_id);
            }
            _ => {}
        }
    }

    fn remove_member_and_rebalance(&mut self, group_id: &str, member_id: &str) {
        let group = self.group(group_id).expect("callers pass a live group");
        if let Some(mut member) = group.remove(member_id) {
            // A new member may time out inside its JoinGroup: tell it to rejoin.
            for waiter in member.join_waiters.drain(..) {
                let _ = waiter.send(JoinOutcome::error(ResponseError::UnknownMemberId, ""));
            }
        }
        self.cancel(&TimerKey::Heartbeat(group_id.to_string(), member_id.to_string()));
        let group = self.group(group_id).expect("live");
        match group.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.rebalance_or_complete_join(group_id, "a member left or expired")
            }
            GroupState::PreparingRebalance if group.has_all_members_joined() => self.complete_join(group_id),
            _ => {}
        }
    }

    pub(super) fn expire_sync(&mut self, group_id: &str, generation: i32) {
        let Some(group) = self.group(group_id) else { return };
        if group.generation != generation
            || !matches!(group.state, GroupState::CompletingRebalance | GroupState::Stable)
            || group.pending_sync.is_empty()
        {
            return;
        }
        let missing: Vec<String> = group.pending_sync.iter().cloned().collect();
        info!(group = group_id, members = ?missing, "members did not sync in time");
        for id in &missing {
            group.remove(id);
        }
        for id in missing {
            self.cancel(&TimerKey::Heartbeat(group_id.to_string(), id));
        }
        self.prepare_rebalance(group_id, "members did not sync in time");
    }

    fn sync(&mut self, request: SyncRequest, tx: oneshot::Sender<SyncOutcome>) {
        let SyncRequest { group_id, member_id, instance_id, generation, protocol_type, protocol_name, assignments } =
            request;
        let (group_id, member_id) = (group_id.as_str(), member_id.as_str());
        let (instance_id, protocol_type, protocol_name) =
            (instance_id.as_deref(), protocol_type.as_deref(), protocol_name.as_deref());
        let now_ms = self.state.now_ms;
        let Some(group) = self.group(group_id) else {
            let _ = tx.send(SyncOutcome::error(ResponseError::UnknownMemberId));
            return;
        };
        let inconsistent =
            |requested: Option<&str>, actual: &Option<String>| requested.is_some_and(|r| actual.as_deref() != Some(r));
        let error = if group.state == GroupState::Dead {
            Some(ResponseError::CoordinatorNotAvailable)
        } else if let Err(e) = group.validate_member(member_id, instance_id) {
            Some(e)
        } else if generation != group.generation {
            Some(ResponseError::IllegalGeneration)
        } else if inconsistent(protocol_type, &group.protocol_type) || inconsistent(protocol_name, &group.protocol) {
            Some(ResponseError::InconsistentGroupProtocol)
        } else if group.state == GroupState::PreparingRebalance {
            Some(ResponseError::RebalanceInProgress)
        } else {
            None
        };
        if let Some(error) = error {
            let _ = tx.send(SyncOutcome::error(error));
            return;
        }
        group.pending_sync.remove(member_id);
        let all_synced = group.pending_sync.is_empty();
        match group.state {
            GroupState::CompletingRebalance => {
                group.members.get_mut(member_id).expect("validated").sync_waiters.push(tx);
                if group.is_leader(member_id) {
                    let mut assignments: std::collections::HashMap<String, Bytes> = assignments.into_iter().collect();
                    for m in group.members.values_mut() {
                        m.assignment = assignments.remove(&m.id).unwrap_or_default();
                    }
                    group.propagate_assignment(None);
                    group.transition(GroupState::Stable, now_ms);
                    info!(group = group_id, generation = group.generation, "rebalance complete: stable");
                    self.write_group(group_id);
                }
            }
            _ => {
                let member = &group.members[member_id];
                let _ = tx.send(SyncOutcome {
                    error: None,
                    protocol_type: group.protocol_type.clone(),
                    protocol_name: group.protocol.clone(),
                    assignment: member.assignment.clone(),
                });
            }
        }
        if all_synced {
            self.cancel(&TimerKey::Sync(group_id.to_string()));
        }
    }

    fn heartbeat(
        &mut self,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
    ) -> Result<(), ResponseError> {
        let group = self.group(group_id).ok_or(ResponseError::UnknownMemberId)?;
        if group.state == GroupState::Dead {
            return Err(ResponseError::CoordinatorNotAvailable);
        }
        group.validate_member(member_id, instance_id)?;
        if generation != group.generation {
            return Err(ResponseError::IllegalGeneration);
        }
        let state = group.state;
        let timeout = group.members[member_id].session_timeout_ms;
        match state {
            GroupState::Empty => return Err(ResponseError::UnknownMemberId),
            GroupState::Dead => return Err(ResponseError::CoordinatorNotAvailable),
            _ => {}
        }
        let key = TimerKey::Heartbeat(group_id.to_string(), member_id.to_string());
        self.schedule(key, i64::from(timeout), Action::ExpireHeartbeat);
        if state == GroupState::PreparingRebalance {
            return Err(ResponseError::RebalanceInProgress);
        }
        Ok(())
    }

    fn leave(&mut self, group_id: &str, members: &[LeaveMember]) -> Result<Vec<Option<ResponseError>>, ResponseError> {
        let group = self.group(group_id).ok_or(ResponseError::UnknownMemberId)?;
        if group.state == GroupState::Dead {
            return Err(ResponseError::CoordinatorNotAvailable);
        }
        let mut results = Vec::with_capacity(members.len());
        for leaving in members {
            let group = self.group(group_id).expect("live");
            let member_id = match &leaving.instance_id {
                Some(instance) => match group.static_member(instance) {
                    None => {
                        results.push(Some(ResponseError::UnknownMemberId));
                        continue;
                    }
                    Some(existing) if !leaving.member_id.is_empty() && existing != leaving.member_id => {
                        results.push(Some(ResponseError::FencedInstanceId));
                        continue;
                    }
                    Some(existing) => existing.to_string(),
                },
                None => leaving.member_id.clone(),
            };
            if group.pending_members.remove(&member_id) {
                self.cancel(&TimerKey::Heartbeat(group_id.to_string(), member_id));
                let group = self.group(group_id).expect("live");
                if group.state == GroupState::PreparingRebalance && group.has_all_members_joined() {
                    self.complete_join(group_id);
                }
                results.push(None);
            } else if group.members.contains_key(&member_id) {
                info!(group = group_id, member = member_id, "member left");
                self.remove_member_and_rebalance(group_id, &member_id);
                results.push(None);
            } else {
                results.push(Some(ResponseError::UnknownMemberId));
            }
        }
        Ok(results)
    }
}

/// Kafka's `acceptJoiningMember`: whether `group.max.size` leaves room for this member.
fn accepts_joining_member(group: &Group, member_id: &str, max_size: usize) -> bool {
    match group.state {
        GroupState::Empty | GroupState::Dead => true,
        GroupState::CompletingRebalance | GroupState::Stable => {
            group.members.contains_key(member_id) || group.members.len() < max_size
        }
        GroupState::PreparingRebalance => {
            group.members.get(member_id).is_some_and(|m| !m.join_waiters.is_empty()) || group.awaiting_join() < max_size
        }
    }
}
