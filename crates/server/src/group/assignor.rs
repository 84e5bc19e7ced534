//! Server-side assignors for the consumer protocol (KIP-848), chosen by the client's
//! `group.remote.assignor`: `uniform` (the default: balanced and sticky, so that a join or a
//! leave moves only the partitions it must) and `range` (contiguous ranges per topic).

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

/// A member's partitions: topic id -> partition indexes.
pub type Assignment = BTreeMap<Uuid, BTreeSet<i32>>;

pub const UNIFORM: &str = "uniform";
pub const RANGE: &str = "range";
pub const ASSIGNORS: [&str; 2] = [UNIFORM, RANGE];

/// What an assignor sees of one member.
pub struct MemberSpec<'a> {
    pub id: &'a str,
    pub topics: &'a [String],
    /// The member's previous target, for stickiness.
    pub current: Option<&'a Assignment>,
}

/// Assigns the partitions of `topics` (name -> (id, partition count)) to `members` (sorted by id).
pub fn assign(assignor: &str, members: &[MemberSpec<'_>], topics: &BTreeMap<String, (Uuid, i32)>) -> Vec<Assignment> {
    if assignor == RANGE { range(members, topics) } else { uniform(members, topics) }
}

fn subscribed(member: &MemberSpec<'_>, topic: &str) -> bool {
    member.topics.iter().any(|t| t == topic)
}

fn range(members: &[MemberSpec<'_>], topics: &BTreeMap<String, (Uuid, i32)>) -> Vec<Assignment> {
    let mut out = vec![Assignment::new(); members.len()];
    for (name, &(id, count)) in topics {
        let eligible: Vec<usize> = (0..members.len()).filter(|&i| subscribed(&members[i], name)).collect();
        if eligible.is_empty() {
            continue;
        }
        let (per, extra) = (count / eligible.len() as i32, count % eligible.len() as i32);
        let mut next = 0;
        for (n, &i) in eligible.iter().enumerate() {
            let take = per + i32::from((n as i32) < extra);
            if take > 0 {
                out[i].entry(id).or_default().extend(next..next + take);
            }
            next += take;
        }
    }
    out
}

fn uniform(members: &[MemberSpec<'_>], topics: &BTreeMap<String, (Uuid, i32)>) -> Vec<Assignment> {
    let mut out = vec![Assignment::new(); members.len()];
    let partitions: Vec<(&str, Uuid, i32)> = topics
        .iter()
        .filter(|(name, _)| members.iter().any(|m| subscribed(m, name)))
        .flat_map(|(name, &(id, count))| (0..count).map(move |p| (name.as_str(), id, p)))
        .collect();
    if members.is_empty() || partitions.is_empty() {
        return out;
    }
    let floor = partitions.len() / members.len();
    let mut extra = partitions.len() % members.len();
    let valid = |m: &MemberSpec<'_>, id: Uuid, p: i32| {
        topics.iter().any(|(name, &(tid, count))| tid == id && p < count && subscribed(m, name))
    };
    let mut taken: BTreeSet<(Uuid, i32)> = BTreeSet::new();
    let mut leftovers: Vec<Vec<(Uuid, i32)>> = vec![Vec::new(); members.len()];
    // Members keep what they had, up to their share: only the excess moves.
    for (i, m) in members.iter().enumerate() {
        let kept: Vec<(Uuid, i32)> = m
            .current
            .into_iter()
            .flat_map(|a| a.iter().flat_map(|(id, ps)| ps.iter().map(move |p| (*id, *p))))
            .filter(|&(id, p)| valid(m, id, p))
            .collect();
        for (n, (id, p)) in kept.into_iter().enumerate() {
            if n < floor {
                out[i].entry(id).or_default().insert(p);
                taken.insert((id, p));
            } else {
                leftovers[i].push((id, p));
            }
        }
    }
    for (i, rest) in leftovers.iter().enumerate() {
        if extra == 0 {
            break;
        }
        if let Some(&(id, p)) = rest.first() {
            out[i].entry(id).or_default().insert(p);
            taken.insert((id, p));
            extra -= 1;
        }
    }
    // The rest go to the least loaded eligible member.
    for (name, id, p) in partitions {
        if taken.contains(&(id, p)) {
            continue;
        }
        let load = |i: usize| out[i].values().map(BTreeSet::len).sum::<usize>();
        let target = (0..members.len()).filter(|&i| subscribed(&members[i], name)).min_by_key(|&i| (load(i), i));
        if let Some(i) = target {
            out[i].entry(id).or_default().insert(p);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(a: &Assignment) -> usize {
        a.values().map(BTreeSet::len).sum()
    }

    /// Uniform is balanced, and a joining member takes only partitions from the others' excess.
    #[test]
    fn uniform_is_balanced_and_sticky() {
        let id = Uuid::new_v4();
        let topics = BTreeMap::from([("orders".to_string(), (id, 30))]);
        let subs = vec!["orders".to_string()];
        let ids: Vec<String> = (0..4).map(|i| format!("m{i}")).collect();
        let three: Vec<MemberSpec<'_>> =
            ids[..3].iter().map(|m| MemberSpec { id: m, topics: &subs, current: None }).collect();
        let before = assign(UNIFORM, &three, &topics);
        assert!(before.iter().all(|a| count(a) == 10));
        let four: Vec<MemberSpec<'_>> =
            ids.iter().enumerate().map(|(i, m)| MemberSpec { id: m, topics: &subs, current: before.get(i) }).collect();
        let after = assign(UNIFORM, &four, &topics);
        let mut sizes: Vec<usize> = after.iter().map(count).collect();
        sizes.sort();
        assert_eq!(sizes, [7, 7, 8, 8]);
        let moved: usize = (0..3).map(|i| before[i][&id].difference(&after[i][&id]).count()).sum();
        assert_eq!(moved, count(&after[3]), "only the new member's share moved");
    }

    /// Range gives contiguous ranges per topic.
    #[test]
    fn range_is_contiguous() {
        let id = Uuid::new_v4();
        let topics = BTreeMap::from([("t".to_string(), (id, 5))]);
        let subs = vec!["t".to_string()];
        let members = [
            MemberSpec { id: "a", topics: &subs, current: None },
            MemberSpec { id: "b", topics: &subs, current: None },
        ];
        let out = assign(RANGE, &members, &topics);
        assert_eq!(out[0][&id], BTreeSet::from([0, 1, 2]));
        assert_eq!(out[1][&id], BTreeSet::from([3, 4]));
    }
}
