//! Sealing of secrets at rest (signing keys, TOTP secrets) with the instance master key.
//!
//! AES-256-GCM from aws-lc-rs with a fresh random 96-bit nonce per message; the sealed form
//! is `nonce (12 bytes) || ciphertext || tag (16 bytes)`. The master key lives in a 32-byte
//! file created with mode 0600 on first start ([`Sealer::load_or_create`]).

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use mailward_types::Secret;

/// Length of the master key file in bytes.
pub const KEY_LEN: usize = 32;
/// Length of the AES-GCM authentication tag appended to the ciphertext.
const TAG_LEN: usize = 16;

/// Encrypts and decrypts small blobs with the instance master key.
///
/// `Debug` never prints the key.
pub struct Sealer {
    /// `None` only if aws-lc-rs refused to set up AES-256-GCM with a 32-byte key, which it
    /// does not do in practice; every operation then fails with [`SealError::Key`].
    key: Option<RandomizedNonceKey>,
}

/// Why sealing, opening or loading the master key failed.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The input is shorter than a nonce plus a tag, so it cannot be a sealed value.
    #[error("sealed value is truncated ({len} bytes)")]
    Truncated { len: usize },
    /// Authentication failed: the value was tampered with or sealed under another key.
    #[error("sealed value failed authentication (tampered or sealed with another key)")]
    Decrypt,
    /// AES-GCM refused to encrypt (only for plaintexts beyond its 64 GiB limit).
    #[error("encryption failed")]
    Encrypt,
    /// The AEAD key could not be set up.
    #[error("cannot initialise AES-256-GCM with the master key")]
    Key,
    /// The operating system's random generator failed.
    #[error("random generator failed")]
    Random,
    /// The master key file exists but does not hold exactly 32 bytes.
    #[error("master key file {} holds {len} bytes, expected {KEY_LEN}", path.display())]
    KeyFileLength { path: PathBuf, len: usize },
    /// Reading or writing the master key file failed.
    #[error("master key file {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl SealError {
    /// A stable code for logs.
    pub fn code(&self) -> &'static str {
        match self {
            SealError::Truncated { .. } => "seal_truncated",
            SealError::Decrypt => "seal_decrypt",
            SealError::Encrypt => "seal_encrypt",
            SealError::Key => "seal_key",
            SealError::Random => "seal_random",
            SealError::KeyFileLength { .. } => "seal_key_file_length",
            SealError::Io { .. } => "seal_key_file_io",
        }
    }
}

impl Sealer {
    /// A sealer for the given 32-byte master key.
    pub fn new(key: Secret<[u8; KEY_LEN]>) -> Self {
        let key = RandomizedNonceKey::new(&AES_256_GCM, key.expose_secret()).ok();
        Sealer { key }
    }

    /// Reads the 32-byte master key at `path`, or creates it with random bytes and file mode
    /// 0600 if it does not exist. The parent directory must exist.
    ///
    /// Creation is atomic: the key is written to a temporary file beside `path` and then
    /// hard-linked into place, so a concurrent start or a crash never leaves a partial key,
    /// and a key created concurrently by another process wins over ours.
    pub fn load_or_create(path: &Path) -> Result<Self, SealError> {
        match fs::read(path) {
            Ok(bytes) => Self::from_file_bytes(path, &bytes),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Self::create(path),
            Err(source) => Err(SealError::Io {
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// Encrypts `plaintext`; the result is `nonce || ciphertext || tag`.
    ///
    /// Returns an empty vector (which [`Sealer::open`] rejects) only if encryption itself
    /// fails, which AES-GCM does only for inputs over 64 GiB; use [`Sealer::try_seal`] to see
    /// the error.
    pub fn seal(&self, plaintext: &[u8]) -> Vec<u8> {
        self.try_seal(plaintext).unwrap_or_default()
    }

    /// Like [`Sealer::seal`] but reports a failure instead of returning an empty vector.
    pub fn try_seal(&self, plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
        let key = self.key.as_ref().ok_or(SealError::Key)?;
        let mut in_out = Vec::with_capacity(plaintext.len() + TAG_LEN);
        in_out.extend_from_slice(plaintext);
        let nonce = key
            .seal_in_place_append_tag(Aad::empty(), &mut in_out)
            .map_err(|_| SealError::Encrypt)?;
        let mut sealed = Vec::with_capacity(NONCE_LEN + in_out.len());
        sealed.extend_from_slice(nonce.as_ref());
        sealed.extend_from_slice(&in_out);
        Ok(sealed)
    }

    /// Decrypts a value produced by [`Sealer::seal`]. Fails on truncated or tampered input
    /// and on a value sealed under another key.
    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, SealError> {
        let key = self.key.as_ref().ok_or(SealError::Key)?;
        if sealed.len() < NONCE_LEN + TAG_LEN {
            return Err(SealError::Truncated { len: sealed.len() });
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::Decrypt)?;
        let mut in_out = ciphertext.to_vec();
        let plaintext_len = key
            .open_in_place(nonce, Aad::empty(), &mut in_out)
            .map_err(|_| SealError::Decrypt)?
            .len();
        in_out.truncate(plaintext_len);
        Ok(in_out)
    }

    fn from_file_bytes(path: &Path, bytes: &[u8]) -> Result<Self, SealError> {
        let key: [u8; KEY_LEN] = bytes.try_into().map_err(|_| SealError::KeyFileLength {
            path: path.to_owned(),
            len: bytes.len(),
        })?;
        Ok(Self::new(Secret::new(key)))
    }

    fn create(path: &Path) -> Result<Self, SealError> {
        let io_err = |source| SealError::Io {
            path: path.to_owned(),
            source,
        };
        let mut key = [0u8; KEY_LEN];
        aws_lc_rs::rand::fill(&mut key).map_err(|_| SealError::Random)?;

        let tmp = temporary_sibling(path)?;
        let written = write_private_file(&tmp, &key).and_then(|()| fs::hard_link(&tmp, path));
        // The temporary name is only a staging area; failing to remove it is harmless.
        let _ = fs::remove_file(&tmp);
        match written {
            Ok(()) => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    // Make the new directory entry durable; not every platform supports this.
                    let _ = fs::File::open(parent).and_then(|d| d.sync_all());
                }
                Ok(Self::new(Secret::new(key)))
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                // Another process created the key first: use theirs.
                let bytes = fs::read(path).map_err(io_err)?;
                Self::from_file_bytes(path, &bytes)
            }
            Err(e) => Err(io_err(e)),
        }
    }
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealer")
            .field("alg", &"AES-256-GCM")
            .field("key", &"***")
            .finish()
    }
}

/// `path` with a random suffix, in the same directory (so a hard link can be made).
fn temporary_sibling(path: &Path) -> Result<PathBuf, SealError> {
    let mut suffix = [0u8; 8];
    aws_lc_rs::rand::fill(&mut suffix).map_err(|_| SealError::Random)?;
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp-");
    for b in suffix {
        name.push(format!("{b:02x}"));
    }
    Ok(path.with_file_name(name))
}

/// Creates `path` (which must not exist) readable and writable by the owner only.
fn write_private_file(path: &Path, contents: &[u8]) -> io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer(byte: u8) -> Sealer {
        Sealer::new(Secret::new([byte; KEY_LEN]))
    }

    #[test]
    fn round_trip_and_layout() {
        let s = sealer(1);
        for plaintext in [&b""[..], b"x", &[0u8; 1000]] {
            let sealed = s.seal(plaintext);
            assert_eq!(sealed.len(), NONCE_LEN + plaintext.len() + TAG_LEN);
            assert_eq!(s.open(&sealed).unwrap(), plaintext);
        }
    }

    #[test]
    fn nonces_differ() {
        let s = sealer(1);
        let a = s.seal(b"same");
        let b = s.seal(b"same");
        assert_ne!(a[..NONCE_LEN], b[..NONCE_LEN]);
        assert_ne!(a, b);
    }

    #[test]
    fn every_flipped_bit_is_detected() {
        let s = sealer(2);
        let sealed = s.seal(b"signing key material");
        for i in 0..sealed.len() {
            for bit in [0x01u8, 0x80] {
                let mut t = sealed.clone();
                t[i] ^= bit;
                assert!(matches!(s.open(&t), Err(SealError::Decrypt)), "byte {i}");
            }
        }
    }

    #[test]
    fn truncated_and_wrong_key_fail() {
        let s = sealer(3);
        let sealed = s.seal(b"abc");
        for len in 0..NONCE_LEN + TAG_LEN {
            assert!(matches!(
                s.open(&sealed[..len]),
                Err(SealError::Truncated { .. })
            ));
        }
        assert!(matches!(
            s.open(&sealed[..sealed.len() - 1]),
            Err(SealError::Decrypt)
        ));
        assert!(matches!(sealer(4).open(&sealed), Err(SealError::Decrypt)));
        assert!(s.open(&[]).is_err());
    }

    #[test]
    fn debug_does_not_show_key() {
        let text = format!("{:?}", sealer(0xAB));
        assert!(text.contains("***"));
        assert!(!text.to_ascii_lowercase().contains("ab, "));
        assert!(!text.contains("171"));
    }

    #[test]
    fn load_or_create_creates_then_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let first = Sealer::load_or_create(&path).unwrap();
        let bytes = fs::read(&path).unwrap();
        assert_eq!(bytes.len(), KEY_LEN);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let sealed = first.seal(b"persisted");
        let second = Sealer::load_or_create(&path).unwrap();
        assert_eq!(second.open(&sealed).unwrap(), b"persisted");
        // No staging files are left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn load_or_create_rejects_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        let short = dir.path().join("short.key");
        fs::write(&short, [0u8; 31]).unwrap();
        let err = Sealer::load_or_create(&short).unwrap_err();
        assert!(matches!(err, SealError::KeyFileLength { len: 31, .. }));
        assert_eq!(err.code(), "seal_key_file_length");

        let missing_parent = dir.path().join("nope").join("master.key");
        assert!(matches!(
            Sealer::load_or_create(&missing_parent),
            Err(SealError::Io { .. })
        ));
    }

    #[test]
    fn existing_key_file_is_used() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        fs::write(&path, [7u8; KEY_LEN]).unwrap();
        let loaded = Sealer::load_or_create(&path).unwrap();
        let sealed = sealer(7).seal(b"hello");
        assert_eq!(loaded.open(&sealed).unwrap(), b"hello");
    }
}
