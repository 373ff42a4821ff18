//! FileKeyVault: file modes, atomic writes, round trip, no path traversal, idempotent delete.

use secrecy::{ExposeSecret, SecretString};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use switchboard_core::ports::{KeyVault, VaultError};
use switchboard_store::FileKeyVault;

const PEM: &str =
    "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n";

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn creates_a_private_directory_and_private_files() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("keys/nested");
    let vault = FileKeyVault::new(dir.clone()).unwrap();
    assert_eq!(vault.dir(), dir);
    assert!(dir.is_dir());
    assert_eq!(mode(&dir), 0o700);

    let key_ref = vault.put(&SecretString::from(PEM)).await.unwrap();
    let path = dir.join(&key_ref);
    assert!(path.is_file());
    assert_eq!(mode(&path), 0o600);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), PEM);
    // Only the key itself: no temp file left behind.
    assert_eq!(entries(&dir), vec![key_ref.clone()]);

    // The reference is a bare `{uuid}.key` file name.
    let stem = key_ref.strip_suffix(".key").unwrap();
    assert_eq!(
        uuid::Uuid::parse_str(stem)
            .unwrap()
            .hyphenated()
            .to_string(),
        stem
    );
}

#[tokio::test]
async fn round_trip_and_distinct_references() {
    let root = tempfile::tempdir().unwrap();
    let vault = FileKeyVault::new(root.path().to_path_buf()).unwrap();
    let a = vault.put(&SecretString::from(PEM)).await.unwrap();
    let b = vault.put(&SecretString::from("another key")).await.unwrap();
    assert_ne!(a, b);
    assert_eq!(vault.get(&a).await.unwrap().expose_secret(), PEM);
    assert_eq!(vault.get(&b).await.unwrap().expose_secret(), "another key");

    // A second vault on the same directory sees the same keys.
    let again = FileKeyVault::new(root.path().to_path_buf()).unwrap();
    assert_eq!(again.get(&a).await.unwrap().expose_secret(), PEM);
}

#[tokio::test]
async fn missing_key_is_not_found_and_delete_is_idempotent() {
    let root = tempfile::tempdir().unwrap();
    let vault = FileKeyVault::new(root.path().to_path_buf()).unwrap();
    let key_ref = vault.put(&SecretString::from(PEM)).await.unwrap();
    vault.delete(&key_ref).await.unwrap();
    assert!(!root.path().join(&key_ref).exists());
    vault.delete(&key_ref).await.unwrap();
    let err = vault.get(&key_ref).await.unwrap_err();
    assert!(
        matches!(&err, VaultError::NotFound(r) if *r == key_ref),
        "{err:?}"
    );
    assert!(entries(root.path()).is_empty());
}

#[tokio::test]
async fn references_outside_the_vault_are_rejected() {
    let root = tempfile::tempdir().unwrap();
    let keys = root.path().join("keys");
    let vault = FileKeyVault::new(keys.clone()).unwrap();
    // A file just outside the vault, with a name that would otherwise look valid.
    let outside_name = format!("{}.key", uuid::Uuid::new_v4().hyphenated());
    let outside = root.path().join(&outside_name);
    std::fs::write(&outside, "secret outside").unwrap();
    let upper = format!("{}.key", uuid::Uuid::new_v4().hyphenated()).to_uppercase();

    for bad in [
        format!("../{outside_name}"),
        outside.display().to_string(),
        "../../../../etc/passwd".to_owned(),
        "/etc/passwd".to_owned(),
        "key.pem".to_owned(),
        upper,
        String::new(),
    ] {
        let err = vault.get(&bad).await.expect_err(&bad);
        assert!(
            err.to_string().contains("invalid key reference"),
            "{bad}: {err}"
        );
        let err = vault.delete(&bad).await.expect_err(&bad);
        assert!(
            err.to_string().contains("invalid key reference"),
            "{bad}: {err}"
        );
    }
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "secret outside");
}

#[tokio::test]
async fn a_file_in_place_of_the_directory_is_an_error() {
    let root = tempfile::tempdir().unwrap();
    let file = root.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let err = FileKeyVault::new(file).unwrap_err();
    assert!(err.to_string().contains("not a directory"), "{err}");
}

#[tokio::test]
async fn debug_never_shows_key_material() {
    let root = tempfile::tempdir().unwrap();
    let vault = FileKeyVault::new(root.path().to_path_buf()).unwrap();
    vault.put(&SecretString::from(PEM)).await.unwrap();
    assert!(!format!("{vault:?}").contains("PRIVATE KEY"));
}
