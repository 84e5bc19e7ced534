//! A bounded set of open file descriptors shared by every file of an `OsStorage`.
//!
//! A broker with many partitions has many segment files, but only the ones in use need a
//! descriptor. Each `HandleSlot` names a file and holds its descriptor while it is open; when
//! opening one more would pass the ceiling, the clock algorithm closes one not used since the
//! hand last passed it. A closed file is reopened on its next use. Files are append-only and
//! written with `O_APPEND`, so a reopened descriptor appends where the old one would have, and
//! fdatasync on any descriptor of a file covers every write made to it (Linux reports a
//! writeback error to the next fsync of the file even on a descriptor opened after it).
//!
//! Locks: the ring's mutex is taken before a slot's, and a slot's alone never waits for the
//! ring, so the two cannot deadlock; victims are only try-locked.

use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Where a slot is not in the ring.
const NOT_OPEN: usize = usize::MAX;

/// The open files, up to a ceiling.
#[derive(Debug)]
pub struct Handles {
    ceiling: usize,
    ring: Mutex<Ring>,
}

#[derive(Debug, Default)]
struct Ring {
    /// The slots holding a descriptor; `slots[i].position == i`.
    slots: Vec<Arc<HandleSlot>>,
    hand: usize,
}

/// One file: its path, and its descriptor while open.
#[derive(Debug)]
pub struct HandleSlot {
    pub path: PathBuf,
    /// The file's device and inode: a path renamed over or removed since is not reopened as
    /// if it were the same file.
    identity: (u64, u64),
    file: Mutex<Option<Arc<File>>>,
    /// Used since the clock's hand last passed it.
    used: AtomicBool,
    /// Its index in the ring, or `NOT_OPEN`; changed only under the ring's lock.
    position: AtomicUsize,
}

impl Handles {
    /// At most `ceiling` descriptors stay open (at least one).
    pub fn new(ceiling: usize) -> Handles {
        Handles { ceiling: ceiling.max(1), ring: Mutex::default() }
    }

    /// A ceiling of half the process's soft open-file limit: the rest is left to connections,
    /// directories and the files opened for a moment (checkpoints, snapshots).
    pub fn default_ceiling() -> usize {
        let soft = rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft);
        usize::try_from(soft / 2).unwrap_or(usize::MAX).max(16)
    }

    pub fn ceiling(&self) -> usize {
        self.ceiling
    }

    /// How many descriptors are open now.
    pub fn open_count(&self) -> usize {
        self.ring.lock().expect("handle ring").slots.len()
    }

    /// Opens `path` now (creating it if `create`), so that errors show at once, and keeps
    /// the descriptor as the first one of the returned slot.
    pub fn open(&self, path: &Path, create: bool) -> io::Result<Arc<HandleSlot>> {
        let file = self.open_file(path, create)?;
        let slot = Arc::new(HandleSlot::new(path, &file.metadata()?));
        self.install(&slot, file);
        Ok(slot)
    }

    /// A slot for an existing file, opened on first use (start-up touches many files once),
    /// and the file's size now.
    pub fn lazy(&self, path: &Path) -> io::Result<(Arc<HandleSlot>, u64)> {
        let metadata = std::fs::metadata(path)?;
        if !metadata.is_file() {
            return Err(io::Error::other(format!("{} is not a file", path.display())));
        }
        Ok((Arc::new(HandleSlot::new(path, &metadata)), metadata.len()))
    }

    /// The slot's descriptor, reopening the file if it was closed.
    pub fn get(&self, slot: &Arc<HandleSlot>) -> io::Result<Arc<File>> {
        if let Some(file) = slot.file.lock().expect("handle slot").as_ref() {
            slot.used.store(true, Ordering::Relaxed);
            return Ok(file.clone());
        }
        let file = self.open_file(&slot.path, false)?;
        let metadata = file.metadata()?;
        if (metadata.dev(), metadata.ino()) != slot.identity {
            let msg = format!("{} was replaced or removed", slot.path.display());
            return Err(io::Error::new(io::ErrorKind::NotFound, msg));
        }
        Ok(self.install(slot, file))
    }

    /// The descriptor if the file is open now, without opening it.
    pub fn peek(&self, slot: &HandleSlot) -> Option<Arc<File>> {
        slot.file.lock().expect("handle slot").clone()
    }

    /// Closes the slot's descriptor (the file is going away).
    pub fn release(&self, slot: &HandleSlot) {
        let mut ring = self.ring.lock().expect("handle ring");
        let position = slot.position.load(Ordering::Relaxed);
        if position != NOT_OPEN {
            ring.remove(position);
            *slot.file.lock().expect("handle slot") = None;
        }
    }

    /// Puts `file` in the slot unless another thread opened it first, closing others to stay
    /// within the ceiling.
    fn install(&self, slot: &Arc<HandleSlot>, file: File) -> Arc<File> {
        let mut ring = self.ring.lock().expect("handle ring");
        let mut held = slot.file.lock().expect("handle slot");
        if let Some(existing) = held.as_ref() {
            return existing.clone();
        }
        while ring.slots.len() >= self.ceiling && ring.evict_one(slot) {}
        let file = Arc::new(file);
        *held = Some(file.clone());
        slot.used.store(true, Ordering::Relaxed);
        slot.position.store(ring.slots.len(), Ordering::Relaxed);
        ring.slots.push(slot.clone());
        file
    }

    /// Opens a file; when the process is out of descriptors (other files, connections), closes
    /// half of the idle ones and tries once more.
    /// A file's whole contents, through a descriptor of its own closed at once.
    pub fn read_whole(&self, path: &Path) -> io::Result<Vec<u8>> {
        // Read until end of file into a growing buffer: `read_to_end` would first stat and
        // seek the file to size it, two more system calls per file at start-up.
        let mut file = self.open_file(path, false)?;
        let mut contents = vec![0; 4096];
        let mut filled = 0;
        loop {
            if filled == contents.len() {
                contents.resize(filled * 2, 0);
            }
            match file.read(&mut contents[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        contents.truncate(filled);
        Ok(contents)
    }

    fn open_file(&self, path: &Path, create: bool) -> io::Result<File> {
        let open = || OpenOptions::new().read(true).append(true).create(create).open(path);
        match open() {
            Err(e) if matches!(e.raw_os_error(), Some(23 | 24)) => {
                let mut ring = self.ring.lock().expect("handle ring");
                let target = ring.slots.len() / 2;
                while ring.slots.len() > target && ring.evict_one_of_any() {}
                drop(ring);
                open()
            }
            other => other,
        }
    }
}

impl HandleSlot {
    fn new(path: &Path, metadata: &Metadata) -> HandleSlot {
        HandleSlot {
            path: path.to_path_buf(),
            identity: (metadata.dev(), metadata.ino()),
            file: Mutex::new(None),
            used: AtomicBool::new(false),
            position: AtomicUsize::new(NOT_OPEN),
        }
    }
}

impl Ring {
    /// Closes one descriptor other than `keep`'s, by the clock; false if every one is in use.
    fn evict_one(&mut self, keep: &Arc<HandleSlot>) -> bool {
        self.evict(|slot| Arc::ptr_eq(slot, keep))
    }

    fn evict_one_of_any(&mut self) -> bool {
        self.evict(|_| false)
    }

    fn evict(&mut self, skip: impl Fn(&Arc<HandleSlot>) -> bool) -> bool {
        // Two turns: the first may only clear the used marks.
        for _ in 0..2 * self.slots.len() {
            if self.hand >= self.slots.len() {
                self.hand = 0;
            }
            let slot = self.slots[self.hand].clone();
            if skip(&slot) || slot.used.swap(false, Ordering::Relaxed) {
                self.hand += 1;
                continue;
            }
            // A slot locked now is being opened or read: leave it.
            let Ok(mut file) = slot.file.try_lock() else {
                self.hand += 1;
                continue;
            };
            *file = None;
            drop(file);
            self.remove(self.hand);
            return true;
        }
        false
    }

    fn remove(&mut self, position: usize) {
        let removed = self.slots.swap_remove(position);
        removed.position.store(NOT_OPEN, Ordering::Relaxed);
        if let Some(moved) = self.slots.get(position) {
            moved.position.store(position, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// However many files are in use, at most the ceiling stay open, and each reopens on use
    /// with its contents and appends intact.
    #[test]
    fn stays_within_the_ceiling() {
        let dir = tempfile::tempdir().expect("tempdir");
        let handles = Handles::new(4);
        let slots: Vec<_> =
            (0..20).map(|i| handles.open(&dir.path().join(format!("{i}")), true).expect("open")).collect();
        assert_eq!(handles.open_count(), 4);
        for round in 0..3 {
            for (i, slot) in slots.iter().enumerate() {
                let mut file = &*handles.get(slot).expect("reopen");
                file.write_all(format!("{i}.{round};").as_bytes()).expect("append");
                assert!(handles.open_count() <= 4);
            }
        }
        for (i, slot) in slots.iter().enumerate() {
            let contents = std::fs::read_to_string(&slot.path).expect("read");
            assert_eq!(contents, format!("{i}.0;{i}.1;{i}.2;"));
        }
        handles.release(&slots[0]);
        assert!(handles.peek(&slots[0]).is_none());
        let (lazy, _) = handles.lazy(&slots[1].path).expect("exists");
        assert!(handles.peek(&lazy).is_none(), "a lazy slot opens on first use");
        assert!(handles.lazy(&dir.path().join("missing")).is_err());
        // A closed file renamed over is not mistaken for the one the slot named.
        let (replaced, _) = handles.lazy(&slots[2].path).expect("exists");
        std::fs::write(dir.path().join("new"), b"other").expect("write");
        std::fs::rename(dir.path().join("new"), &slots[2].path).expect("rename");
        let err = handles.get(&replaced).expect_err("replaced");
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }
}
