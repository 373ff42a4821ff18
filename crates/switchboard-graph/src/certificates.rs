//! The key pair and self-signed certificate the admin uploads to the app registration
//! (graph-protocol.md §1.7: Entra supports only RSA; 2048 bits, SHA-256 signature), and the
//! thumbprints the client assertion names it by (§1.2).

use async_trait::async_trait;
use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jiff::Timestamp;
use rand::RngCore as _;
use secrecy::SecretString;
use switchboard_core::office365::{CertificateInfo, GeneratedCredential};
use switchboard_core::ports::{CertificateError, CertificateFactory};
use x509_parser::pem::Pem;
use x509_parser::prelude::{FromDer as _, X509Certificate};

/// Makes RSA-2048 key pairs and self-signed SHA-256 certificates with rcgen on aws-lc-rs.
#[derive(Debug, Default, Clone, Copy)]
pub struct RcgenCertificateFactory;

impl RcgenCertificateFactory {
    pub fn new() -> Self {
        Self
    }
}

#[async_trait]
impl CertificateFactory for RcgenCertificateFactory {
    async fn generate(
        &self,
        subject: &str,
        not_before: Timestamp,
        validity_days: u32,
    ) -> Result<GeneratedCredential, CertificateError> {
        let subject = subject.to_owned();
        // RSA key generation takes tens to hundreds of milliseconds: keep it off the runtime.
        tokio::task::spawn_blocking(move || generate_blocking(&subject, not_before, validity_days))
            .await
            .map_err(|e| CertificateError(format!("key generation task failed: {e}")))?
    }
}

fn generate_blocking(
    subject: &str,
    not_before: Timestamp,
    validity_days: u32,
) -> Result<GeneratedCredential, CertificateError> {
    let subject = subject.trim();
    if subject.is_empty() {
        return Err(CertificateError("the certificate subject is empty".into()));
    }
    if validity_days == 0 {
        return Err(CertificateError(
            "the validity must be at least one day".into(),
        ));
    }
    let not_after = not_before
        .checked_add(jiff::SignedDuration::from_hours(
            24 * i64::from(validity_days),
        ))
        .map_err(|_| CertificateError(format!("{validity_days} days of validity is too long")))?;

    let key_pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256)
        .map_err(|e| CertificateError(format!("RSA key generation failed: {e}")))?;

    let mut params = rcgen::CertificateParams::default();
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, subject);
    params.distinguished_name = dn;
    set_validity(&mut params, not_before, not_after)?;
    params.serial_number = Some(random_serial());
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];

    let certificate = params
        .self_signed(&key_pair)
        .map_err(|e| CertificateError(format!("self-signing failed: {e}")))?;
    let info = info_from_der(certificate.der())?;
    Ok(GeneratedCredential {
        certificate_pem: certificate.pem(),
        // rcgen writes the aws-lc key as PKCS#8 ("BEGIN PRIVATE KEY").
        private_key_pem: SecretString::from(key_pair.serialize_pem()),
        info,
    })
}

/// rcgen takes `time::OffsetDateTime`, built here as epoch + seconds so that this crate need not
/// depend on `time`. X.509 validity has whole seconds, so fractions are dropped.
fn set_validity(
    params: &mut rcgen::CertificateParams,
    not_before: Timestamp,
    not_after: Timestamp,
) -> Result<(), CertificateError> {
    let seconds = |ts: Timestamp| {
        u64::try_from(ts.as_second())
            .map(std::time::Duration::from_secs)
            .map_err(|_| CertificateError(format!("{ts} is before 1970")))
    };
    // Both are at most jiff's maximum (year 9999), which `time` also represents.
    params.not_before = rcgen::date_time_ymd(1970, 1, 1) + seconds(not_before)?;
    params.not_after = rcgen::date_time_ymd(1970, 1, 1) + seconds(not_after)?;
    Ok(())
}

/// 16 random bytes, positive (high bit clear) and without a leading zero byte, so that the DER
/// INTEGER is exactly 16 bytes long (RFC 5280 allows up to 20).
fn random_serial() -> rcgen::SerialNumber {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    rcgen::SerialNumber::from_slice(&bytes)
}

/// Reads the public facts of the first `CERTIFICATE` block in a PEM text (other blocks, such as a
/// private key in the same file, are skipped and never parsed).
pub fn inspect_certificate(pem: &str) -> Result<CertificateInfo, CertificateError> {
    for block in Pem::iter_from_buffer(pem.as_bytes()) {
        let block = block.map_err(|e| CertificateError(format!("not a valid PEM file: {e}")))?;
        if block.label == "CERTIFICATE" {
            return info_from_der(&block.contents);
        }
    }
    Err(CertificateError(
        "no \"-----BEGIN CERTIFICATE-----\" block found".into(),
    ))
}

/// Public facts of a DER certificate: subject, validity and the thumbprints Entra uses.
pub fn info_from_der(der: &[u8]) -> Result<CertificateInfo, CertificateError> {
    let (_, cert) = X509Certificate::from_der(der)
        .map_err(|e| CertificateError(format!("not a valid X.509 certificate: {e}")))?;
    let validity = cert.validity();
    let not_before = Timestamp::from_second(validity.not_before.timestamp())
        .map_err(|e| CertificateError(format!("notBefore out of range: {e}")))?;
    let not_after = Timestamp::from_second(validity.not_after.timestamp())
        .map_err(|e| CertificateError(format!("notAfter out of range: {e}")))?;
    let thumbprints = Thumbprints::of(der);
    Ok(CertificateInfo {
        subject: cert.subject().to_string(),
        thumbprint_sha1: thumbprints.sha1_hex(),
        thumbprint_sha256: thumbprints.sha256_hex(),
        x5t: thumbprints.x5t(),
        x5t_s256: thumbprints.x5t_s256(),
        not_before,
        not_after,
    })
}

/// SHA-1 and SHA-256 of a DER certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thumbprints {
    pub sha1: Vec<u8>,
    pub sha256: Vec<u8>,
}

impl Thumbprints {
    pub fn of(der: &[u8]) -> Self {
        Self {
            sha1: digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, der)
                .as_ref()
                .to_vec(),
            sha256: digest::digest(&digest::SHA256, der).as_ref().to_vec(),
        }
    }
    /// Upper-case hex, as the Azure portal shows it.
    pub fn sha1_hex(&self) -> String {
        upper_hex(&self.sha1)
    }
    pub fn sha256_hex(&self) -> String {
        upper_hex(&self.sha256)
    }
    /// The raw hash bytes base64url-encoded without padding (RFC 7515 §4.1.7; §1.2 notes the
    /// doc example keeps `=` padding, but JWS and MSAL do not).
    pub fn x5t(&self) -> String {
        URL_SAFE_NO_PAD.encode(&self.sha1)
    }
    pub fn x5t_s256(&self) -> String {
        URL_SAFE_NO_PAD.encode(&self.sha256)
    }
}

fn upper_hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02X}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;
    use secrecy::ExposeSecret as _;

    /// DER from the PEM text by hand, so the check does not reuse the parser under test.
    fn der_of(pem: &str) -> Vec<u8> {
        let body: String = pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect::<Vec<_>>()
            .concat();
        STANDARD.decode(body).expect("base64 PEM body")
    }

    fn hex_decode(hex: &str) -> Vec<u8> {
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
            .collect()
    }

    #[test]
    fn x5t_of_the_documented_example() {
        // E-cert-old: SHA-1 84E05C1D… → x5t hOBcHZi846VCHSJbFAs26Go9VTQ= (emitted unpadded).
        let t = Thumbprints {
            sha1: hex_decode("84E05C1D98BCE3A5421D225B140B36E86A3D5534"),
            sha256: Vec::new(),
        };
        assert_eq!(t.x5t(), "hOBcHZi846VCHSJbFAs26Go9VTQ");
        assert_eq!(t.sha1_hex(), "84E05C1D98BCE3A5421D225B140B36E86A3D5534");
    }

    #[tokio::test]
    async fn generates_rsa_2048_self_signed_with_matching_thumbprints() {
        let not_before: Timestamp = "2026-03-01T10:20:30.5Z".parse().expect("ts");
        let generated = RcgenCertificateFactory::new()
            .generate("Switchboard Test", not_before, 730)
            .await
            .expect("generate");
        let info = &generated.info;
        assert_eq!(info.subject, "CN=Switchboard Test");
        assert_eq!(
            info.not_before,
            "2026-03-01T10:20:30Z".parse::<Timestamp>().expect("ts")
        );
        assert_eq!(
            info.not_after,
            "2028-02-29T10:20:30Z".parse::<Timestamp>().expect("ts")
        );

        // Independent computation: hand-decoded DER, aws-lc digests, own hex and base64url.
        let der = der_of(&generated.certificate_pem);
        let sha1 = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, &der);
        let sha256 = digest::digest(&digest::SHA256, &der);
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02X}")).collect::<String>();
        assert_eq!(info.thumbprint_sha1, hex(sha1.as_ref()));
        assert_eq!(info.thumbprint_sha256, hex(sha256.as_ref()));
        assert_eq!(info.thumbprint_sha1.len(), 40);
        assert_eq!(info.thumbprint_sha256.len(), 64);
        assert_eq!(
            STANDARD
                .decode(format!("{}=", info.x5t.replace('-', "+").replace('_', "/")))
                .expect("x5t"),
            sha1.as_ref()
        );
        assert_eq!(
            URL_SAFE_NO_PAD.decode(&info.x5t_s256).expect("x5t#S256"),
            sha256.as_ref()
        );
        assert!(!info.x5t.contains('='));

        // inspect_certificate reads the same facts back, also with a key block in front.
        let key = generated.private_key_pem.expose_secret();
        assert!(
            key.starts_with("-----BEGIN PRIVATE KEY-----"),
            "PKCS#8 expected"
        );
        let combined = format!("{key}\n{}", generated.certificate_pem);
        assert_eq!(&inspect_certificate(&combined).expect("inspect"), info);

        let (_, cert) = X509Certificate::from_der(&der).expect("parse");
        assert_eq!(cert.issuer().to_string(), "CN=Switchboard Test");
        assert_eq!(
            cert.signature_algorithm.algorithm.to_id_string(),
            "1.2.840.113549.1.1.11",
            "sha256WithRSAEncryption"
        );
        let rsa = match cert.public_key().parsed().expect("public key") {
            x509_parser::public_key::PublicKey::RSA(rsa) => rsa.key_size(),
            other => panic!("not RSA: {other:?}"),
        };
        assert_eq!(rsa, 2048);
        // A random positive 16-byte serial.
        assert_eq!(cert.raw_serial().len(), 16);

        // The key never shows in Debug output.
        assert!(!format!("{generated:?}").contains("PRIVATE KEY"));
    }

    #[tokio::test]
    async fn serials_differ() {
        let now = Timestamp::now();
        let f = RcgenCertificateFactory::new();
        let a = f.generate("A", now, 1).await.expect("a");
        let b = f.generate("A", now, 1).await.expect("b");
        assert_ne!(a.info.thumbprint_sha1, b.info.thumbprint_sha1);
    }

    #[test]
    fn rejects_what_is_not_a_certificate() {
        assert!(inspect_certificate("hello").is_err());
        assert!(
            inspect_certificate("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
                .is_err()
        );
    }
}
