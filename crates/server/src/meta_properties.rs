//! `meta.properties`, as Kafka keeps it in each log directory: which node and which cluster the
//! directory belongs to. Written once the broker has joined its cluster; read at start-up, so a
//! directory never serves another node or another cluster by mistake.

use std::path::{Path, PathBuf};

/// The file's name in a log directory.
pub const FILE_NAME: &str = "meta.properties";

/// What the file records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaProperties {
    pub node_id: i32,
    pub cluster_id: String,
}

pub fn path(log_dir: &Path) -> PathBuf {
    log_dir.join(FILE_NAME)
}

/// The file's contents, `None` if there is none yet.
pub fn read(log_dir: &Path) -> Result<Option<MetaProperties>, String> {
    let file = path(log_dir);
    let text = match std::fs::read_to_string(&file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", file.display())),
    };
    let value =
        |key: &str| text.lines().find_map(|l| l.strip_prefix(key).and_then(|v| v.strip_prefix('='))).map(str::trim);
    let node_id = value("node.id").and_then(|v| v.parse().ok());
    match (node_id, value("cluster.id")) {
        (Some(node_id), Some(cluster_id)) => Ok(Some(MetaProperties { node_id, cluster_id: cluster_id.to_string() })),
        _ => Err(format!("{} lacks node.id or cluster.id", file.display())),
    }
}

/// Writes the file (atomically: a temporary file renamed over it).
pub fn write(log_dir: &Path, meta: &MetaProperties) -> std::io::Result<()> {
    let file = path(log_dir);
    let tmp = file.with_extension("tmp");
    let text = format!("#\n#Written by Brook\ncluster.id={}\nnode.id={}\nversion=1\n", meta.cluster_id, meta.node_id);
    std::fs::create_dir_all(log_dir)?;
    std::fs::write(&tmp, text)?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, &file)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The file round-trips, reads Kafka's own layout, and a damaged one is an error.
    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().expect("temp dir");
        assert_eq!(read(dir.path()), Ok(None));
        let meta = MetaProperties { node_id: 3, cluster_id: "4L6g3nShT-eMCtK--X86sw".into() };
        write(dir.path(), &meta).expect("write");
        assert_eq!(read(dir.path()), Ok(Some(meta)));
        let kafka = "#\n#Mon Nov 30 12:00:00 UTC 2026\ncluster.id=abc\ndirectory.id=xyz\nnode.id=1\nversion=1\n";
        std::fs::write(path(dir.path()), kafka).expect("write");
        assert_eq!(read(dir.path()), Ok(Some(MetaProperties { node_id: 1, cluster_id: "abc".into() })));
        std::fs::write(path(dir.path()), "version=1\n").expect("write");
        assert!(read(dir.path()).is_err());
    }
}
