//! What Graph says about a user, and what an extension stores of it.

use serde::{Deserialize, Serialize};

/// An Entra group as found by a directory search (for picking the groups a sync applies to).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DirectoryGroup {
    pub id: String,
    pub display_name: String,
    pub mail: Option<String>,
}

/// A user as read from `/users` or `/users/delta` (only the selected properties).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DirectoryUser {
    pub id: String,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub surname: Option<String>,
    pub mail: Option<String>,
    pub user_principal_name: Option<String>,
    pub mobile_phone: Option<String>,
    pub business_phones: Vec<String>,
    pub job_title: Option<String>,
    pub department: Option<String>,
    pub office_location: Option<String>,
    /// `None` when not selected; treated as enabled.
    pub account_enabled: Option<bool>,
    /// `Member` or `Guest`; `None` is treated as a member.
    pub user_type: Option<String>,
    pub employee_id: Option<String>,
    /// Two-letter country code (`usageLocation`): the region a user's contact numbers are read in.
    pub usage_location: Option<String>,
}

impl DirectoryUser {
    pub fn is_guest(&self) -> bool {
        self.user_type
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("guest"))
    }
    pub fn is_enabled(&self) -> bool {
        self.account_enabled.unwrap_or(true)
    }
    /// The address an existing local extension is matched on for adoption.
    pub fn email(&self) -> Option<&str> {
        non_empty(self.mail.as_deref()).or(non_empty(self.user_principal_name.as_deref()))
    }
    pub fn label(&self) -> String {
        non_empty(self.display_name.as_deref())
            .or(non_empty(self.user_principal_name.as_deref()))
            .unwrap_or(&self.id)
            .to_owned()
    }
}

fn non_empty(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

fn text(s: Option<&str>) -> String {
    non_empty(s).unwrap_or_default().to_owned()
}

/// The extension fields owned by Microsoft 365. Missing values are empty strings, never "null".
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SyncedFields {
    pub first_name: String,
    pub last_name: String,
    pub display_name: String,
    pub email: String,
    pub upn: String,
    pub mobile: String,
    pub business_phone: String,
    pub job_title: String,
    pub department: String,
    pub office: String,
    /// ISO 3166 two-letter country (`usageLocation`), upper-case; empty when unset.
    #[serde(default)]
    pub usage_location: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    pub field: &'static str,
    pub before: String,
    pub after: String,
}

impl SyncedFields {
    pub fn from_user(u: &DirectoryUser) -> Self {
        Self {
            first_name: text(u.given_name.as_deref()),
            last_name: text(u.surname.as_deref()),
            display_name: text(u.display_name.as_deref()),
            email: u.email().unwrap_or_default().to_owned(),
            upn: text(u.user_principal_name.as_deref()),
            mobile: text(u.mobile_phone.as_deref()),
            // Graph allows only one business phone to be set.
            business_phone: text(u.business_phones.first().map(String::as_str)),
            job_title: text(u.job_title.as_deref()),
            department: text(u.department.as_deref()),
            office: text(u.office_location.as_deref()),
            usage_location: text(u.usage_location.as_deref()).to_ascii_uppercase(),
        }
    }

    fn pairs(&self) -> [(&'static str, &String); 11] {
        [
            ("first_name", &self.first_name),
            ("last_name", &self.last_name),
            ("display_name", &self.display_name),
            ("email", &self.email),
            ("upn", &self.upn),
            ("mobile", &self.mobile),
            ("business_phone", &self.business_phone),
            ("job_title", &self.job_title),
            ("department", &self.department),
            ("office", &self.office),
            ("usage_location", &self.usage_location),
        ]
    }

    /// The field a [`FieldChange`] names, by its fixed name (never built from data).
    pub fn field_mut(&mut self, name: &str) -> Option<&mut String> {
        Some(match name {
            "first_name" => &mut self.first_name,
            "last_name" => &mut self.last_name,
            "display_name" => &mut self.display_name,
            "email" => &mut self.email,
            "upn" => &mut self.upn,
            "mobile" => &mut self.mobile,
            "business_phone" => &mut self.business_phone,
            "job_title" => &mut self.job_title,
            "department" => &mut self.department,
            "office" => &mut self.office,
            "usage_location" => &mut self.usage_location,
            _ => return None,
        })
    }

    /// Field-by-field changes that turn `self` into `target`.
    pub fn changes_to(&self, target: &SyncedFields) -> Vec<FieldChange> {
        self.pairs()
            .into_iter()
            .zip(target.pairs())
            .filter(|((_, a), (_, b))| a != b)
            .map(|((field, a), (_, b))| FieldChange {
                field,
                before: a.clone(),
                after: b.clone(),
            })
            .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    AzureAd,
    Local,
}

/// The part of a stored extension the plan looks at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extension {
    pub number: String,
    pub origin: Origin,
    pub graph_user_id: Option<String>,
    pub fields: SyncedFields,
    pub enabled: bool,
    /// The admin chose "exclude from sync": the sync never touches it again.
    pub excluded: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_values_are_empty_not_null() {
        let u = DirectoryUser {
            id: "1".into(),
            display_name: Some("Ada".into()),
            user_principal_name: Some("ada@contoso.com".into()),
            mail: Some("  ".into()),
            ..Default::default()
        };
        let f = SyncedFields::from_user(&u);
        assert_eq!(f.email, "ada@contoso.com", "mail falls back to the UPN");
        assert_eq!(f.mobile, "");
        assert!(!serde_json::to_string(&f).unwrap().contains("null"));
    }

    #[test]
    fn changes_name_each_field() {
        let a = SyncedFields {
            display_name: "Ada".into(),
            ..Default::default()
        };
        let b = SyncedFields {
            display_name: "Ada L".into(),
            mobile: "+1".into(),
            ..Default::default()
        };
        let c = a.changes_to(&b);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].field, "display_name");
        assert_eq!(c[1].field, "mobile");
        assert!(b.changes_to(&b).is_empty());
    }
}
