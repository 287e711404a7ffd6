//! File handling shared by the file-based backends: private modes, no
//! symlinks, and moving a damaged file aside instead of deleting it.

use std::fs::{self, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// How a store's path looks before the engine opens it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathState {
    /// Nothing there, or an empty file: a new store.
    New,
    /// A non-empty regular file.
    Existing,
}

/// Reads into `buf` until it is full or the input ends; returns how many
/// bytes were read (fewer than `buf.len()` only at the end of the input).
/// For reading a file's fixed header, which may be shorter than asked.
pub fn read_up_to(input: &mut impl io::Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut read = 0;
    while read < buf.len() {
        match input.read(&mut buf[read..]) {
            Ok(0) => break,
            Ok(n) => read += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(read)
}

/// Looks at `path` without following links: a symbolic link is refused
/// ([`Error::Config`]), anything but a regular file is
/// [`Error::Incompatible`].
pub fn check_path(path: &Path) -> Result<PathState> {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(PathState::New),
        Err(e) => return Err(Error::io(format!("reading {}", path.display()), e)),
    };
    if meta.file_type().is_symlink() {
        return Err(Error::Config {
            message: format!(
                "{} is a symbolic link; cachestore does not follow links to database files \
                 (a link could point the cache at another file). Pass the link's target instead",
                path.display()
            ),
        });
    }
    if !meta.is_file() {
        return Err(Error::Incompatible { path: path.into(), detail: "not a regular file".into() });
    }
    Ok(if meta.len() == 0 { PathState::New } else { PathState::Existing })
}

/// Creates `path` if missing, mode 0600 on Unix, and its missing parent
/// directories, mode 0700. An existing file is left as it is.
pub fn create_private_file(path: &Path) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
        && !parent.exists()
    {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(parent)
            .map_err(|e| Error::io(format!("creating directory {}", parent.display()), e))?;
    }
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map_err(|e| Error::io(format!("creating {}", path.display()), e))?;
    Ok(())
}

/// Syncs the directory holding `path`, so that a file just created, linked or
/// renamed there survives a power loss. A no-op where directories cannot be
/// opened (not Unix).
pub fn sync_parent(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        fs::File::open(parent)
            .and_then(|dir| dir.sync_all())
            .map_err(|e| Error::io(format!("syncing directory {}", parent.display()), e))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Whether `file` (an open handle) is the file at `path` now: not replaced
/// or moved since it was opened. On other systems than Unix, always true.
pub fn is_same_file(file: &fs::File, path: &Path) -> Result<bool> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let held = file.metadata().map_err(|e| Error::io("reading an open file", e))?;
        match fs::symlink_metadata(path) {
            Ok(now) => Ok(now.dev() == held.dev() && now.ino() == held.ino()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::io(format!("reading {}", path.display()), e)),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (file, path);
        Ok(true)
    }
}

/// The bytes on disk of the store file at `path` and its `companions`
/// (suffixes such as `-wal`); files that are not there count 0.
pub fn disk_bytes(path: &Path, companions: &[&str]) -> u64 {
    let size = |p: &Path| fs::metadata(p).map_or(0, |m| m.len());
    size(path) + companions.iter().map(|c| size(&sidecar(path, c))).sum::<u64>()
}

/// `path` with `suffix` appended (`-wal`, `.corrupt-1`, …).
pub fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Moves a damaged file, and its companions named `path` + each of
/// `companions`, aside as `<path>.corrupt-<stamp>`; returns the new path of
/// the main file. Nothing is deleted.
pub fn move_aside(path: &Path, stamp: i64, companions: &[&str]) -> Result<PathBuf> {
    let target = sidecar(path, &format!(".corrupt-{stamp}"));
    for suffix in std::iter::once(&"").chain(companions) {
        let from = sidecar(path, suffix);
        if from.exists() {
            let to = sidecar(&target, suffix);
            fs::rename(&from, &to).map_err(|e| {
                Error::io(format!("moving {} aside to {}", from.display(), to.display()), e)
            })?;
        }
    }
    Ok(target)
}

/// The first bytes of the databases a cachestore file may be mistaken for.
const SQLITE_MAGIC: &[u8] = b"SQLite format 3\0";
const REDB_MAGIC: &[u8] = &[b'r', b'e', b'd', b'b', 0x1A, 0x0A, 0xA9, 0x0D, 0x0A];
const WAL_MAGIC: &[u8] = b"cachestore-wal1\n";

/// What a file that is not the backend's own appears to be, judged from its
/// first bytes (`head`, up to 4 KiB): another backend's database, a
/// cachestore log, a common file format or text. `None` when nothing is
/// recognised, or when `head` is a cut start of a database (damage, not
/// another file). A backend says what the file is (an
/// [`Error::Incompatible`], left untouched) rather than call a healthy file
/// of another kind damaged, which would invite moving it aside.
pub fn identify(head: &[u8]) -> Option<&'static str> {
    const KINDS: [(&[u8], &str); 9] = [
        (SQLITE_MAGIC, "a SQLite database (cachestore opens its own as sqlite://PATH)"),
        (REDB_MAGIC, "a redb database (cachestore opens its own as redb://PATH)"),
        (WAL_MAGIC, "a cachestore redb write-ahead log (open the database beside it)"),
        (b"\x89PNG\r\n\x1a\n", "a PNG image"),
        (b"PK\x03\x04", "a ZIP archive"),
        (b"\x1f\x8b", "a gzip file"),
        (b"%PDF-", "a PDF document"),
        (b"\x7fELF", "an executable (ELF)"),
        (b"\xef\xbb\xbf", "a text file"),
    ];
    for (magic, what) in KINDS {
        if head.starts_with(magic) {
            return Some(what);
        }
    }
    // A database cut inside its first bytes is damage.
    if [SQLITE_MAGIC, REDB_MAGIC, WAL_MAGIC].iter().any(|m| m.starts_with(head)) {
        return None;
    }
    let text = match std::str::from_utf8(head) {
        Ok(text) => text,
        // A character cut at the end of `head` is still text.
        Err(e) if e.error_len().is_none() => std::str::from_utf8(&head[..e.valid_up_to()]).ok()?,
        Err(_) => return None,
    };
    let printable = text.chars().all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r'));
    (!head.is_empty() && printable).then_some("a text file")
}

/// An [`Error::Incompatible`] for a file that [`identify`] recognised as
/// `what`, which the backend `ours` (e.g. "SQLite") does not open.
pub fn not_ours(path: &Path, what: &str, ours: &str) -> Error {
    Error::Incompatible {
        path: path.into(),
        detail: format!(
            "{what}, not a cachestore {ours} file; it was left untouched. Use another path for \
             the cache"
        ),
    }
}

/// An [`Error::Corrupt`] for a file.
pub fn corrupt(path: &Path, detail: impl Into<String>) -> Error {
    Error::Corrupt { location: path.display().to_string(), detail: detail.into(), source: None }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory of this test process's own under the system's temp dir.
    fn scratch(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("cachestore-{name}-{}", std::process::id()))
    }

    #[test]
    fn files_are_told_apart_from_damage() {
        assert!(identify(b"SQLite format 3\0\x10\x00").is_some_and(|w| w.contains("SQLite")));
        assert!(identify(&[b'r', b'e', b'd', b'b', 0x1A, 0x0A, 0xA9, 0x0D, 0x0A, 0]).is_some());
        assert_eq!(identify(b"dear diary\n"), Some("a text file"));
        assert_eq!(identify("{\"ключ\": 1}\n".as_bytes()), Some("a text file"));
        assert_eq!(identify(b"\x89PNG\r\n\x1a\n...."), Some("a PNG image"));
        assert_eq!(identify(b"hello"), Some("a text file"));
        let cut = "ключ".as_bytes();
        assert_eq!(
            identify(&cut[..cut.len() - 1]),
            Some("a text file"),
            "a character cut at the end"
        );
        // Cut starts of a database, random bytes, nothing: damage.
        for damage in [&b"SQLite"[..], b"SQLite format", b"redb", b"\x00\x01\xfe\xffabcdefgh", b""]
        {
            assert_eq!(identify(damage), None, "{damage:?}");
        }
    }

    #[test]
    fn move_aside_keeps_every_byte() {
        let dir = scratch("files");
        let path = dir.join("a/b/db");
        create_private_file(&path).expect("create");
        fs::write(&path, b"damaged").expect("write");
        fs::write(sidecar(&path, "-wal"), b"log").expect("write");
        assert_eq!(check_path(&path).expect("check"), PathState::Existing);
        let moved = move_aside(&path, 42, &["-wal", "-shm"]).expect("move");
        assert_eq!(fs::read(&moved).expect("moved"), b"damaged");
        assert_eq!(fs::read(sidecar(&moved, "-wal")).expect("moved wal"), b"log");
        assert_eq!(check_path(&path).expect("check"), PathState::New);
        fs::remove_dir_all(&dir).expect("cleanup");
    }

    /// Hands out at most two bytes per read, and fails once with
    /// `Interrupted` first, as a pipe or a signal may.
    struct Trickle<'a> {
        data: &'a [u8],
        interrupted: bool,
    }

    impl io::Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if buf.is_empty() {
                return Err(io::Error::other("asked for nothing: the buffer was already full"));
            }
            if !self.interrupted {
                self.interrupted = true;
                return Err(io::ErrorKind::Interrupted.into());
            }
            let n = buf.len().min(2).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    #[test]
    fn read_up_to_fills_through_short_and_interrupted_reads() {
        let mut buf = [0u8; 5];
        let mut input = Trickle { data: b"abcdefgh", interrupted: false };
        assert_eq!(read_up_to(&mut input, &mut buf).expect("read"), 5);
        assert_eq!(&buf, b"abcde");
        assert_eq!(input.data, b"fgh", "nothing read past the buffer");
        let mut short = Trickle { data: b"xyz", interrupted: false };
        let mut buf = [0u8; 8];
        assert_eq!(read_up_to(&mut short, &mut buf).expect("read"), 3);
        assert_eq!(&buf[..3], b"xyz");
        let mut failing = Trickle { data: b"", interrupted: true };
        assert_eq!(read_up_to(&mut failing, &mut []).expect("empty buffer"), 0);
    }

    #[test]
    fn a_replaced_file_is_not_the_same_file() {
        let dir = scratch("same");
        let path = dir.join("db");
        create_private_file(&path).expect("create");
        let held = fs::File::open(&path).expect("open");
        assert!(is_same_file(&held, &path).expect("same"));
        fs::rename(&path, dir.join("moved")).expect("move");
        assert!(!is_same_file(&held, &path).expect("gone"), "nothing at the path");
        fs::write(&path, b"another").expect("replace");
        assert!(!is_same_file(&held, &path).expect("replaced"), "another file at the path");
        assert!(is_same_file(&held, &path.join("x")).is_err(), "a path through a file fails");
        fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn disk_bytes_add_up_the_file_and_its_companions() {
        let dir = scratch("bytes");
        fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("db");
        fs::write(&path, [0u8; 300]).expect("write");
        fs::write(sidecar(&path, "-wal"), [0u8; 20]).expect("write");
        assert_eq!(disk_bytes(&path, &["-wal", "-shm"]), 320, "a missing -shm counts 0");
        assert_eq!(disk_bytes(&path, &[]), 300);
        assert_eq!(disk_bytes(&dir.join("none"), &["-wal"]), 0);
        sync_parent(&path).expect("a directory that exists syncs");
        assert!(sync_parent(&dir.join("no/such/db")).is_err(), "a missing directory is an error");
        fs::remove_dir_all(&dir).expect("cleanup");
    }
}
