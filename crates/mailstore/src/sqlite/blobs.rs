//! Message bodies as files: `blobs/ab/abcdef…` named by the SHA-256 of their content, written
//! through `blobs/tmp/` so a name only ever appears with its complete, fsynced content.
//!
//! Durable write order: temporary file, `fsync`, `rename` to the final name, `fsync` of the
//! fan-out directory. A body that is already present is not written again, but its directory
//! is still fsynced: another writer may have renamed it a moment ago without having synced
//! the directory yet. Everything here is blocking I/O; callers run it on the blocking pool.

use crate::sql::codec::valid_hash;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The `blobs/` directory.
#[derive(Debug, Clone)]
pub(super) struct BlobDir {
    root: PathBuf,
}

impl BlobDir {
    /// Creates `root`, `root/tmp` and the 256 fan-out directories (so a write never has to
    /// create, and then sync, a directory), and syncs them.
    pub fn create(root: &Path) -> io::Result<BlobDir> {
        fs::create_dir_all(root.join("tmp"))?;
        for i in 0..=255u8 {
            // Another process may be creating the same directories right now.
            match fs::create_dir(root.join(format!("{i:02x}"))) {
                Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
                _ => {}
            }
        }
        sync_dir(root)?;
        if let Some(parent) = root.parent() {
            sync_dir(parent)?;
        }
        Ok(BlobDir {
            root: root.to_owned(),
        })
    }

    pub fn path(&self, hash: &str) -> PathBuf {
        self.root.join(&hash[..2]).join(hash)
    }

    /// Makes the body durable under its hash (see the module doc for the order).
    pub fn write(&self, hash: &str, data: &[u8]) -> io::Result<()> {
        let dir = self.root.join(&hash[..2]);
        let path = dir.join(hash);
        if !path.exists() {
            let tmp = self
                .root
                .join("tmp")
                .join(format!("{hash}.{}", uuid::Uuid::new_v4().simple()));
            let written = (|| {
                let mut file = File::create(&tmp)?;
                file.write_all(data)?;
                file.sync_all()?;
                fs::rename(&tmp, &path)
            })();
            if let Err(e) = written {
                let _ = fs::remove_file(&tmp);
                return Err(e);
            }
        }
        sync_dir(&dir)
    }

    pub fn exists(&self, hash: &str) -> bool {
        self.path(hash).is_file()
    }

    pub fn remove(&self, hash: &str) -> io::Result<()> {
        match fs::remove_file(self.path(hash)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Body files (hash and length) of fan-out directory `fan` last modified at or before
    /// `cutoff`.
    pub fn scan_fanout(&self, fan: u8, cutoff: SystemTime) -> io::Result<Vec<(String, u64)>> {
        let mut found = Vec::new();
        for entry in fs::read_dir(self.root.join(format!("{fan:02x}")))? {
            let entry = entry?;
            let meta = entry.metadata()?;
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if meta.is_file() && valid_hash(&name) && meta.modified()? <= cutoff {
                found.push((name, meta.len()));
            }
        }
        Ok(found)
    }

    /// Temporary files last modified at or before `cutoff` (writes that never finished).
    pub fn scan_temporary(&self, cutoff: SystemTime) -> io::Result<Vec<PathBuf>> {
        let mut found = Vec::new();
        for entry in fs::read_dir(self.root.join("tmp"))? {
            let entry = entry?;
            let meta = entry.metadata()?;
            if meta.is_file() && meta.modified()? <= cutoff {
                found.push(entry.path());
            }
        }
        Ok(found)
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::codec::hash;

    #[test]
    fn hash_names() {
        let h = hash(b"hello");
        assert!(valid_hash(&h));
        assert!(!valid_hash(&h.to_uppercase()));
        assert!(!valid_hash("../../etc/passwd"));
        assert!(!valid_hash(&h[..63]));
    }

    #[test]
    fn write_is_idempotent_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = BlobDir::create(&dir.path().join("blobs")).unwrap();
        let h = hash(b"body");
        blobs.write(&h, b"body").unwrap();
        blobs.write(&h, b"body").unwrap();
        assert_eq!(fs::read(blobs.path(&h)).unwrap(), b"body");
        assert!(
            blobs
                .path(&h)
                .starts_with(dir.path().join("blobs").join(&h[..2]))
        );
        assert_eq!(
            fs::read_dir(dir.path().join("blobs/tmp")).unwrap().count(),
            0
        );
    }
}
