//! The crash windows of a durable write, tested deterministically.
//!
//! The database (through redb's `StorageBackend`) and its log (through
//! [`LogIo`]) run on one simulated disk that counts every write, resize and
//! sync. A run stops the disk at operation `n`: that operation and every one
//! after it fail, as if the machine had lost power there. What survives is
//! either what was synced (power loss: the page cache is gone) or everything
//! written (a killed process: the page cache survives). For every `n` the
//! store reopened from that image must hold every write that was
//! acknowledged, and nothing but what was acknowledged or was in flight.
//!
//! A write made visible before its log record was synced, a record written
//! but never synced, or a checkpoint out of order each fails here at the
//! operation where the ordering mistake lies (planted and seen failing, see
//! the closing note of the issue that added this).

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::sync::{Arc, Mutex, PoisonError};

use cachestore_core::{Bytes, CacheStore, SetItem, SetOptions};

use crate::log::LogIo;
use crate::{Durability, RedbStore};

const BLOCK: usize = 4096;

/// One simulated file: what a reader sees now, and what survives power loss.
#[derive(Clone, Debug, Default)]
struct SimFile {
    now: Vec<u8>,
    synced: Vec<u8>,
    /// Blocks written since the last sync.
    dirty: BTreeSet<usize>,
}

impl SimFile {
    fn write(&mut self, at: usize, data: &[u8]) {
        if self.now.len() < at + data.len() {
            self.now.resize(at + data.len(), 0);
        }
        self.now[at..at + data.len()].copy_from_slice(data);
        self.dirty.extend(at / BLOCK..(at + data.len()).div_ceil(BLOCK));
    }

    fn set_len(&mut self, len: usize) {
        let old = self.now.len();
        self.now.resize(len, 0);
        self.dirty.extend(old.min(len) / BLOCK..old.max(len).div_ceil(BLOCK));
    }

    fn sync(&mut self) {
        self.synced.resize(self.now.len(), 0);
        for &block in &self.dirty {
            let range = block * BLOCK..((block + 1) * BLOCK).min(self.now.len());
            if range.start < range.end {
                self.synced[range.clone()].copy_from_slice(&self.now[range]);
            }
        }
        self.dirty.clear();
    }
}

/// The simulated disk: the database file and the log, and the stop.
#[derive(Debug, Default)]
struct Disk {
    files: [SimFile; 2],
    /// Writes, resizes and syncs so far.
    ops: u64,
    /// The operation at which the disk stops.
    stop_at: Option<u64>,
    stopped: bool,
}

#[derive(Clone, Debug, Default)]
struct Sim(Arc<Mutex<Disk>>);

impl Sim {
    fn with<R>(&self, f: impl FnOnce(&mut Disk) -> R) -> R {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Counts one mutating operation; fails from the stop on.
    fn step(&self) -> io::Result<()> {
        self.with(|d| {
            d.ops += 1;
            if d.stop_at == Some(d.ops) {
                d.stopped = true;
            }
            if d.stopped { Err(io::Error::other("simulated crash")) } else { Ok(()) }
        })
    }

    /// A disk holding `image` (database, log), with no stop.
    fn from_image(image: &(Vec<u8>, Vec<u8>)) -> Sim {
        let sim = Sim::default();
        sim.with(|d| {
            for (file, bytes) in d.files.iter_mut().zip([&image.0, &image.1]) {
                file.now.clone_from(bytes);
                file.synced.clone_from(bytes);
            }
        });
        sim
    }

    /// What survives: synced bytes only (power loss), or all written bytes
    /// (a killed process).
    fn image(&self, power_loss: bool) -> (Vec<u8>, Vec<u8>) {
        self.with(|d| {
            let pick = |f: &SimFile| if power_loss { f.synced.clone() } else { f.now.clone() };
            (pick(&d.files[0]), pick(&d.files[1]))
        })
    }

    fn read(&self, which: usize, at: u64, out: &mut [u8]) -> io::Result<()> {
        self.with(|d| {
            let file = &d.files[which].now;
            let at = at as usize;
            let bytes = file
                .get(at..at + out.len())
                .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "read past the end"))?;
            out.copy_from_slice(bytes);
            Ok(())
        })
    }
}

/// The database file on the simulated disk.
#[derive(Debug)]
struct SimDb(Sim);

impl redb::StorageBackend for SimDb {
    fn len(&self) -> io::Result<u64> {
        Ok(self.0.with(|d| d.files[0].now.len() as u64))
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        self.0.read(0, offset, out)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.0.step()?;
        self.0.with(|d| d.files[0].set_len(len as usize));
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        self.0.step()?;
        self.0.with(|d| d.files[0].sync());
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.0.step()?;
        self.0.with(|d| d.files[0].write(offset as usize, data));
        Ok(())
    }
}

/// The log on the simulated disk.
#[derive(Debug)]
struct SimLog(Sim);

impl LogIo for SimLog {
    fn len(&mut self) -> io::Result<u64> {
        Ok(self.0.with(|d| d.files[1].now.len() as u64))
    }

    fn read_at(&mut self, at: u64, max: u64) -> io::Result<Vec<u8>> {
        Ok(self.0.with(|d| {
            let file = &d.files[1].now;
            let start = (at as usize).min(file.len());
            let end = start.saturating_add(max as usize).min(file.len());
            file[start..end].to_vec()
        }))
    }

    fn write_at(&mut self, at: u64, data: &[u8]) -> io::Result<()> {
        self.0.step()?;
        self.0.with(|d| d.files[1].write(at as usize, data));
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        self.0.step()?;
        self.0.with(|d| d.files[1].sync());
        Ok(())
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.0.step()?;
        self.0.with(|d| d.files[1].set_len(len as usize));
        Ok(())
    }
}

fn open(sim: &Sim, durability: Durability) -> cachestore_core::Result<RedbStore> {
    RedbStore::builder("simulated.redb")
        .durability(durability)
        .open_on(SimDb(sim.clone()), Box::new(SimLog(sim.clone())))
}

type Rows = BTreeMap<(String, String), Vec<u8>>;

/// The workload: every kind of write, enough of them for a checkpoint by
/// record count (over 128 records) and one by `flush`. Each step changes
/// the model the same way it changes the store.
#[derive(Clone, Debug)]
enum Step {
    Set(&'static str, String, Vec<u8>),
    SetMany(Vec<(&'static str, String, Vec<u8>)>),
    Delete(&'static str, String),
    Clear(&'static str),
    Flush,
}

fn workload() -> Vec<Step> {
    let payload = |i: usize| format!("v{i}-").repeat(1 + i % 5).into_bytes();
    let mut steps = Vec::new();
    for i in 0..150 {
        let ns = ["a", "b"][i % 2];
        let key = format!("k{}", i % 11);
        steps.push(match i {
            70 => Step::Flush,
            100 => Step::Clear("b"),
            _ if i % 10 == 3 => Step::SetMany(
                (0..3).map(|j| (ns, format!("m{}", (i + j) % 7), payload(i + j))).collect(),
            ),
            _ if i % 10 == 7 => Step::Delete(ns, key),
            _ => Step::Set(ns, key, payload(i)),
        });
    }
    steps
}

fn apply(rows: &mut Rows, step: &Step) {
    match step {
        Step::Set(ns, key, v) => {
            rows.insert(((*ns).into(), key.clone()), v.clone());
        }
        Step::SetMany(items) => {
            for (ns, key, v) in items {
                rows.insert(((*ns).into(), key.clone()), v.clone());
            }
        }
        Step::Delete(ns, key) => {
            rows.remove(&((*ns).to_owned(), key.clone()));
        }
        Step::Clear(ns) => rows.retain(|(n, _), _| n != ns),
        Step::Flush => {}
    }
}

async fn run(store: &RedbStore, step: &Step) -> cachestore_core::Result<()> {
    let forever = SetOptions::new;
    match step {
        Step::Set(ns, key, v) => store.set(ns, key, Bytes::from(v.clone()), forever()).await,
        Step::SetMany(items) => {
            let items = items
                .iter()
                .map(|(ns, key, v)| {
                    SetItem::new(*ns, key.clone(), Bytes::from(v.clone()), forever())
                })
                .collect();
            store.set_many(items).await
        }
        Step::Delete(ns, key) => store.delete(ns, key).await.map(drop),
        Step::Clear(ns) => store.clear_namespace(ns).await.map(drop),
        Step::Flush => store.flush().await,
    }
}

async fn rows_of(store: &RedbStore) -> Rows {
    let mut rows = Rows::new();
    let mut after = None;
    loop {
        let page = store.scan(None, after.as_ref(), 1_000).await.expect("scan");
        for item in page.items {
            rows.insert((item.namespace, item.key), item.entry.payload.to_vec());
        }
        match page.next {
            Some(next) => after = Some(next),
            None => return rows,
        }
    }
}

/// Runs the workload on a disk that stops at operation `stop_at`; returns
/// how many steps were acknowledged, what a reader saw after the first
/// failure (if the store still answered), and the disk.
async fn crashed_run(
    base: &(Vec<u8>, Vec<u8>),
    stop_at: Option<u64>,
) -> (usize, Option<Rows>, Sim) {
    let sim = Sim::from_image(base);
    sim.with(|d| d.stop_at = stop_at);
    let Ok(store) = open(&sim, Durability::Immediate) else { return (0, None, sim) };
    let mut acked = 0;
    let mut seen = None;
    for step in &workload() {
        if run(&store, step).await.is_err() {
            // What readers see now must survive the crash: a write visible
            // before it was durable would be seen here and lost below.
            seen = try_rows_of(&store).await;
            break;
        }
        acked += 1;
    }
    // The process is gone: nothing it does on the way out reaches the disk.
    sim.with(|d| d.stopped = true);
    drop(store);
    (acked, seen, sim)
}

async fn try_rows_of(store: &RedbStore) -> Option<Rows> {
    let page = store.scan(None, None, usize::MAX).await.ok()?;
    Some(page.items.into_iter().map(|i| ((i.namespace, i.key), i.entry.payload.to_vec())).collect())
}

/// A new, empty store's files, made without faults.
fn empty_image() -> (Vec<u8>, Vec<u8>) {
    let sim = Sim::default();
    drop(open(&sim, Durability::Immediate).expect("a new store on the simulated disk"));
    sim.image(true)
}

#[tokio::test(flavor = "current_thread")]
async fn every_crash_point_keeps_every_acknowledged_write() {
    let base = empty_image();
    let steps = workload();
    let mut states = vec![Rows::new()];
    for step in &steps {
        let mut next = states.last().cloned().unwrap_or_default();
        apply(&mut next, step);
        states.push(next);
    }
    // How many operations the whole workload takes, opening included.
    let (all, _, sim) = crashed_run(&base, None).await;
    assert_eq!(all, steps.len(), "the workload does not complete without a crash");
    let total_ops = sim.with(|d| d.ops);
    let mut checked = 0;
    for stop_at in 1..=total_ops {
        let (acked, seen, sim) = crashed_run(&base, Some(stop_at)).await;
        for power_loss in [true, false] {
            let image = sim.image(power_loss);
            let reopened = Sim::from_image(&image);
            let store = open(&reopened, Durability::Immediate).unwrap_or_else(|e| {
                panic!("stop at op {stop_at} (power loss {power_loss}): no reopen: {e}")
            });
            let rows = rows_of(&store).await;
            // Every acknowledged step, and maybe the one in flight.
            let ok = rows == states[acked] || states.get(acked + 1).is_some_and(|s| *s == rows);
            assert!(
                ok,
                "stop at op {stop_at} of {total_ops} (power loss {power_loss}), {acked} steps \
                 acknowledged: the reopened store holds neither state {acked} nor {}",
                acked + 1
            );
            if let Some(seen) = &seen {
                assert!(
                    *seen == states[acked] || *seen == rows,
                    "stop at op {stop_at} (power loss {power_loss}): a reader saw the write in \
                     flight, and the crash took it back"
                );
            }
            store.integrity_check().await.expect("sound after the crash");
            checked += 1;
        }
    }
    println!("{checked} crash images over {total_ops} operations: every one reopened whole");
}
