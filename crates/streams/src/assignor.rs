//! The task assignor (Kafka's `sticky`): active tasks spread evenly over the members, each
//! keeping what it had where balance allows, so a join or a leave moves only the tasks it
//! must; standby tasks on members of other processes than the task's active one.

use std::collections::{BTreeMap, BTreeSet};

/// Tasks by subtopology id: the partitions (task numbers) of each.
pub type TaskSet = BTreeMap<String, BTreeSet<i32>>;

/// One member's tasks in each role.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tasks {
    pub active: TaskSet,
    pub standby: TaskSet,
    pub warmup: TaskSet,
}

impl Tasks {
    pub fn is_empty(&self) -> bool {
        self.active.is_empty() && self.standby.is_empty() && self.warmup.is_empty()
    }
}

pub const STICKY: &str = "sticky";

/// What the assignor sees of one member.
pub struct MemberSpec<'a> {
    pub id: &'a str,
    pub process_id: &'a str,
    /// The member's previous target, for stickiness.
    pub previous: Option<&'a Tasks>,
}

fn count(set: &TaskSet) -> usize {
    set.values().map(BTreeSet::len).sum()
}

fn holds(set: &TaskSet, (sub, p): (&str, i32)) -> bool {
    set.get(sub).is_some_and(|ps| ps.contains(&p))
}

fn add(set: &mut TaskSet, (sub, p): (&str, i32)) {
    set.entry(sub.to_string()).or_default().insert(p);
}

/// How many standby copies of which tasks: those of stateful subtopologies (a standby keeps a
/// copy of a task's state stores; a stateless task has none to keep).
pub struct Standbys<'a> {
    pub replicas: i32,
    pub stateful: &'a BTreeSet<String>,
}

/// Assigns the tasks of `tasks` (subtopology id -> task count) to `members`, with standby
/// copies of each stateful task where another process can take one.
pub fn assign(members: &[MemberSpec<'_>], tasks: &BTreeMap<String, i32>, standbys: &Standbys<'_>) -> Vec<Tasks> {
    let mut out = vec![Tasks::default(); members.len()];
    let all: Vec<(&str, i32)> = tasks.iter().flat_map(|(s, &n)| (0..n).map(move |p| (s.as_str(), p))).collect();
    if members.is_empty() || all.is_empty() {
        return out;
    }
    let ceiling = all.len().div_ceil(members.len());
    let mut taken: BTreeSet<(&str, i32)> = BTreeSet::new();
    for (i, m) in members.iter().enumerate() {
        for &task in &all {
            if count(&out[i].active) < ceiling
                && !taken.contains(&task)
                && m.previous.is_some_and(|p| holds(&p.active, task))
            {
                taken.insert(task);
                add(&mut out[i].active, task);
            }
        }
    }
    for &task in all.iter().filter(|t| !taken.contains(t)) {
        let least = (0..members.len()).min_by_key(|&i| count(&out[i].active)).expect("members");
        add(&mut out[least].active, task);
    }
    // Even out what stickiness left uneven (a member that joined has none yet).
    loop {
        let most = (0..members.len()).max_by_key(|&i| (count(&out[i].active), std::cmp::Reverse(i))).expect("members");
        let least = (0..members.len()).min_by_key(|&i| count(&out[i].active)).expect("members");
        if count(&out[most].active) <= count(&out[least].active) + 1 {
            break;
        }
        let (sub, p) =
            out[most].active.iter().rev().find_map(|(s, ps)| ps.last().map(|&p| (s.clone(), p))).expect("tasks");
        let set = out[most].active.get_mut(&sub).expect("present");
        set.remove(&p);
        if set.is_empty() {
            out[most].active.remove(&sub);
        }
        add(&mut out[least].active, (&sub, p));
    }
    for _ in 0..standbys.replicas.max(0) {
        for &task in all.iter().filter(|(sub, _)| standbys.stateful.contains(*sub)) {
            let owner = (0..members.len()).find(|&i| holds(&out[i].active, task));
            let busy: BTreeSet<&str> = (0..members.len())
                .filter(|&i| holds(&out[i].active, task) || holds(&out[i].standby, task))
                .map(|i| members[i].process_id)
                .collect();
            let candidates = (0..members.len()).filter(|&i| !busy.contains(members[i].process_id));
            let pick = candidates.min_by_key(|&i| {
                let had = members[i].previous.is_some_and(|p| holds(&p.standby, task));
                (!had, count(&out[i].active) + count(&out[i].standby), i)
            });
            if let (Some(i), Some(_)) = (pick, owner) {
                add(&mut out[i].standby, task);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tasks(n: i32) -> BTreeMap<String, i32> {
        BTreeMap::from([("0".to_string(), n), ("1".to_string(), n)])
    }

    fn none() -> Standbys<'static> {
        static EMPTY: BTreeSet<String> = BTreeSet::new();
        Standbys { replicas: 0, stateful: &EMPTY }
    }

    fn spec<'a>(id: &'a str, previous: Option<&'a Tasks>) -> MemberSpec<'a> {
        MemberSpec { id, process_id: id, previous }
    }

    #[test]
    fn balanced_and_complete() {
        let out = assign(&[spec("a", None), spec("b", None), spec("c", None)], &tasks(4), &none());
        let counts: Vec<usize> = out.iter().map(|t| count(&t.active)).collect();
        assert_eq!(counts.iter().sum::<usize>(), 8);
        assert!(counts.iter().all(|&c| c == 2 || c == 3), "{counts:?}");
        let mut seen = BTreeSet::new();
        for t in &out {
            for (s, ps) in &t.active {
                for p in ps {
                    assert!(seen.insert((s.clone(), *p)), "task {s}_{p} twice");
                }
            }
        }
    }

    #[test]
    fn a_join_moves_only_what_it_must() {
        let first = assign(&[spec("a", None), spec("b", None)], &tasks(3), &none());
        let second =
            assign(&[spec("a", Some(&first[0])), spec("b", Some(&first[1])), spec("c", None)], &tasks(3), &none());
        for i in 0..2 {
            for (s, ps) in &second[i].active {
                assert!(ps.is_subset(&first[i].active[s]), "member {i} kept only its own tasks");
            }
        }
        assert_eq!(count(&second[2].active), 2);
    }

    #[test]
    fn standbys_go_to_other_processes() {
        let members = [
            MemberSpec { id: "a", process_id: "p1", previous: None },
            MemberSpec { id: "b", process_id: "p1", previous: None },
        ];
        let stateful = BTreeSet::from(["1".to_string()]);
        let one = Standbys { replicas: 1, stateful: &stateful };
        let out = assign(&members, &tasks(2), &one);
        assert!(out.iter().all(|t| t.standby.is_empty()), "one process: no standby");
        let out = assign(&[spec("a", None), spec("b", None)], &tasks(2), &one);
        for (i, t) in out.iter().enumerate() {
            assert_eq!(count(&t.standby), 1, "one standby of each stateful task, spread");
            assert!(!t.standby.contains_key("0"), "subtopology 0 is stateless");
            for (s, ps) in &t.standby {
                assert!(ps.iter().all(|p| !holds(&out[i].active, (s, *p))));
            }
        }
    }
}
