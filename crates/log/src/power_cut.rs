//! The real file system with a power cut a test can trigger in a running broker: every file
//! remembers how much of it an fdatasync has covered, and `power_cut` truncates each file to
//! that length and blocks all further I/O, so the process can exit as if the power had gone.
//! A slow disk (a delay before each fdatasync) widens the window of unsynced writes.
//! Segments are append-only, so what is cut is exactly what a power cut could lose. (A real
//! disk may keep some unsynced writes or tear the last one; `sim` covers those cases.)

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::storage::{OsStorage, Storage, StorageFile};

/// `OsStorage` that can lose its unsynced writes on demand.
pub struct PowerCutStorage {
    os: OsStorage,
    sync_delay: Duration,
    /// Every file this process opened, by path: the length its last sync made durable.
    files: Mutex<HashMap<PathBuf, Arc<Mutex<u64>>>>,
    cut: Arc<AtomicBool>,
}

struct TrackedFile {
    file: Arc<dyn StorageFile>,
    sync_delay: Duration,
    durable: Arc<Mutex<u64>>,
    cut: Arc<AtomicBool>,
}

fn after_cut() -> io::Error {
    io::Error::other("the power is cut")
}

impl PowerCutStorage {
    /// Every fdatasync first waits `sync_delay` (a slow disk).
    pub fn new(os: OsStorage, sync_delay: Duration) -> PowerCutStorage {
        PowerCutStorage { os, sync_delay, files: Mutex::default(), cut: Arc::default() }
    }

    /// Truncates every file to what was synced and stops all I/O for good: appends and syncs
    /// in other threads block, everything else fails. The caller exits the process next.
    /// Returns the bytes dropped and the files they were dropped from.
    pub fn power_cut(&self) -> (u64, usize) {
        self.cut.store(true, Ordering::SeqCst);
        let files = self.files.lock().expect("power cut lock");
        let (mut dropped, mut cut_files) = (0, 0);
        for (path, durable) in files.iter() {
            // Held until the process ends: no append lands after the cut.
            let durable = std::mem::ManuallyDrop::new(durable.lock().expect("durable lock"));
            if let Ok(file) = OpenOptions::new().write(true).open(path) {
                let size = file.metadata().map(|m| m.len()).unwrap_or(0);
                if size > **durable && file.set_len(**durable).is_ok() {
                    dropped += size - **durable;
                    cut_files += 1;
                }
            }
        }
        std::mem::forget(files);
        (dropped, cut_files)
    }

    fn check(&self) -> io::Result<()> {
        if self.cut.load(Ordering::SeqCst) { Err(after_cut()) } else { Ok(()) }
    }
}

impl Storage for PowerCutStorage {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        self.check()?;
        self.os.create_dir_all(path)
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        self.os.list_dir(path)
    }

    fn open(&self, path: &Path, create: bool) -> io::Result<Arc<dyn StorageFile>> {
        self.check()?;
        let mut files = self.files.lock().expect("power cut lock");
        let file = self.os.open(path, create)?;
        // What was there before this process opened it counts as durable.
        let size = file.size()?;
        let durable = files.entry(path.to_path_buf()).or_insert_with(|| Arc::new(Mutex::new(size))).clone();
        Ok(Arc::new(TrackedFile { file, sync_delay: self.sync_delay, durable, cut: self.cut.clone() }))
    }

    fn exists(&self, path: &Path) -> bool {
        self.os.exists(path)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.check()?;
        let mut files = self.files.lock().expect("power cut lock");
        self.os.remove_file(path)?;
        files.remove(path);
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.check()?;
        let mut files = self.files.lock().expect("power cut lock");
        self.os.rename(from, to)?;
        match files.remove(from) {
            Some(durable) => files.insert(to.to_path_buf(), durable),
            None => files.remove(to),
        };
        // A directory's files move with it.
        let inside: Vec<PathBuf> = files.keys().filter(|p| p.starts_with(from)).cloned().collect();
        for path in inside {
            let durable = files.remove(&path).expect("listed above");
            files.insert(to.join(path.strip_prefix(from).expect("listed under it")), durable);
        }
        Ok(())
    }

    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        self.check()?;
        let mut files = self.files.lock().expect("power cut lock");
        self.os.remove_dir_all(path)?;
        files.retain(|p, _| !p.starts_with(path));
        Ok(())
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        self.check()?;
        self.os.sync_dir(path)
    }

    fn sync_all(&self, path: &Path) -> io::Result<()> {
        self.check()?;
        // What every file held before the sync began is durable once it returns.
        let files = self.files.lock().expect("power cut lock");
        let sizes: Vec<_> =
            files.iter().map(|(path, durable)| (std::fs::metadata(path).map_or(0, |m| m.len()), durable)).collect();
        std::thread::sleep(self.sync_delay);
        self.os.sync_all(path)?;
        for (size, durable) in sizes {
            let mut durable = durable.lock().expect("durable lock");
            *durable = (*durable).max(size);
        }
        Ok(())
    }
}

impl StorageFile for TrackedFile {
    fn read_at(&self, buf: &mut [u8], position: u64) -> io::Result<usize> {
        self.file.read_at(buf, position)
    }

    fn append(&self, bufs: &[&[u8]]) -> io::Result<()> {
        // Under the lock the cut takes, so an append is either before the cut or never.
        let _durable = self.durable.lock().expect("durable lock");
        if self.cut.load(Ordering::SeqCst) {
            return Err(after_cut());
        }
        self.file.append(bufs)
    }

    fn sync_data(&self) -> io::Result<()> {
        // What the file held before the sync began is durable once it returns.
        let size = self.file.size()?;
        std::thread::sleep(self.sync_delay);
        self.file.sync_data()?;
        let mut durable = self.durable.lock().expect("durable lock");
        *durable = (*durable).max(size);
        Ok(())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        let mut durable = self.durable.lock().expect("durable lock");
        if self.cut.load(Ordering::SeqCst) {
            return Err(after_cut());
        }
        self.file.set_len(len)?;
        *durable = (*durable).min(len);
        Ok(())
    }

    fn size(&self) -> io::Result<u64> {
        self.file.size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_power_cut_keeps_exactly_what_was_synced() {
        let dir = tempfile::tempdir().unwrap();
        let storage = PowerCutStorage::new(OsStorage::default(), Duration::ZERO);
        let (a, b) = (dir.path().join("a.log"), dir.path().join("b.log"));
        let fa = storage.open(&a, true).unwrap();
        fa.append(&[b"synced"]).unwrap();
        fa.sync_data().unwrap();
        fa.append(&[b" lost"]).unwrap();
        let fb = storage.open(&b, true).unwrap();
        fb.append(&[b"never synced"]).unwrap();
        // A renamed file keeps what its sync covered.
        let c = dir.path().join("c.log");
        let fc = storage.open(&c.with_extension("tmp"), true).unwrap();
        fc.append(&[b"whole"]).unwrap();
        fc.sync_data().unwrap();
        storage.rename(&c.with_extension("tmp"), &c).unwrap();

        assert_eq!(storage.power_cut(), (" lost".len() as u64 + "never synced".len() as u64, 2));
        assert_eq!(std::fs::read(&a).unwrap(), b"synced");
        assert_eq!(std::fs::read(&b).unwrap(), b"");
        assert_eq!(std::fs::read(&c).unwrap(), b"whole");
        assert!(storage.open(&a, false).is_err(), "no I/O after the cut");
    }
}
