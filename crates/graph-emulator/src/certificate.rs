//! Certificates uploaded to an app registration (graph-protocol.md §1.7).
//!
//! Only the public part is ever accepted: a PEM (or bare base64 DER, the manifest `key` form)
//! holding an X.509 certificate with an RSA key, because "Microsoft Entra ID currently supports
//! only RSA".

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jiff::Timestamp;
use x509_parser::pem::Pem;
use x509_parser::public_key::PublicKey;

/// A parsed, uploaded certificate.
#[derive(Debug, Clone)]
pub struct Certificate {
    /// PKCS#1 `RSAPublicKey` DER (the SPKI bit string), as `DecodingKey::from_rsa_der` wants it.
    pub rsa_public_key: Vec<u8>,
    /// SHA-1 of the DER certificate: what `x5t` carries, base64url-encoded.
    pub sha1: Vec<u8>,
    /// SHA-256 of the DER certificate: what `x5t#S256` carries.
    pub sha256: Vec<u8>,
    /// Stable key id (derived from the SHA-256 thumbprint), like the manifest `keyId`.
    pub key_id: String,
    pub subject: String,
    pub key_bits: usize,
    pub not_before: Timestamp,
    pub not_after: Timestamp,
}

impl Certificate {
    /// Parses one uploaded certificate; the error says what is wrong in words an admin gets.
    pub fn parse(text: &str) -> Result<Certificate, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("certificate is empty".to_owned());
        }
        if text.contains("PRIVATE KEY-----") {
            // The portal wants the public part only; never keep a private key around.
            return Err("this looks like a private key (a PEM 'PRIVATE KEY' block): upload the certificate (public part, '-----BEGIN CERTIFICATE-----') only".to_owned());
        }
        let der = if text.contains("-----BEGIN") {
            let mut found = None;
            for pem in Pem::iter_from_buffer(text.as_bytes()) {
                let pem = pem.map_err(|e| format!("certificate is not valid PEM: {e}"))?;
                if pem.label == "CERTIFICATE" {
                    found = Some(pem.contents);
                    break;
                }
            }
            found.ok_or_else(|| {
                "no '-----BEGIN CERTIFICATE-----' block found: upload an X.509 certificate in PEM form".to_owned()
            })?
        } else {
            let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
            STANDARD.decode(compact).map_err(|_| {
                "certificate is neither PEM ('-----BEGIN CERTIFICATE-----') nor base64 DER"
                    .to_owned()
            })?
        };
        Self::from_der(&der)
    }

    fn from_der(der: &[u8]) -> Result<Certificate, String> {
        let (_, cert) = x509_parser::parse_x509_certificate(der)
            .map_err(|e| format!("certificate is not a parseable X.509 certificate: {e}"))?;
        let spki = cert.public_key();
        let key_bits = match spki.parsed() {
            Ok(PublicKey::RSA(rsa)) => rsa.key_size(),
            Ok(_) => {
                return Err(
                    "certificate key is not RSA: Microsoft Entra ID supports only RSA keys"
                        .to_owned(),
                );
            }
            Err(e) => return Err(format!("certificate public key cannot be parsed: {e}")),
        };
        let validity = cert.validity();
        let not_before = Timestamp::from_second(validity.not_before.timestamp())
            .map_err(|e| format!("certificate notBefore out of range: {e}"))?;
        let not_after = Timestamp::from_second(validity.not_after.timestamp())
            .map_err(|e| format!("certificate notAfter out of range: {e}"))?;
        let sha1 = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, der)
            .as_ref()
            .to_vec();
        let sha256 = digest::digest(&digest::SHA256, der).as_ref().to_vec();
        let mut id = [0u8; 16];
        id.copy_from_slice(&sha256[..16]);
        let key_id = uuid::Builder::from_random_bytes(id).into_uuid().to_string();
        Ok(Certificate {
            rsa_public_key: spki.subject_public_key.data.to_vec(),
            sha1,
            sha256,
            key_id,
            subject: cert.subject().to_string(),
            key_bits,
            not_before,
            not_after,
        })
    }

    /// Upper-case hex SHA-1 thumbprint, as the portal and AADSTS700027 show it.
    pub fn thumbprint(&self) -> String {
        hex_upper(&self.sha1)
    }

    /// base64url(SHA-1), the `x5t` header value (unpadded).
    pub fn x5t(&self) -> String {
        URL_SAFE_NO_PAD.encode(&self.sha1)
    }

    /// base64url(SHA-256), the `x5t#S256` header value (unpadded).
    pub fn x5t_s256(&self) -> String {
        URL_SAFE_NO_PAD.encode(&self.sha256)
    }

    pub fn is_valid_at(&self, now: Timestamp) -> bool {
        self.not_before <= now && now <= self.not_after
    }
}

pub fn hex_upper(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02X}");
        s
    })
}
