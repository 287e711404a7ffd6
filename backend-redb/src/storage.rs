//! The storage redb runs on: redb's own file backend (its locks included),
//! behind a *stage* that keeps every write of an open in memory until the
//! open is accepted.
//!
//! Opening a redb file writes to it before anything could refuse it: redb
//! marks the file in use, and after an unclean shutdown it repairs the file
//! (rebuilding its allocator state, or rolling back to the previous commit
//! and cutting the file). A file that is then refused (another program's
//! database, a newer format, a damaged log) would have been changed by the
//! open that refused it. So an open runs staged: reads see the staged writes
//! over the file, syncs do nothing, and the file is not written until
//! [`Storage::persist`], which the store calls once every check has passed.
//! A refused open drops the stage and leaves every byte of the file as it
//! was.
//!
//! [`Storage::persist`] writes the staged blocks other than the first, syncs,
//! then writes the first block (redb's header, which says which commit is
//! current) and syncs again, and only then shortens the file if the open
//! shortened it: a crash at any moment leaves either the old header, which
//! names pages the persist did not overwrite, or the new one, whose pages are
//! all on disk.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::ops::Bound;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use redb::backends::FileBackend;
use redb::{BackendError, StorageBackend};

/// Staged writes are kept in blocks of this size.
const BLOCK: u64 = 4096;

/// A redb storage backend on one file, staged until [`Storage::persist`].
#[derive(Debug, Clone)]
pub(crate) struct Storage {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    file: FileBackend,
    /// Set while writes go to the stage; cleared once, by `persist`.
    staging: AtomicBool,
    stage: Mutex<Stage>,
}

/// The writes of an open, over the file as it was.
#[derive(Debug, Default)]
struct Stage {
    /// Staged blocks, by index: each holds `BLOCK` bytes.
    blocks: HashMap<u64, Box<[u8]>>,
    /// The length redb sees.
    len: u64,
    /// The file's length when the stage began.
    file_len: u64,
    /// Bytes at or past this offset that are in no block read as zeros: the
    /// stage was shortened to here at some point, so the file's old bytes
    /// past it are gone.
    floor: u64,
}

fn lock(stage: &Mutex<Stage>) -> MutexGuard<'_, Stage> {
    // A panic while the lock was held (redb panics on some damaged files)
    // leaves a stage that is dropped with the open that failed.
    stage.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Storage {
    /// Opens the storage on `file`, staged.
    pub(crate) fn staged(file: File) -> io::Result<Storage> {
        let file_len = file.metadata()?.len();
        let file = FileBackend::new(file).map_err(io::Error::other)?;
        let stage = Stage { blocks: HashMap::new(), len: file_len, file_len, floor: file_len };
        Ok(Storage {
            shared: Arc::new(Shared {
                file,
                staging: AtomicBool::new(true),
                stage: Mutex::new(stage),
            }),
        })
    }

    /// The file's length when the stage began.
    pub(crate) fn file_len(&self) -> u64 {
        lock(&self.shared.stage).file_len
    }

    /// Writes the staged blocks to the file, durably and in an order that a
    /// crash cannot tear (see the module's docs); from then on every write
    /// goes to the file.
    pub(crate) fn persist(&self) -> io::Result<()> {
        let shared = &self.shared;
        let mut stage = lock(&shared.stage);
        if !shared.staging.load(Ordering::Acquire) {
            return Ok(());
        }
        let file = &shared.file;
        let len = stage.len;
        if len > stage.file_len {
            file.set_len(len)?;
        }
        // Old bytes between the floor and the end that no block covers must
        // read as zeros.
        let zeros = vec![0u8; BLOCK as usize];
        let mut at = stage.floor;
        while at < len.min(stage.file_len) {
            let index = at / BLOCK;
            let end = ((index + 1) * BLOCK).min(len).min(stage.file_len);
            if !stage.blocks.contains_key(&index) {
                file.write(at, &zeros[..(end - at) as usize])?;
            }
            at = end;
        }
        let mut indexes: Vec<u64> = stage.blocks.keys().copied().filter(|&i| i != 0).collect();
        indexes.sort_unstable();
        for index in indexes {
            write_block(file, &stage, index)?;
        }
        file.sync_data()?;
        if stage.blocks.contains_key(&0) {
            write_block(file, &stage, 0)?;
            file.sync_data()?;
        }
        if len < stage.file_len {
            file.set_len(len)?;
            file.sync_data()?;
        }
        *stage = Stage::default();
        shared.staging.store(false, Ordering::Release);
        Ok(())
    }
}

/// Writes staged block `index`, cut at the stage's length.
fn write_block(file: &FileBackend, stage: &Stage, index: u64) -> io::Result<()> {
    let start = index * BLOCK;
    let Some(block) = stage.blocks.get(&index) else { return Ok(()) };
    if start >= stage.len {
        return Ok(());
    }
    let n = (stage.len - start).min(BLOCK) as usize;
    file.write(start, &block[..n])
}

impl Stage {
    /// Fills `out` with the staged view of `[offset, offset + out.len())`.
    fn read(&self, file: &FileBackend, offset: u64, out: &mut [u8]) -> io::Result<()> {
        let end = offset.checked_add(out.len() as u64).filter(|&end| end <= self.len);
        let Some(end) = end else {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "read past the end"));
        };
        let mut at = offset;
        while at < end {
            let index = at / BLOCK;
            let stop = ((index + 1) * BLOCK).min(end);
            let dst = &mut out[(at - offset) as usize..(stop - offset) as usize];
            match self.blocks.get(&index) {
                Some(block) => {
                    let from = (at - index * BLOCK) as usize;
                    dst.copy_from_slice(&block[from..from + dst.len()]);
                }
                None => self.read_file(file, at, dst)?,
            }
            at = stop;
        }
        Ok(())
    }

    /// The file's bytes where no block is staged: zeros past the floor.
    fn read_file(&self, file: &FileBackend, at: u64, dst: &mut [u8]) -> io::Result<()> {
        let readable = self.floor.min(self.file_len);
        dst.fill(0);
        if at < readable {
            let n = ((readable - at) as usize).min(dst.len());
            file.read(at, &mut dst[..n])?;
        }
        Ok(())
    }

    fn write(&mut self, file: &FileBackend, offset: u64, data: &[u8]) -> io::Result<()> {
        let end = offset
            .checked_add(data.len() as u64)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "write past u64"))?;
        let mut at = offset;
        while at < end {
            let index = at / BLOCK;
            let stop = ((index + 1) * BLOCK).min(end);
            if !self.blocks.contains_key(&index) {
                let mut block = vec![0u8; BLOCK as usize].into_boxed_slice();
                let start = index * BLOCK;
                let visible = self.len.saturating_sub(start).min(BLOCK) as usize;
                self.read_file(file, start, &mut block[..visible])?;
                self.blocks.insert(index, block);
            }
            if let Some(block) = self.blocks.get_mut(&index) {
                let from = (at - index * BLOCK) as usize;
                block[from..from + (stop - at) as usize]
                    .copy_from_slice(&data[(at - offset) as usize..(stop - offset) as usize]);
            }
            at = stop;
        }
        self.len = self.len.max(end);
        Ok(())
    }

    fn set_len(&mut self, len: u64) {
        if len < self.len {
            self.blocks.retain(|&index, _| index * BLOCK < len);
            let index = len / BLOCK;
            if let Some(block) = self.blocks.get_mut(&index) {
                block[(len - index * BLOCK) as usize..].fill(0);
            }
            self.floor = self.floor.min(len);
        }
        self.len = len;
    }
}

impl StorageBackend for Storage {
    fn len(&self) -> Result<u64, io::Error> {
        if self.shared.staging.load(Ordering::Acquire) {
            return Ok(lock(&self.shared.stage).len);
        }
        self.shared.file.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), io::Error> {
        if self.shared.staging.load(Ordering::Acquire) {
            return lock(&self.shared.stage).read(&self.shared.file, offset, out);
        }
        self.shared.file.read(offset, out)
    }

    fn set_len(&self, len: u64) -> Result<(), io::Error> {
        if self.shared.staging.load(Ordering::Acquire) {
            lock(&self.shared.stage).set_len(len);
            return Ok(());
        }
        self.shared.file.set_len(len)
    }

    fn sync_data(&self) -> Result<(), io::Error> {
        if self.shared.staging.load(Ordering::Acquire) {
            return Ok(());
        }
        self.shared.file.sync_data()
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
        if self.shared.staging.load(Ordering::Acquire) {
            return lock(&self.shared.stage).write(&self.shared.file, offset, data);
        }
        self.shared.file.write(offset, data)
    }

    fn close(&self) -> Result<(), io::Error> {
        self.shared.file.close()
    }

    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.shared.file.try_lock_range(start, end)
    }

    fn try_lock_shared_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> Result<bool, BackendError> {
        self.shared.file.try_lock_shared_range(start, end)
    }

    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.shared.file.lock_range(start, end)
    }

    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.shared.file.lock_shared_range(start, end)
    }

    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.shared.file.unlock_range(start, end)
    }

    fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.shared.file.query_lock_range(start, end)
    }
}

/// An exclusive hold on a store's file in redb's own locking protocol, for
/// moving a damaged file aside: while it is held, no other process has the
/// file open through redb. Released on drop.
pub(crate) struct Hold {
    file: FileBackend,
}

impl Hold {
    /// Takes the hold on `file`; `None` when another process holds the file.
    pub(crate) fn try_take(file: File) -> io::Result<Option<Hold>> {
        let file = FileBackend::new(file).map_err(io::Error::other)?;
        match file.try_lock_range(Bound::Unbounded, Bound::Unbounded) {
            Ok(true) => Ok(Some(Hold { file })),
            Ok(false) => Ok(None),
            Err(e) => Err(io::Error::other(e)),
        }
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        // Closing releases every lock; an error leaves nothing to do.
        let _ = self.file.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn storage(bytes: &[u8]) -> (tempfile::TempDir, std::path::PathBuf, Storage) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        std::fs::write(&path, bytes).expect("write");
        let file = std::fs::OpenOptions::new().read(true).write(true).open(&path).expect("open");
        let storage = Storage::staged(file).expect("staged");
        (dir, path, storage)
    }

    fn read(s: &Storage, offset: u64, n: usize) -> Vec<u8> {
        let mut out = vec![0u8; n];
        s.read(offset, &mut out).expect("read");
        out
    }

    #[test]
    fn staged_writes_are_seen_but_reach_the_file_only_at_persist() {
        let original: Vec<u8> = (0..3 * BLOCK as usize).map(|i| (i % 251) as u8).collect();
        let (_dir, path, s) = storage(&original);
        s.write(4090, b"0123456789").expect("write across a block edge");
        s.write(3 * BLOCK + 10, b"grown").expect("write past the end");
        s.sync_data().expect("sync is a no-op");
        assert_eq!(read(&s, 4090, 10), b"0123456789");
        assert_eq!(s.len().expect("len"), 3 * BLOCK + 15);
        assert_eq!(read(&s, 3 * BLOCK, 10), [0; 10], "grown bytes are zeros");
        assert_eq!(std::fs::read(&path).expect("file"), original, "the file is untouched");
        s.persist().expect("persist");
        let mut expected = original.clone();
        expected[4090..4100].copy_from_slice(b"0123456789");
        expected.resize(3 * BLOCK as usize + 15, 0);
        expected[3 * BLOCK as usize + 10..].copy_from_slice(b"grown");
        assert_eq!(std::fs::read(&path).expect("file"), expected);
        s.write(0, b"direct").expect("write after persist");
        assert_eq!(&std::fs::read(&path).expect("file")[..6], b"direct");
    }

    #[test]
    fn a_stage_shortened_then_grown_reads_zeros_where_the_file_was_cut() {
        let original = vec![7u8; 4 * BLOCK as usize];
        let (_dir, path, s) = storage(&original);
        s.set_len(BLOCK + 100).expect("shorten");
        assert!(s.read(BLOCK + 50, &mut [0u8; 100]).is_err(), "a read past the end fails");
        s.set_len(3 * BLOCK).expect("grow");
        assert_eq!(read(&s, BLOCK + 90, 20), [&[7u8; 10][..], &[0u8; 10]].concat());
        assert_eq!(std::fs::read(&path).expect("file"), original, "the file is untouched");
        s.persist().expect("persist");
        let file = std::fs::read(&path).expect("file");
        assert_eq!(file.len(), 3 * BLOCK as usize);
        assert!(file[..BLOCK as usize + 100].iter().all(|&b| b == 7));
        assert!(file[BLOCK as usize + 100..].iter().all(|&b| b == 0));
    }

    #[test]
    fn a_dropped_stage_changes_nothing() {
        let original = vec![1u8; 2 * BLOCK as usize];
        let (_dir, path, s) = storage(&original);
        s.write(0, &[9; 100]).expect("write");
        s.set_len(10).expect("shorten");
        drop(s);
        assert_eq!(std::fs::read(&path).expect("file"), original);
    }
}
