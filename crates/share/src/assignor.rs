//! Which members of a share group fetch which partitions. Unlike a consumer group, a share
//! group may give one partition to several members (records, not partitions, are the unit of
//! work), so every subscribed partition has at least one member and every member at least one
//! partition while there are partitions to give: with more partitions than members they are
//! dealt round-robin, with more members than partitions the members are. Both sides are
//! sorted first, so the same group and topics always give the same assignment, whichever
//! broker computes it.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

/// A member's subscription: the topic ids it asked for, among those that exist.
pub struct Subscriber<'a> {
    pub member: &'a str,
    pub topics: &'a BTreeSet<Uuid>,
}

/// Each member's partitions, by topic id.
pub type Assignment = BTreeMap<String, BTreeMap<Uuid, Vec<i32>>>;

/// `partitions`: each existing topic's partition count.
pub fn assign(members: &[Subscriber<'_>], partitions: &BTreeMap<Uuid, i32>) -> Assignment {
    let mut assignment: Assignment = members.iter().map(|m| (m.member.to_string(), BTreeMap::new())).collect();
    for (&topic, &count) in partitions {
        let mut subscribed: Vec<&str> =
            members.iter().filter(|m| m.topics.contains(&topic)).map(|m| m.member).collect();
        subscribed.sort_unstable();
        if subscribed.is_empty() || count <= 0 {
            continue;
        }
        let dealt = count.max(subscribed.len() as i32);
        for n in 0..dealt {
            let member = subscribed[n as usize % subscribed.len()];
            let partition = n % count;
            let theirs = assignment.get_mut(member).expect("every member has an entry").entry(topic).or_default();
            if !theirs.contains(&partition) {
                theirs.push(partition);
            }
        }
    }
    for topics in assignment.values_mut() {
        topics.values_mut().for_each(|p| p.sort_unstable());
    }
    assignment
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topics(ids: &[Uuid]) -> BTreeSet<Uuid> {
        ids.iter().copied().collect()
    }

    #[test]
    fn more_members_than_partitions_share_them() {
        let t = Uuid::from_u128(1);
        let subs = topics(&[t]);
        let members: Vec<Subscriber> =
            ["e", "d", "c", "b", "a"].iter().map(|m| Subscriber { member: m, topics: &subs }).collect();
        let a = assign(&members, &BTreeMap::from([(t, 2)]));
        assert_eq!(a["a"][&t], vec![0]);
        assert_eq!(a["b"][&t], vec![1]);
        assert_eq!(a["c"][&t], vec![0]);
        assert_eq!(a["e"][&t], vec![0]);
        let one = assign(&members, &BTreeMap::from([(t, 1)]));
        assert!(one.values().all(|m| m[&t] == vec![0]), "{one:?}");
    }

    #[test]
    fn more_partitions_than_members_are_dealt_round_robin() {
        let (t, u) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let both = topics(&[t, u]);
        let only_t = topics(&[t]);
        let members = vec![Subscriber { member: "a", topics: &both }, Subscriber { member: "b", topics: &only_t }];
        let a = assign(&members, &BTreeMap::from([(t, 5), (u, 2)]));
        assert_eq!(a["a"][&t], vec![0, 2, 4]);
        assert_eq!(a["b"][&t], vec![1, 3]);
        assert_eq!(a["a"][&u], vec![0, 1]);
        assert!(!a["b"].contains_key(&u));
    }
}
