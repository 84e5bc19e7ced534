//! A simulated disk for tests: files live in memory, and `power_cut` throws away every write
//! that was not fdatasync'd, except that a prefix of them may survive with the last one torn
//! (cut short, or its tail zero-filled as a file system may leave it). Directory operations are
//! durable at once, which `OsStorage` earns by syncing the directory after each of them.
//!
//! Handles opened before a power cut fail afterwards, as a crashed process's would.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::storage::{Storage, StorageFile};

/// An in-memory file system with power cuts.
#[derive(Default)]
pub struct SimStorage {
    files: Mutex<BTreeMap<PathBuf, Arc<SimFile>>>,
    /// Bumped by each power cut; handles from an older generation are dead.
    generation: Arc<AtomicU64>,
    /// When set, appends and syncs fail with EIO.
    failing: Arc<AtomicBool>,
    /// fdatasync calls on files, for tests of group commit.
    syncs: Arc<AtomicU64>,
}

#[derive(Default)]
struct SimFile {
    state: Mutex<FileState>,
}

#[derive(Default, Clone)]
struct FileState {
    /// What a power cut cannot take.
    durable: Vec<u8>,
    /// What readers see now.
    current: Vec<u8>,
    /// Changes since the last sync, oldest first.
    unsynced: Vec<Change>,
}

#[derive(Clone)]
enum Change {
    Append(Vec<u8>),
    SetLen(u64),
}

impl Change {
    fn apply(&self, data: &mut Vec<u8>) {
        match self {
            Change::Append(bytes) => data.extend_from_slice(bytes),
            Change::SetLen(len) => data.resize(*len as usize, 0),
        }
    }
}

impl SimStorage {
    pub fn new() -> Arc<SimStorage> {
        Arc::new(SimStorage::default())
    }

    /// Cuts the power. `seed` decides, per file, how many unsynced changes survive and how the
    /// last survivor is torn; the same seed on the same history gives the same disk.
    pub fn power_cut(&self, seed: u64) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        let files = self.files.lock().expect("sim lock");
        for (i, (path, file)) in files.iter().enumerate() {
            let mut rng = Rng::new(seed ^ hash_path(path) ^ (i as u64).wrapping_mul(0x9e37));
            let mut state = file.state.lock().expect("sim file lock");
            let kept = rng.below(state.unsynced.len() as u64 + 1) as usize;
            let mut data = state.durable.clone();
            for (n, change) in state.unsynced[..kept].iter().enumerate() {
                match change {
                    Change::Append(bytes) if n + 1 == kept => {
                        let survive = rng.below(bytes.len() as u64 + 1) as usize;
                        data.extend_from_slice(&bytes[..survive]);
                        if rng.below(2) == 0 {
                            // The file grew but the data blocks never made it: zeros.
                            data.resize(data.len() + bytes.len() - survive, 0);
                        }
                    }
                    other => other.apply(&mut data),
                }
            }
            *state = FileState { durable: data.clone(), current: data, unsynced: Vec::new() };
        }
    }

    /// How many times any file was fdatasync'd.
    pub fn sync_count(&self) -> u64 {
        self.syncs.load(Ordering::SeqCst)
    }

    /// Makes every later append and sync fail with an I/O error (or stop failing).
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    /// The current contents of a file, for tests that damage files on purpose.
    pub fn contents(&self, path: &Path) -> Option<Vec<u8>> {
        let files = self.files.lock().expect("sim lock");
        Some(files.get(path)?.state.lock().expect("sim file lock").current.clone())
    }

    /// Replaces a file's contents, durably.
    pub fn set_contents(&self, path: &Path, data: Vec<u8>) {
        let mut files = self.files.lock().expect("sim lock");
        let file = files.entry(path.to_path_buf()).or_default();
        *file.state.lock().expect("sim file lock") =
            FileState { durable: data.clone(), current: data, unsynced: Vec::new() };
    }
}

impl Storage for SimStorage {
    fn create_dir_all(&self, _path: &Path) -> io::Result<()> {
        Ok(())
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        let files = self.files.lock().expect("sim lock");
        Ok(files
            .keys()
            .filter(|p| p.parent() == Some(path))
            .filter_map(|p| Some(p.file_name()?.to_string_lossy().into_owned()))
            .collect())
    }

    fn open(&self, path: &Path, create: bool) -> io::Result<Arc<dyn StorageFile>> {
        let mut files = self.files.lock().expect("sim lock");
        let file = match files.get(path) {
            Some(file) => file.clone(),
            None if create => files.entry(path.to_path_buf()).or_default().clone(),
            None => return Err(io::Error::new(io::ErrorKind::NotFound, path.display().to_string())),
        };
        Ok(Arc::new(SimHandle {
            file,
            generation: self.generation.load(Ordering::SeqCst),
            current_generation: self.generation.clone(),
            failing: self.failing.clone(),
            syncs: self.syncs.clone(),
        }))
    }

    fn exists(&self, path: &Path) -> bool {
        self.files.lock().expect("sim lock").contains_key(path)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        match self.files.lock().expect("sim lock").remove(path) {
            Some(_) => Ok(()),
            None => Err(io::Error::new(io::ErrorKind::NotFound, path.display().to_string())),
        }
    }

    /// A directory is the files under it: they move together, at once (as a rename is).
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut files = self.files.lock().expect("sim lock");
        if let Some(file) = files.remove(from) {
            files.insert(to.to_path_buf(), file);
            return Ok(());
        }
        let inside: Vec<PathBuf> = files.keys().filter(|p| p.starts_with(from)).cloned().collect();
        if inside.is_empty() {
            return Err(io::Error::new(io::ErrorKind::NotFound, from.display().to_string()));
        }
        for path in inside {
            let file = files.remove(&path).expect("listed above");
            let rest = path.strip_prefix(from).expect("listed under it");
            files.insert(to.join(rest), file);
        }
        Ok(())
    }

    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        self.files.lock().expect("sim lock").retain(|p, _| !p.starts_with(path));
        Ok(())
    }

    fn sync_dir(&self, _path: &Path) -> io::Result<()> {
        Ok(())
    }

    fn sync_all(&self, _path: &Path) -> io::Result<()> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(io::Error::other("simulated EIO"));
        }
        for file in self.files.lock().expect("sim lock").values() {
            let mut state = file.state.lock().expect("sim file lock");
            state.durable = state.current.clone();
            state.unsynced.clear();
        }
        self.syncs.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

struct SimHandle {
    file: Arc<SimFile>,
    generation: u64,
    current_generation: Arc<AtomicU64>,
    failing: Arc<AtomicBool>,
    syncs: Arc<AtomicU64>,
}

impl SimHandle {
    fn check(&self, writing: bool) -> io::Result<std::sync::MutexGuard<'_, FileState>> {
        if self.generation != self.current_generation.load(Ordering::SeqCst) {
            return Err(io::Error::other("handle from before a power cut"));
        }
        if writing && self.failing.load(Ordering::SeqCst) {
            return Err(io::Error::other("simulated EIO"));
        }
        Ok(self.file.state.lock().expect("sim file lock"))
    }
}

impl StorageFile for SimHandle {
    fn read_at(&self, buf: &mut [u8], position: u64) -> io::Result<usize> {
        let state = self.check(false)?;
        let start = (position as usize).min(state.current.len());
        let n = buf.len().min(state.current.len() - start);
        buf[..n].copy_from_slice(&state.current[start..start + n]);
        Ok(n)
    }

    fn append(&self, bufs: &[&[u8]]) -> io::Result<()> {
        let mut state = self.check(true)?;
        let change = Change::Append(bufs.concat());
        change.apply(&mut state.current);
        state.unsynced.push(change);
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        let mut state = self.check(true)?;
        self.syncs.fetch_add(1, Ordering::SeqCst);
        let FileState { durable, unsynced, .. } = &mut *state;
        for change in unsynced.drain(..) {
            change.apply(durable);
        }
        Ok(())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        let mut state = self.check(true)?;
        let change = Change::SetLen(len);
        change.apply(&mut state.current);
        state.unsynced.push(change);
        Ok(())
    }

    fn size(&self) -> io::Result<u64> {
        Ok(self.check(false)?.current.len() as u64)
    }
}

/// Fuzzing entry point (also replayed over the committed corpus by the test suite): opens a
/// log whose only segment holds `data` and reads everything back; every batch it keeps must
/// validate.
pub fn fuzz_recovery(data: &[u8]) {
    use crate::{Log, LogConfig, LogEnv, ManualClock, ReadBound};
    let sim = SimStorage::new();
    let dir = Path::new("/fuzz/topic-0");
    sim.set_contents(&dir.join("00000000000000000000.log"), data.to_vec());
    let env = LogEnv::new(sim.clone(), Arc::new(ManualClock::new(0)), None);
    let log = Log::open(dir, LogConfig::default(), env).expect("recovery handles any bytes");
    let mut offset = log.log_start_offset();
    while offset < log.high_watermark() {
        let bytes = log.read(offset, 1 << 20, ReadBound::HighWatermark).expect("read a recovered log");
        let mut rest = &bytes[..];
        assert!(!rest.is_empty(), "a read below the high watermark returns data");
        while let Some(header) = crate::batch::BatchHeader::parse(rest) {
            crate::batch::validate(&rest[..header.size_bytes()], u32::MAX).expect("recovery kept only valid batches");
            offset = header.next_offset();
            rest = &rest[header.size_bytes()..];
        }
    }
}

fn hash_path(path: &Path) -> u64 {
    // FNV-1a: stable across runs, unlike std's randomly seeded hasher.
    path.as_os_str()
        .as_encoded_bytes()
        .iter()
        .fold(0xcbf29ce484222325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100000001b3))
}

/// xorshift64*: small, seeded, reproducible.
/// A small seeded generator (xorshift*): the same seed gives the same numbers everywhere.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545f4914f6cdd1d) % n.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Synced bytes survive every power cut; unsynced ones survive at most as a prefix.
    #[test]
    fn power_cut_keeps_synced_prefix() {
        let sim = SimStorage::new();
        let path = Path::new("/d/f");
        for seed in 0..64 {
            sim.set_contents(path, Vec::new());
            let f = sim.open(path, true).expect("open");
            f.append(&[b"durable"]).expect("append");
            f.sync_data().expect("sync");
            f.append(&[b"-volatile"]).expect("append");
            sim.power_cut(seed);
            let after = sim.contents(path).expect("file");
            assert!(after.starts_with(b"durable"), "seed {seed}: {after:?}");
            let tail = &after[7..];
            assert!(tail.len() <= 9);
            assert!(tail.iter().zip(b"-volatile").all(|(a, b)| a == b || *a == 0));
            assert!(f.read_at(&mut [0u8; 1], 0).is_err(), "old handle must be dead");
        }
    }
}
