//! The two identifiers an admin pastes from the Azure portal, validated so that a typo is caught
//! on the Configure page rather than as an obscure AADSTS error later.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error(
        "The Application (client) ID must be a GUID like 1b3c5d7e-0000-4000-8000-1234567890ab; \
         copy it from the app's Overview page in the Azure portal (got \"{0}\")"
    )]
    ClientIdNotGuid(String),
    #[error(
        "The Directory (tenant) ID must be a GUID or a domain such as contoso.onmicrosoft.com; \
         copy it from the app's Overview page in the Azure portal (got \"{0}\")"
    )]
    TenantInvalid(String),
    #[error(
        "\"{0}\" cannot be used for an app-only connection: enter your own tenant's ID or domain \
         (common, organizations and consumers are multi-tenant aliases that Microsoft rejects here)"
    )]
    TenantAlias(String),
}

/// Application (client) ID: always a GUID, kept in lower case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ClientId(String);

impl ClientId {
    pub fn parse(input: &str) -> Result<Self, IdError> {
        let trimmed = input.trim();
        uuid::Uuid::try_parse(trimmed)
            .ok()
            .filter(|_| trimmed.len() == 36)
            .map(|u| ClientId(u.hyphenated().to_string()))
            .ok_or_else(|| IdError::ClientIdNotGuid(trimmed.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ClientId {
    type Error = IdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}
impl From<ClientId> for String {
    fn from(value: ClientId) -> Self {
        value.0
    }
}
impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Directory (tenant) ID or one of its verified domains.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantRef(String);

impl TenantRef {
    pub fn parse(input: &str) -> Result<Self, IdError> {
        let trimmed = input.trim();
        if trimmed.len() == 36
            && let Ok(u) = uuid::Uuid::try_parse(trimmed)
        {
            return Ok(TenantRef(u.hyphenated().to_string()));
        }
        let lower = trimmed.to_ascii_lowercase();
        if matches!(lower.as_str(), "common" | "organizations" | "consumers") {
            return Err(IdError::TenantAlias(trimmed.to_owned()));
        }
        if is_domain(&lower) {
            Ok(TenantRef(lower))
        } else {
            Err(IdError::TenantInvalid(trimmed.to_owned()))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn is_guid(&self) -> bool {
        uuid::Uuid::try_parse(&self.0).is_ok()
    }
}

/// A DNS name with at least two labels, letters/digits/hyphens, and a non-numeric last label.
fn is_domain(s: &str) -> bool {
    if s.is_empty() || s.len() > 253 {
        return false;
    }
    let labels: Vec<&str> = s.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.len() >= 2 && tld.bytes().all(|b| b.is_ascii_alphabetic()))
}

impl TryFrom<String> for TenantRef {
    type Error = IdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}
impl From<TenantRef> for String {
    fn from(value: TenantRef) -> Self {
        value.0
    }
}
impl fmt::Display for TenantRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn client_id_accepts_guid_any_case_and_normalises() {
        let id = ClientId::parse(" 1B3C5D7E-0000-4000-8000-1234567890AB ").unwrap();
        assert_eq!(id.as_str(), "1b3c5d7e-0000-4000-8000-1234567890ab");
    }

    #[test]
    fn client_id_rejects_non_guid_with_advice() {
        for bad in [
            "",
            "abc",
            "1b3c5d7e00004000800012345678 90ab",
            "{1b3c5d7e-0000-4000-8000-1234567890ab}",
            "contoso.com",
        ] {
            let err = ClientId::parse(bad).unwrap_err();
            assert!(err.to_string().contains("must be a GUID"), "{bad}: {err}");
        }
    }

    #[test]
    fn tenant_accepts_guid_and_domain() {
        assert!(
            TenantRef::parse("72f988bf-86f1-41af-91ab-2d7cd011db47")
                .unwrap()
                .is_guid()
        );
        assert_eq!(
            TenantRef::parse("Contoso.OnMicrosoft.com")
                .unwrap()
                .as_str(),
            "contoso.onmicrosoft.com"
        );
        assert!(!TenantRef::parse("contoso.com").unwrap().is_guid());
    }

    #[test]
    fn tenant_rejects_aliases_and_garbage() {
        assert!(matches!(
            TenantRef::parse("common"),
            Err(IdError::TenantAlias(_))
        ));
        assert!(matches!(
            TenantRef::parse("Organizations"),
            Err(IdError::TenantAlias(_))
        ));
        for bad in [
            "",
            "contoso",
            "https://contoso.com",
            "contoso .com",
            "a..b",
            "-a.com",
            "1.2.3.4",
            "x@y.com",
        ] {
            assert!(
                matches!(TenantRef::parse(bad), Err(IdError::TenantInvalid(_))),
                "{bad}"
            );
        }
    }

    proptest! {
        #[test]
        fn any_guid_round_trips(bytes in any::<[u8; 16]>()) {
            let text = uuid::Uuid::from_bytes(bytes).hyphenated().to_string();
            let parsed = ClientId::parse(&text.to_uppercase()).unwrap();
            prop_assert_eq!(parsed.as_str(), text.as_str());
            prop_assert!(TenantRef::parse(&text).unwrap().is_guid());
        }

        #[test]
        fn parsing_never_panics(s in ".{0,80}") {
            let _ = ClientId::parse(&s);
            let _ = TenantRef::parse(&s);
        }
    }
}
