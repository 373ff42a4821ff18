//! `switchboard keygen`: the key pair and certificate, written to files, for admins who manage
//! keys outside the console (the console's Generate New Key Pair does the same in the data dir).

use anyhow::{Context, bail};
use secrecy::ExposeSecret;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use switchboard_core::Timestamp;
use switchboard_core::office365::CertificateInfo;
use switchboard_core::ports::CertificateFactory;
use switchboard_graph::RcgenCertificateFactory;

pub async fn run(out: &Path, subject: &str, validity_days: u32) -> anyhow::Result<CertificateInfo> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let cert_path = out.join("public_key.pem");
    let key_path = out.join("private_key.pem");
    for p in [&cert_path, &key_path] {
        if p.exists() {
            bail!(
                "{} already exists: move it away first (keygen never overwrites a key)",
                p.display()
            );
        }
    }
    let generated = RcgenCertificateFactory
        .generate(subject, Timestamp::now(), validity_days)
        .await?;
    let mut key_file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&key_path)
        .with_context(|| format!("creating {}", key_path.display()))?;
    key_file.write_all(generated.private_key_pem.expose_secret().as_bytes())?;
    key_file.sync_all()?;
    std::fs::write(&cert_path, &generated.certificate_pem)
        .with_context(|| format!("writing {}", cert_path.display()))?;
    Ok(generated.info)
}
