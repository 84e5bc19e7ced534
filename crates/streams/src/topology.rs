//! A Streams application's topology and what the topics make of it (Kafka's
//! `InternalTopicManager.configureTopics`): every source topic must exist, copartitioned topics
//! must agree, and the internal topics (repartition and changelog) get their partition counts
//! from the source topics. A subtopology has one task per partition of its widest input.

use std::collections::{BTreeMap, BTreeSet};

/// A topic the application declares: an internal one it needs created.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TopicInfo {
    pub name: String,
    /// 0: derived from the source topics.
    pub partitions: i32,
    /// 0 or -1: the broker default.
    pub replication_factor: i16,
    pub configs: Vec<(String, String)>,
}

/// Indexes into a subtopology's topic lists that must have equal partition counts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CopartitionGroup {
    pub source_topics: Vec<i16>,
    pub source_regexes: Vec<i16>,
    pub repartition_sources: Vec<i16>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Subtopology {
    pub id: String,
    pub source_topics: Vec<String>,
    pub source_regexes: Vec<String>,
    pub changelogs: Vec<TopicInfo>,
    pub repartition_sinks: Vec<String>,
    pub repartition_sources: Vec<TopicInfo>,
    pub copartition_groups: Vec<CopartitionGroup>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Topology {
    pub epoch: i32,
    pub subtopologies: Vec<Subtopology>,
}

/// The heartbeat status codes of KIP-1071.
pub mod status {
    pub const STALE_TOPOLOGY: i8 = 0;
    pub const MISSING_SOURCE_TOPICS: i8 = 1;
    pub const INCORRECTLY_PARTITIONED_TOPICS: i8 = 2;
    pub const MISSING_INTERNAL_TOPICS: i8 = 3;
    pub const SHUTDOWN_APPLICATION: i8 = 4;
    pub const ASSIGNMENT_DELAYED: i8 = 5;
}

/// The topology against the topics as they are now.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Configured {
    /// Subtopology id -> its task count; empty unless every topic is in place.
    pub tasks: BTreeMap<String, i32>,
    /// Subtopology id -> the topics whose partition `p` task `p` reads (for Interactive Queries).
    pub inputs: BTreeMap<String, Vec<String>>,
    /// Internal topics to create, with their partition counts resolved.
    pub to_create: Vec<TopicInfo>,
    /// What keeps the group from being assigned (a status code and its detail).
    pub problem: Option<(i8, String)>,
}

impl Configured {
    pub fn ready(&self) -> bool {
        self.problem.is_none()
    }
}

/// A malformed topology (Kafka's STREAMS_INVALID_TOPOLOGY).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidTopology(pub String);

/// Checks what Kafka checks of a topology before it is accepted, independent of the topics.
pub fn validate(topology: &Topology) -> Result<(), InvalidTopology> {
    let mut repartition_sources = BTreeSet::new();
    let mut ids = BTreeSet::new();
    for s in &topology.subtopologies {
        if !ids.insert(s.id.as_str()) {
            return Err(InvalidTopology(format!("Subtopology {} is defined more than once.", s.id)));
        }
        for c in &s.changelogs {
            if c.partitions != 0 {
                return Err(InvalidTopology(format!(
                    "Changelog topic {} must have an undefined partition count, but it is set to {}.",
                    c.name, c.partitions
                )));
            }
        }
        for r in &s.repartition_sources {
            if r.partitions < 0 {
                return Err(InvalidTopology(format!("Repartition topic {} has a negative partition count.", r.name)));
            }
            repartition_sources.insert(r.name.as_str());
        }
        for g in &s.copartition_groups {
            let in_range = |ix: &[i16], len: usize| ix.iter().all(|&i| i >= 0 && (i as usize) < len);
            if !in_range(&g.source_topics, s.source_topics.len())
                || !in_range(&g.source_regexes, s.source_regexes.len())
                || !in_range(&g.repartition_sources, s.repartition_sources.len())
            {
                return Err(InvalidTopology(format!(
                    "Copartition group of subtopology {} refers to a topic that does not exist.",
                    s.id
                )));
            }
        }
        for r in &s.source_regexes {
            if whole_match(r).is_none() {
                return Err(InvalidTopology(format!("Source topic regex {r} is not a valid regular expression.")));
            }
        }
    }
    for s in &topology.subtopologies {
        for sink in &s.repartition_sinks {
            if !repartition_sources.contains(sink.as_str()) {
                return Err(InvalidTopology(format!(
                    "Repartition sink topic {sink} of subtopology {} is not a repartition source topic.",
                    s.id
                )));
            }
        }
    }
    Ok(())
}

/// A regex that must match a whole topic name, as Java's `Matcher.matches`.
pub fn whole_match(regex: &str) -> Option<regex_lite::Regex> {
    regex_lite::Regex::new(&format!("^(?:{regex})$")).ok()
}

/// The topics the topology reads or writes that the broker must know: name -> partitions.
pub type TopicPartitions = BTreeMap<String, i32>;

/// Every topic name the topology mentions or its regexes match among `names`.
pub fn topics_of(topology: &Topology, names: &[String]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for s in &topology.subtopologies {
        out.extend(s.source_topics.iter().cloned());
        out.extend(s.changelogs.iter().map(|t| t.name.clone()));
        out.extend(s.repartition_sources.iter().map(|t| t.name.clone()));
        for r in s.source_regexes.iter().filter_map(|r| whole_match(r)) {
            out.extend(names.iter().filter(|n| r.is_match(n)).cloned());
        }
    }
    out
}

/// The topology against `topics` (every existing topic it mentions, with its partition count;
/// `names`: every topic name, for the regexes).
pub fn configure(topology: &Topology, topics: &TopicPartitions, names: &[String]) -> Configured {
    // Source topics, named or matched, per subtopology.
    let mut sources: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut missing: BTreeSet<String> = BTreeSet::new();
    for s in &topology.subtopologies {
        let mut mine: Vec<String> = Vec::new();
        for t in &s.source_topics {
            if topics.contains_key(t) {
                mine.push(t.clone());
            } else {
                missing.insert(t.clone());
            }
        }
        for r in &s.source_regexes {
            let re = whole_match(r);
            let matched: Vec<String> =
                names.iter().filter(|n| re.as_ref().is_some_and(|re| re.is_match(n))).cloned().collect();
            if matched.is_empty() {
                missing.insert(r.clone());
            }
            mine.extend(matched);
        }
        sources.insert(&s.id, mine);
    }
    if !missing.is_empty() {
        let list: Vec<String> = missing.into_iter().collect();
        return not_ready(status::MISSING_SOURCE_TOPICS, format!("Source topics {} are missing.", list.join(", ")));
    }
    let repartition = match repartition_counts(topology, topics, &sources) {
        Ok(r) => r,
        Err(detail) => return not_ready(status::INCORRECTLY_PARTITIONED_TOPICS, detail),
    };
    let mut tasks = BTreeMap::new();
    let mut inputs = BTreeMap::new();
    let mut to_create = Vec::new();
    let mut wrong: BTreeSet<String> = BTreeSet::new();
    for s in &topology.subtopologies {
        let own = &sources[s.id.as_str()];
        let widest = own
            .iter()
            .map(|t| topics[t])
            .chain(s.repartition_sources.iter().map(|r| repartition[&r.name]))
            .max()
            .unwrap_or(0);
        tasks.insert(s.id.clone(), widest);
        inputs.insert(
            s.id.clone(),
            own.iter().cloned().chain(s.repartition_sources.iter().map(|r| r.name.clone())).collect(),
        );
        let internal = s
            .repartition_sources
            .iter()
            .map(|r| (r, repartition[&r.name]))
            .chain(s.changelogs.iter().map(|c| (c, widest)));
        for (info, partitions) in internal {
            match topics.get(&info.name) {
                None => to_create.push(TopicInfo { partitions, ..info.clone() }),
                Some(&have) if have != partitions => {
                    wrong.insert(info.name.clone());
                }
                Some(_) => {}
            }
        }
    }
    if !wrong.is_empty() {
        let list: Vec<String> = wrong.into_iter().collect();
        return not_ready(
            status::INCORRECTLY_PARTITIONED_TOPICS,
            format!("Internal topics {} have an unexpected number of partitions.", list.join(", ")),
        );
    }
    if !to_create.is_empty() {
        to_create.sort_by(|a, b| a.name.cmp(&b.name));
        to_create.dedup_by(|a, b| a.name == b.name);
        let names: Vec<&str> = to_create.iter().map(|t| t.name.as_str()).collect();
        let detail = format!("Internal topics are missing: {}", names.join(", "));
        return Configured {
            to_create,
            problem: Some((status::MISSING_INTERNAL_TOPICS, detail)),
            ..Configured::default()
        };
    }
    Configured { tasks, inputs, to_create, problem: None }
}

fn not_ready(code: i8, detail: String) -> Configured {
    Configured { problem: Some((code, detail)), ..Configured::default() }
}

/// Every repartition topic's partition count (Kafka's `RepartitionTopics` and
/// `CopartitionedTopicsEnforcer`): as declared, else as wide as the widest input of the
/// subtopologies writing to it, then evened out within copartition groups.
fn repartition_counts(
    topology: &Topology,
    topics: &TopicPartitions,
    sources: &BTreeMap<&str, Vec<String>>,
) -> Result<BTreeMap<String, i32>, String> {
    let mut counts: BTreeMap<String, i32> = BTreeMap::new();
    for s in &topology.subtopologies {
        for r in s.repartition_sources.iter().filter(|r| r.partitions > 0) {
            counts.insert(r.name.clone(), r.partitions);
        }
    }
    // Writers feed readers: repeat until nothing more resolves.
    loop {
        let mut progressed = false;
        for s in &topology.subtopologies {
            let known: Option<Vec<i32>> = s
                .repartition_sources
                .iter()
                .map(|r| counts.get(&r.name).copied())
                .chain(sources[s.id.as_str()].iter().map(|t| Some(topics[t])))
                .collect();
            let Some(widest) = known.and_then(|k| k.into_iter().max()) else { continue };
            for sink in &s.repartition_sinks {
                let entry = counts.entry(sink.clone()).or_insert(0);
                let declared = topology
                    .subtopologies
                    .iter()
                    .flat_map(|t| &t.repartition_sources)
                    .any(|r| &r.name == sink && r.partitions > 0);
                if !declared && widest > *entry {
                    *entry = widest;
                    progressed = true;
                }
            }
        }
        if !progressed {
            break;
        }
    }
    for s in &topology.subtopologies {
        for r in &s.repartition_sources {
            if counts.get(&r.name).is_none_or(|&n| n <= 0) {
                // Nothing writes to it with a known width: as wide as the subtopology's sources.
                let widest = sources[s.id.as_str()].iter().map(|t| topics[t]).max().unwrap_or(1);
                counts.insert(r.name.clone(), widest.max(1));
            }
        }
    }
    for s in &topology.subtopologies {
        for g in &s.copartition_groups {
            let external: BTreeMap<&str, i32> =
                g.source_topics.iter().map(|&i| s.source_topics[i as usize].as_str()).map(|t| (t, topics[t])).collect();
            let widths: BTreeSet<i32> = external.values().copied().collect();
            if widths.len() > 1 {
                let names: Vec<&str> = external.keys().copied().collect();
                return Err(format!("Following topics are not copartitioned: [{}]", names.join(", ")));
            }
            let repartitions: Vec<&TopicInfo> =
                g.repartition_sources.iter().map(|&i| &s.repartition_sources[i as usize]).collect();
            let target = match widths.first() {
                Some(&w) => w,
                None => repartitions.iter().map(|r| counts[&r.name]).max().unwrap_or(1),
            };
            for r in repartitions {
                if r.partitions > 0 && r.partitions != target {
                    return Err(format!(
                        "Number of partitions [{}] of repartition topic [{}] doesn't match number of partitions [{}] of the source topic.",
                        r.partitions, r.name, target
                    ));
                }
                counts.insert(r.name.clone(), target);
            }
        }
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &str, partitions: i32) -> TopicInfo {
        TopicInfo { name: name.into(), partitions, ..TopicInfo::default() }
    }

    /// The overview's purchase count: read purchases, re-key through a repartition topic, count.
    fn purchases() -> Topology {
        Topology {
            epoch: 0,
            subtopologies: vec![
                Subtopology {
                    id: "0".into(),
                    source_topics: vec!["purchases".into()],
                    repartition_sinks: vec!["app-repartition".into()],
                    ..Subtopology::default()
                },
                Subtopology {
                    id: "1".into(),
                    repartition_sources: vec![info("app-repartition", 0)],
                    changelogs: vec![info("app-changelog", 0)],
                    ..Subtopology::default()
                },
            ],
        }
    }

    #[test]
    fn internal_topics_take_the_source_width() {
        let topology = purchases();
        assert_eq!(validate(&topology), Ok(()));
        let topics = TopicPartitions::from([("purchases".to_string(), 3)]);
        let c = configure(&topology, &topics, &["purchases".into()]);
        assert_eq!(c.problem.as_ref().map(|p| p.0), Some(status::MISSING_INTERNAL_TOPICS));
        assert_eq!(c.to_create, vec![info("app-changelog", 3), info("app-repartition", 3)]);
        assert!(c.tasks.is_empty());
        let topics = TopicPartitions::from([
            ("purchases".into(), 3),
            ("app-repartition".into(), 3),
            ("app-changelog".into(), 3),
        ]);
        let c = configure(&topology, &topics, &[]);
        assert!(c.ready(), "{c:?}");
        assert_eq!(c.tasks, BTreeMap::from([("0".into(), 3), ("1".into(), 3)]));
        assert_eq!(c.inputs["1"], vec!["app-repartition".to_string()]);
    }

    #[test]
    fn missing_and_misfit_topics_are_reported() {
        let topology = purchases();
        let c = configure(&topology, &TopicPartitions::new(), &[]);
        assert_eq!(c.problem, Some((status::MISSING_SOURCE_TOPICS, "Source topics purchases are missing.".into())));
        let topics = TopicPartitions::from([
            ("purchases".into(), 3),
            ("app-repartition".into(), 2),
            ("app-changelog".into(), 3),
        ]);
        let c = configure(&topology, &topics, &[]);
        assert_eq!(c.problem.map(|p| p.0), Some(status::INCORRECTLY_PARTITIONED_TOPICS));
    }

    #[test]
    fn copartitioned_sources_must_agree() {
        let topology = Topology {
            epoch: 0,
            subtopologies: vec![Subtopology {
                id: "0".into(),
                source_topics: vec!["left".into(), "right".into()],
                copartition_groups: vec![CopartitionGroup { source_topics: vec![0, 1], ..Default::default() }],
                ..Subtopology::default()
            }],
        };
        let c = configure(&topology, &TopicPartitions::from([("left".into(), 2), ("right".into(), 3)]), &[]);
        assert_eq!(c.problem.map(|p| p.0), Some(status::INCORRECTLY_PARTITIONED_TOPICS));
        let c = configure(&topology, &TopicPartitions::from([("left".into(), 3), ("right".into(), 3)]), &[]);
        assert_eq!(c.tasks["0"], 3);
    }

    #[test]
    fn regex_sources_match_whole_names() {
        let topology = Topology {
            epoch: 0,
            subtopologies: vec![Subtopology {
                id: "0".into(),
                source_regexes: vec!["orders-.*".into()],
                ..Default::default()
            }],
        };
        let names = vec!["orders-eu".to_string(), "orders-us".to_string(), "xorders-eu".to_string()];
        let topics: TopicPartitions = names.iter().map(|n| (n.clone(), 2)).collect();
        assert_eq!(topics_of(&topology, &names).len(), 2);
        assert_eq!(configure(&topology, &topics, &names).tasks["0"], 2);
        assert_eq!(configure(&topology, &topics, &[]).problem.map(|p| p.0), Some(status::MISSING_SOURCE_TOPICS));
    }

    #[test]
    fn malformed_topologies_are_refused() {
        let mut t = purchases();
        t.subtopologies[1].changelogs[0].partitions = 4;
        assert!(validate(&t).is_err());
        let mut t = purchases();
        t.subtopologies[0].repartition_sinks.push("nowhere".into());
        assert!(validate(&t).is_err());
    }
}
