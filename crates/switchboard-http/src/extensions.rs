//! What the API and the console share about extensions: number and field validation, the
//! warnings for local changes to synced extensions, and the mapping of store errors.

use crate::state::AppState;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use switchboard_core::ports::StoreError;
use switchboard_core::users::{ExtensionRecord, Origin, SyncError, SyncedFields};

/// Shortest and longest extension number.
pub(crate) const NUMBER_DIGITS: std::ops::RangeInclusive<usize> = 2..=15;
/// Longest value of a text field.
const FIELD_MAX_CHARS: usize = 256;

/// The ten fields Microsoft 365 owns, in form order, with their labels.
pub(crate) const FIELDS: [(&str, &str); 10] = [
    ("first_name", "First name"),
    ("last_name", "Last name"),
    ("display_name", "Display name"),
    ("email", "Email"),
    ("upn", "User principal name"),
    ("mobile", "Mobile"),
    ("business_phone", "Business phone"),
    ("job_title", "Job title"),
    ("department", "Department"),
    ("office", "Office"),
];

/// `Ok(())` when `number` is 2 to 15 digits; otherwise what to enter instead.
pub(crate) fn validate_number(number: &str) -> Result<(), String> {
    if NUMBER_DIGITS.contains(&number.len()) && number.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(format!(
            "The extension number must be 2 to 15 digits (0-9), got \"{}\".",
            number.chars().take(40).collect::<String>()
        ))
    }
}

/// Any subset of the ten fields (API PATCH and POST bodies, console forms).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FieldsInput {
    pub(crate) first_name: Option<String>,
    pub(crate) last_name: Option<String>,
    pub(crate) display_name: Option<String>,
    pub(crate) email: Option<String>,
    pub(crate) upn: Option<String>,
    pub(crate) mobile: Option<String>,
    pub(crate) business_phone: Option<String>,
    pub(crate) job_title: Option<String>,
    pub(crate) department: Option<String>,
    pub(crate) office: Option<String>,
}

/// A field that is not acceptable: `(field name, message)`.
pub(crate) type FieldError = (&'static str, String);

impl FieldsInput {
    fn slots(&self) -> [(&'static str, Option<&String>); 10] {
        [
            ("first_name", self.first_name.as_ref()),
            ("last_name", self.last_name.as_ref()),
            ("display_name", self.display_name.as_ref()),
            ("email", self.email.as_ref()),
            ("upn", self.upn.as_ref()),
            ("mobile", self.mobile.as_ref()),
            ("business_phone", self.business_phone.as_ref()),
            ("job_title", self.job_title.as_ref()),
            ("department", self.department.as_ref()),
            ("office", self.office.as_ref()),
        ]
    }

    /// `base` with the given fields replaced (trimmed), or every field that is not acceptable.
    pub(crate) fn apply_to(&self, base: &SyncedFields) -> Result<SyncedFields, Vec<FieldError>> {
        let mut out = base.clone();
        let mut errors = Vec::new();
        for (name, value) in self.slots() {
            let Some(value) = value else { continue };
            let value = value.trim();
            if let Err(e) = validate_field(name, value) {
                errors.push((name, e));
                continue;
            }
            let slot = match name {
                "first_name" => &mut out.first_name,
                "last_name" => &mut out.last_name,
                "display_name" => &mut out.display_name,
                "email" => &mut out.email,
                "upn" => &mut out.upn,
                "mobile" => &mut out.mobile,
                "business_phone" => &mut out.business_phone,
                "job_title" => &mut out.job_title,
                "department" => &mut out.department,
                _ => &mut out.office,
            };
            value.clone_into(slot);
        }
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(errors)
        }
    }
}

fn validate_field(name: &str, value: &str) -> Result<(), String> {
    if value.chars().count() > FIELD_MAX_CHARS {
        return Err(format!(
            "{name} is longer than {FIELD_MAX_CHARS} characters."
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(format!(
            "{name} must be one line of text without control characters."
        ));
    }
    if matches!(name, "email" | "upn")
        && !value.is_empty()
        && (value.contains(char::is_whitespace) || !value.contains('@'))
    {
        return Err(format!(
            "{name} must be an address like ada@contoso.com, got \"{value}\"."
        ));
    }
    Ok(())
}

/// The errors of [`FieldsInput::apply_to`] in one sentence.
pub(crate) fn join_errors(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|(_, e)| e.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// True when the next sync overwrites local changes to this extension.
pub(crate) fn sync_owned(e: &ExtensionRecord) -> bool {
    e.origin == Origin::AzureAd && !e.excluded
}

/// The warning of a local edit of a synced extension.
pub(crate) fn edit_warning(number: &str) -> String {
    format!(
        "Extension {number} is synced from Microsoft 365; the next sync reverts this change; edit the user in Microsoft 365 or exclude the extension from sync."
    )
}

/// The warning of deleting a synced extension.
pub(crate) fn delete_warning(number: &str) -> String {
    format!(
        "Extension {number} is synced from Microsoft 365; the next sync creates it again (with the same number) while the user is in Microsoft 365 and in the sync scope; to keep it from coming back, exclude the extension from sync instead of deleting it, or take the user out of the sync scope."
    )
}

/// What the read-only synced fields say in the console.
pub(crate) const SYNCED_NOTE: &str =
    "Synced from Microsoft 365 — edit the user there; local changes are reverted by the next sync";

/// The status and message of a store error on a local change.
pub(crate) fn store_error(e: &StoreError, number: &str) -> Option<(StatusCode, String)> {
    match e {
        StoreError::Conflict(_) => Some((
            StatusCode::CONFLICT,
            format!(
                "Extension {number} already exists (or is kept for a deleted synced user): choose another number."
            ),
        )),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_two_to_fifteen_digits() {
        for ok in ["10", "100", "123456789012345"] {
            assert!(validate_number(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "1",
            "1234567890123456",
            "12a",
            " 12",
            "+12",
            "1 2",
            "١٢",
        ] {
            assert!(validate_number(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn fields_are_trimmed_and_checked() {
        let input = FieldsInput {
            first_name: Some("  Ada ".into()),
            email: Some("not an address".into()),
            office: Some("x".repeat(300)),
            ..FieldsInput::default()
        };
        let errors = input.apply_to(&SyncedFields::default()).unwrap_err();
        assert_eq!(
            errors.iter().map(|(f, _)| *f).collect::<Vec<_>>(),
            ["email", "office"]
        );
        let ok = FieldsInput {
            first_name: Some("  Ada ".into()),
            email: Some("".into()),
            ..FieldsInput::default()
        };
        let base = SyncedFields {
            email: "old@contoso.com".into(),
            last_name: "Lovelace".into(),
            ..SyncedFields::default()
        };
        let out = ok.apply_to(&base).unwrap();
        assert_eq!(out.first_name, "Ada");
        assert_eq!(out.email, "");
        assert_eq!(out.last_name, "Lovelace");
    }
}

/// An extension as the API shows it: the stored record and the derived outbound caller ID.
#[derive(Debug, Serialize)]
pub(crate) struct ExtensionOut {
    #[serde(flatten)]
    pub(crate) record: ExtensionRecord,
    /// The business phone of a synced extension when the User Sync setting
    /// `business_phone_as_caller_id` is on, else empty. Derived, never stored.
    pub(crate) outbound_caller_id: String,
}

impl ExtensionOut {
    pub(crate) fn new(record: ExtensionRecord, business_phone_as_caller_id: bool) -> Self {
        let outbound_caller_id = outbound_caller_id(&record, business_phone_as_caller_id);
        Self {
            record,
            outbound_caller_id,
        }
    }
}

/// The outbound caller ID of an extension: its business phone when it is synced and the
/// setting `business_phone_as_caller_id` is on, else "".
pub(crate) fn outbound_caller_id(
    ext: &ExtensionRecord,
    business_phone_as_caller_id: bool,
) -> String {
    if business_phone_as_caller_id && ext.origin == Origin::AzureAd {
        ext.fields.business_phone.clone()
    } else {
        String::new()
    }
}

/// The User Sync setting `business_phone_as_caller_id`.
pub(crate) async fn business_phone_as_caller_id(state: &AppState) -> Result<bool, SyncError> {
    Ok(state
        .user_sync()
        .config()
        .await?
        .plan
        .business_phone_as_caller_id)
}
