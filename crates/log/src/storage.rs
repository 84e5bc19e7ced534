//! The file I/O the log needs, behind two small traits so that tests can run the log on a
//! simulated disk (`sim`) that loses unsynced writes at a power cut. `OsStorage` is the real one.
//!
//! Files are append-only (opened with `O_APPEND`): the log writes only at the end, under its
//! append lock, and readers use positional reads concurrently. `OsStorage` keeps at most a
//! ceiling of them open at once (`handles`), reopening a closed one on its next use.

use std::fs::{self, File};
use std::io::{self, IoSlice, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use brook_metrics::Histogram;

use crate::handles::{HandleSlot, Handles};

/// Directory-level operations.
pub trait Storage: Send + Sync + 'static {
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Names (not paths) of the entries of a directory.
    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>>;
    /// Opens a file for append and positional reads, creating it if `create`. An existing
    /// file may be opened lazily, on first use; a missing one is an error at once.
    fn open(&self, path: &Path, create: bool) -> io::Result<Arc<dyn StorageFile>>;
    /// Opens an existing file (lazily, as `open`) and tells its size now.
    fn open_existing(&self, path: &Path) -> io::Result<(Arc<dyn StorageFile>, u64)> {
        let file = self.open(path, false)?;
        let size = file.size()?;
        Ok((file, size))
    }
    fn exists(&self, path: &Path) -> bool;
    /// A small file's whole contents (a checkpoint, a snapshot), read once: no descriptor
    /// stays behind in the open-file ceiling.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let file = self.open(path, false)?;
        let len = usize::try_from(file.size()?).unwrap_or(usize::MAX);
        read_vec(&*file, 0, len)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Atomically replaces `to` with `from` (a file, or a directory with all it holds).
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes a directory and everything in it.
    fn remove_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Makes creations, removals and renames in a directory durable.
    fn sync_dir(&self, path: &Path) -> io::Result<()>;
    /// Makes every write so far to the file system holding `path` durable (syncfs): one call
    /// instead of a sync per file when many files were written at once (a clean shutdown).
    fn sync_all(&self, path: &Path) -> io::Result<()>;
}

/// One open file.
pub trait StorageFile: Send + Sync {
    /// Reads at `position`; fewer bytes than asked only at the end of the file.
    fn read_at(&self, buf: &mut [u8], position: u64) -> io::Result<usize>;
    /// Appends all of `bufs` at the end of the file.
    fn append(&self, bufs: &[&[u8]]) -> io::Result<()>;
    /// fdatasync: everything written before the call survives a power cut once it returns.
    fn sync_data(&self) -> io::Result<()>;
    fn set_len(&self, len: u64) -> io::Result<()>;
    fn size(&self) -> io::Result<u64>;
}

/// Reads exactly `len` bytes at `position`, or fewer if the file ends first.
pub fn read_vec(file: &dyn StorageFile, position: u64, len: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    let mut filled = 0;
    while filled < len {
        let n = file.read_at(&mut buf[filled..], position + filled as u64)?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    buf.truncate(filled);
    Ok(buf)
}

/// Writes `contents` to `path` so that after a crash `path` holds either the old or the new
/// contents, whole: write a temporary file, sync it, rename over, sync the directory.
pub fn write_atomically(storage: &dyn Storage, path: &Path, contents: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    if storage.exists(&tmp) {
        storage.remove_file(&tmp)?;
    }
    let file = storage.open(&tmp, true)?;
    file.append(&[contents])?;
    file.sync_data()?;
    storage.rename(&tmp, path)?;
    storage.sync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// Rewrites `path` in place, without a sync: for many small files written at once and then
/// made durable by one `Storage::sync_all` (a clean shutdown). Rewriting in place creates no
/// inode (creating tens of thousands of temporary files at once is what costs on ext4). A crash
/// before the sync may leave the old contents, the new ones, or a torn or empty file: only for
/// files whose readers detect damage (checksums) and fall back.
pub fn write_in_place(storage: &dyn Storage, path: &Path, contents: &[u8]) -> io::Result<()> {
    let file = storage.open(path, true)?;
    file.set_len(0)?;
    file.append(&[contents])
}

/// The operating system's file system, with at most `handles.ceiling()` files open at once;
/// with a histogram, every fdatasync is timed into it.
#[derive(Debug, Clone)]
pub struct OsStorage {
    sync_latency: Option<Arc<Histogram>>,
    handles: Arc<Handles>,
}

impl Default for OsStorage {
    fn default() -> OsStorage {
        OsStorage::new(Handles::default_ceiling())
    }
}

impl OsStorage {
    /// Keeps at most `max_open_files` files open.
    pub fn new(max_open_files: usize) -> OsStorage {
        OsStorage { sync_latency: None, handles: Arc::new(Handles::new(max_open_files)) }
    }

    pub fn timed(self, sync_latency: Arc<Histogram>) -> OsStorage {
        OsStorage { sync_latency: Some(sync_latency), ..self }
    }

    /// The open files and their ceiling.
    pub fn handles(&self) -> &Arc<Handles> {
        &self.handles
    }

    fn file(&self, slot: Arc<HandleSlot>) -> Arc<dyn StorageFile> {
        Arc::new(OsFile { slot, handles: self.handles.clone(), sync_latency: self.sync_latency.clone() })
    }
}

impl Storage for OsStorage {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        fs::create_dir_all(path)
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(path)? {
            names.push(entry?.file_name().to_string_lossy().into_owned());
        }
        Ok(names)
    }

    fn open(&self, path: &Path, create: bool) -> io::Result<Arc<dyn StorageFile>> {
        let slot = if create { self.handles.open(path, true)? } else { self.handles.lazy(path)?.0 };
        Ok(self.file(slot))
    }

    /// The size comes from the lazy slot's own stat: one system call for both.
    fn open_existing(&self, path: &Path) -> io::Result<(Arc<dyn StorageFile>, u64)> {
        let (slot, size) = self.handles.lazy(path)?;
        Ok((self.file(slot), size))
    }

    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.handles.read_whole(path)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        fs::remove_dir_all(path)
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        File::open(path)?.sync_all()
    }

    fn sync_all(&self, path: &Path) -> io::Result<()> {
        Ok(rustix::fs::syncfs(File::open(path)?)?)
    }
}

struct OsFile {
    slot: Arc<HandleSlot>,
    handles: Arc<Handles>,
    sync_latency: Option<Arc<Histogram>>,
}

impl OsFile {
    fn file(&self) -> io::Result<Arc<File>> {
        self.handles.get(&self.slot)
    }
}

impl Drop for OsFile {
    fn drop(&mut self) {
        self.handles.release(&self.slot);
    }
}

impl StorageFile for OsFile {
    fn read_at(&self, buf: &mut [u8], position: u64) -> io::Result<usize> {
        self.file()?.read_at(buf, position)
    }

    fn append(&self, bufs: &[&[u8]]) -> io::Result<()> {
        let file = self.file()?;
        let mut slices: Vec<IoSlice<'_>> = bufs.iter().map(|b| IoSlice::new(b)).collect();
        let mut slices = &mut slices[..];
        while !slices.is_empty() {
            match (&*file).write_vectored(slices) {
                Ok(0) => {
                    let msg = format!("wrote nothing to {}", self.slot.path.display());
                    return Err(io::Error::new(io::ErrorKind::WriteZero, msg));
                }
                Ok(n) => IoSlice::advance_slices(&mut slices, n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        let file = self.file()?;
        let started = Instant::now();
        let synced = file.sync_data();
        if let Some(histogram) = &self.sync_latency {
            histogram.observe(started.elapsed());
        }
        synced
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.file()?.set_len(len)
    }

    /// From the open descriptor if there is one, else from the path: sizing a closed file
    /// does not open it.
    fn size(&self) -> io::Result<u64> {
        match self.handles.peek(&self.slot) {
            Some(file) => Ok(file.metadata()?.len()),
            None => Ok(fs::metadata(&self.slot.path)?.len()),
        }
    }
}

/// The size of the file system holding `path` and the bytes an unprivileged writer may still
/// use there (DescribeLogDirs' totals).
pub fn disk_space(path: &Path) -> io::Result<(u64, u64)> {
    let stat = rustix::fs::statvfs(path)?;
    Ok((stat.f_blocks.saturating_mul(stat.f_frsize), stat.f_bavail.saturating_mul(stat.f_frsize)))
}
