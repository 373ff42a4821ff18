//! [`FileKeyVault`]: private keys as `{uuid}.key` files (mode 0600) in a directory (mode 0700).
//! Key material is never logged; errors name files, never their content.

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use std::io::Write;
use std::path::{Path, PathBuf};
use switchboard_core::ports::{KeyVault, VaultError};
use uuid::Uuid;

const SUFFIX: &str = ".key";

/// A directory of private-key files. The `key_ref` kept in the database is the bare file name.
#[derive(Debug, Clone)]
pub struct FileKeyVault {
    dir: PathBuf,
}

impl FileKeyVault {
    /// Uses `dir`, creating it (and missing parents) with mode 0700 when it does not exist. An
    /// existing directory is used as it is; a warning is logged if others can read it.
    pub fn new(dir: PathBuf) -> Result<Self, VaultError> {
        match std::fs::metadata(&dir) {
            Ok(meta) if meta.is_dir() => warn_if_open(&dir, &meta),
            Ok(_) => {
                return Err(VaultError::Io(format!(
                    "{} exists and is not a directory",
                    dir.display()
                )));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => create_private_dir(&dir)?,
            Err(e) => return Err(VaultError::Io(format!("reading {}: {e}", dir.display()))),
        }
        Ok(Self { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file behind `key_ref`, if `key_ref` is one this vault could have handed out
    /// (a lower-case hyphenated UUID followed by `.key`; nothing else, so no path traversal).
    fn path_of(&self, key_ref: &str) -> Result<PathBuf, VaultError> {
        if is_key_ref(key_ref) {
            Ok(self.dir.join(key_ref))
        } else {
            Err(VaultError::Io(format!(
                "invalid key reference {key_ref:?}: expected <uuid>.key"
            )))
        }
    }
}

fn is_key_ref(key_ref: &str) -> bool {
    key_ref
        .strip_suffix(SUFFIX)
        .is_some_and(|stem| Uuid::try_parse(stem).is_ok_and(|u| u.hyphenated().to_string() == stem))
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> Result<(), VaultError> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .and_then(|()| std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)))
        .map_err(|e| VaultError::Io(format!("creating {}: {e}", dir.display())))
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> Result<(), VaultError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| VaultError::Io(format!("creating {}: {e}", dir.display())))
}

#[cfg(unix)]
fn warn_if_open(dir: &Path, meta: &std::fs::Metadata) {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        tracing::warn!(
            dir = %dir.display(),
            mode = format!("{mode:o}"),
            "the key directory is accessible to other users; chmod 700 it"
        );
    }
}

#[cfg(not(unix))]
fn warn_if_open(_dir: &Path, _meta: &std::fs::Metadata) {}

#[cfg(unix)]
fn create_private_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    // The umask can only remove bits; make the mode exact anyway.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    Ok(file)
}

#[cfg(not(unix))]
fn create_private_file(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

/// Writes `dir/name` so that it appears whole or not at all: a 0600 temp file in the same
/// directory, fsync, rename, fsync of the directory.
fn write_atomically(dir: &Path, name: &str, content: &[u8]) -> Result<(), VaultError> {
    let target = dir.join(name);
    let temp = dir.join(format!(".{name}.tmp"));
    let io = |what: &str, path: &Path, e: std::io::Error| {
        VaultError::Io(format!("{what} {}: {e}", path.display()))
    };
    let written = create_private_file(&temp)
        .map_err(|e| io("creating", &temp, e))
        .and_then(|mut file| {
            file.write_all(content)
                .and_then(|()| file.sync_all())
                .map_err(|e| io("writing", &temp, e))
        })
        .and_then(|()| std::fs::rename(&temp, &target).map_err(|e| io("renaming", &temp, e)));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(e);
    }
    sync_dir(dir).map_err(|e| io("syncing", dir, e))
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> std::io::Result<()> {
    Ok(())
}

fn join_error(e: tokio::task::JoinError) -> VaultError {
    VaultError::Io(format!("key store task failed: {e}"))
}

#[async_trait]
impl KeyVault for FileKeyVault {
    async fn put(&self, private_key_pem: &SecretString) -> Result<String, VaultError> {
        let name = format!("{}{SUFFIX}", Uuid::new_v4().hyphenated());
        let dir = self.dir.clone();
        let key = private_key_pem.clone();
        let file_name = name.clone();
        tokio::task::spawn_blocking(move || {
            write_atomically(&dir, &file_name, key.expose_secret().as_bytes())
        })
        .await
        .map_err(join_error)??;
        tracing::debug!(key_ref = %name, "private key stored");
        Ok(name)
    }

    async fn get(&self, key_ref: &str) -> Result<SecretString, VaultError> {
        let path = self.path_of(key_ref)?;
        match tokio::fs::read_to_string(&path).await {
            Ok(pem) => Ok(SecretString::from(pem)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(VaultError::NotFound(key_ref.to_owned()))
            }
            Err(e) => Err(VaultError::Io(format!("reading {}: {e}", path.display()))),
        }
    }

    async fn delete(&self, key_ref: &str) -> Result<(), VaultError> {
        let path = self.path_of(key_ref)?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => {
                tracing::debug!(key_ref, "private key deleted");
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(VaultError::Io(format!("deleting {}: {e}", path.display()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_canonical_uuid_file_names_are_key_refs() {
        let id = Uuid::new_v4().hyphenated().to_string();
        assert!(is_key_ref(&format!("{id}.key")));
        for bad in [
            format!("{}.key", id.to_uppercase()),
            format!("{}.key", Uuid::new_v4().simple()),
            format!("../{id}.key"),
            format!("/{id}.key"),
            format!("{id}.key/"),
            format!("{id}.pem"),
            id.clone(),
            ".key".into(),
            "../../etc/passwd".into(),
            String::new(),
        ] {
            assert!(!is_key_ref(&bad), "{bad:?}");
        }
    }
}
