//! What a run must satisfy. The final log of a partition is its committed prefix: the
//! records below the highest high watermark any replica reports, from the replica that
//! reports it. Against it:
//! - lost write: an acknowledged value not at its acknowledged offset;
//! - lost read: a value the consumer read (below a high watermark) not at that offset;
//! - phantom: a value read or committed that was never sent;
//! - duplicate: a value at two offsets;
//! - divergence: a replica whose records below its own high watermark differ from the final
//!   log's;
//! - and what the consumer noticed as it read (skipped or repeated offsets).

use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Default)]
pub(crate) struct History {
    /// Every value sent, with its partition.
    pub(crate) sent: BTreeMap<String, i32>,
    /// Acknowledged values: (partition, offset).
    pub(crate) acked: BTreeMap<String, (i32, i64)>,
    /// What the consumer read: (partition, offset, value).
    pub(crate) reads: Vec<(i32, i64, String)>,
    pub(crate) anomalies: Vec<String>,
}

/// Per partition, each replica's (id, (high watermark, records)).
pub(crate) type Replicas = BTreeMap<i32, Vec<(i32, (i64, Vec<(i64, String)>))>>;

pub(crate) fn check(history: &History, logs: &Replicas) -> Vec<String> {
    let mut anomalies = history.anomalies.clone();
    let mut finals: BTreeMap<i32, BTreeMap<i64, &str>> = BTreeMap::new();
    for (partition, replicas) in logs {
        let Some((_, (hw, records))) = replicas.iter().max_by_key(|(id, (hw, _))| (*hw, -id)) else { continue };
        let committed: BTreeMap<i64, &str> =
            records.iter().filter(|(o, _)| o < hw).map(|(o, v)| (*o, v.as_str())).collect();
        for (id, (own_hw, own)) in replicas {
            if let Some((offset, value)) =
                own.iter().filter(|(o, _)| o < own_hw).find(|(o, v)| committed.get(o) != Some(&v.as_str()))
            {
                anomalies.push(format!(
                    "divergence: partition {partition} replica {id} has {value} at {offset}, the committed log {:?}",
                    committed.get(offset)
                ));
            }
        }
        let mut seen = BTreeSet::new();
        for (offset, value) in &committed {
            if !history.sent.contains_key(*value) {
                anomalies.push(format!("phantom: partition {partition} offset {offset} holds {value}, never sent"));
            }
            if !seen.insert(*value) {
                anomalies.push(format!("duplicate: partition {partition} holds {value} twice (again at {offset})"));
            }
        }
        finals.insert(*partition, committed);
    }
    let at = |partition: i32, offset: i64| finals.get(&partition).and_then(|f| f.get(&offset)).copied();
    for (value, (partition, offset)) in &history.acked {
        if at(*partition, *offset) != Some(value.as_str()) {
            anomalies.push(format!(
                "lost write: {value} acknowledged at partition {partition} offset {offset}, which holds {:?}",
                at(*partition, *offset)
            ));
        }
    }
    for (partition, offset, value) in &history.reads {
        if at(*partition, *offset) != Some(value.as_str()) {
            anomalies.push(format!(
                "lost read: {value} read at partition {partition} offset {offset}, which holds {:?}",
                at(*partition, *offset)
            ));
        }
        if !history.sent.contains_key(value) {
            anomalies.push(format!("phantom: {value} read at partition {partition} offset {offset}, never sent"));
        }
    }
    anomalies
}
