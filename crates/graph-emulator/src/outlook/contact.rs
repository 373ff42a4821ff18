//! The `microsoft.graph.contact` shape (graph-protocol.md §3): the property table, the values
//! of one contact, Graph JSON output with `$select`, and control-API input.

use serde_json::{Map, Value};

use crate::directory::json::{push_key, push_str};

/// How a data property is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// String, `null` when unset.
    Text,
    /// String collection, `[]` when unset.
    TextList,
    /// `[{"name","address"}]`.
    Emails,
    /// physicalAddress, `{}` when unset.
    Address,
    /// DateTimeOffset, `null` when unset.
    Date,
}

/// Where a property's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Id,
    Created,
    Modified,
    ChangeKey,
    ParentFolder,
    Data(Shape),
}

pub struct Prop {
    pub name: &'static str,
    pub kind: Kind,
    /// At most this many entries (Exchange has Business/Business2, Email1–3, IM1–3 …).
    pub max_items: usize,
}

/// Index into [`PROPS`].
pub type PropId = usize;

const fn p(name: &'static str, kind: Kind) -> Prop {
    Prop {
        name,
        kind,
        max_items: usize::MAX,
    }
}

const fn list(name: &'static str, shape: Shape, max_items: usize) -> Prop {
    Prop {
        name,
        kind: Kind::Data(shape),
        max_items,
    }
}

const TEXT: Kind = Kind::Data(Shape::Text);

/// Every v1.0 contact property, in the order Graph writes them.
pub static PROPS: &[Prop] = &[
    p("id", Kind::Id),
    p("createdDateTime", Kind::Created),
    p("lastModifiedDateTime", Kind::Modified),
    p("changeKey", Kind::ChangeKey),
    list("categories", Shape::TextList, 25),
    p("parentFolderId", Kind::ParentFolder),
    p("birthday", Kind::Data(Shape::Date)),
    p("fileAs", TEXT),
    p("displayName", TEXT),
    p("givenName", TEXT),
    p("initials", TEXT),
    p("middleName", TEXT),
    p("nickName", TEXT),
    p("surname", TEXT),
    p("title", TEXT),
    p("yomiGivenName", TEXT),
    p("yomiSurname", TEXT),
    p("yomiCompanyName", TEXT),
    p("generation", TEXT),
    list("imAddresses", Shape::TextList, 3),
    p("jobTitle", TEXT),
    p("companyName", TEXT),
    p("department", TEXT),
    p("officeLocation", TEXT),
    p("profession", TEXT),
    p("businessHomePage", TEXT),
    p("assistantName", TEXT),
    p("manager", TEXT),
    list("homePhones", Shape::TextList, 2),
    p("mobilePhone", TEXT),
    list("businessPhones", Shape::TextList, 2),
    p("spouseName", TEXT),
    p("personalNotes", TEXT),
    list("children", Shape::TextList, 25),
    list("emailAddresses", Shape::Emails, 3),
    p("homeAddress", Kind::Data(Shape::Address)),
    p("businessAddress", Kind::Data(Shape::Address)),
    p("otherAddress", Kind::Data(Shape::Address)),
];

/// Property ids the generator and the control API use by name.
pub mod prop {
    use super::PropId;
    pub const CATEGORIES: PropId = 4;
    pub const BIRTHDAY: PropId = 6;
    pub const FILE_AS: PropId = 7;
    pub const DISPLAY_NAME: PropId = 8;
    pub const GIVEN_NAME: PropId = 9;
    pub const MIDDLE_NAME: PropId = 11;
    pub const NICK_NAME: PropId = 12;
    pub const SURNAME: PropId = 13;
    pub const TITLE: PropId = 14;
    pub const GENERATION: PropId = 18;
    pub const IM_ADDRESSES: PropId = 19;
    pub const JOB_TITLE: PropId = 20;
    pub const COMPANY_NAME: PropId = 21;
    pub const DEPARTMENT: PropId = 22;
    pub const OFFICE_LOCATION: PropId = 23;
    pub const BUSINESS_HOME_PAGE: PropId = 25;
    pub const ASSISTANT_NAME: PropId = 26;
    pub const HOME_PHONES: PropId = 28;
    pub const MOBILE_PHONE: PropId = 29;
    pub const BUSINESS_PHONES: PropId = 30;
    pub const PERSONAL_NOTES: PropId = 32;
    pub const EMAIL_ADDRESSES: PropId = 34;
    pub const BUSINESS_ADDRESS: PropId = 36;
}

const ADDRESS_KEYS: &[&str] = &["street", "city", "state", "countryOrRegion", "postalCode"];

/// A property by name, case-insensitively (`$select=DisplayName` works, §7).
pub fn by_name(name: &str) -> Option<PropId> {
    PROPS.iter().position(|p| p.name.eq_ignore_ascii_case(name))
}

/// `$select` as a bit set over [`PROPS`] (they fit in 64 bits); 0 = no `$select`.
pub type SelectMask = u64;

pub fn mask_has(mask: SelectMask, prop: PropId) -> bool {
    mask == 0 || mask & (1 << prop) != 0
}

/// The data properties of one contact; unset ones are `Value::Null`.
#[derive(Debug, Clone, PartialEq)]
pub struct ContactData {
    values: Vec<Value>,
}

impl Default for ContactData {
    fn default() -> Self {
        ContactData {
            values: vec![Value::Null; PROPS.len()],
        }
    }
}

impl ContactData {
    pub fn get(&self, prop: PropId) -> &Value {
        self.values.get(prop).unwrap_or(&Value::Null)
    }

    pub fn text(&self, prop: PropId) -> Option<&str> {
        self.get(prop).as_str()
    }

    pub fn set(&mut self, prop: PropId, value: Value) {
        if let Some(slot) = self.values.get_mut(prop) {
            *slot = value;
        }
    }

    pub fn set_text(&mut self, prop: PropId, value: impl Into<String>) {
        self.set(prop, Value::String(value.into()));
    }

    pub fn push_list(&mut self, prop: PropId, value: Value) {
        match self.values.get_mut(prop) {
            Some(Value::Array(items)) => items.push(value),
            Some(slot) => *slot = Value::Array(vec![value]),
            None => {}
        }
    }

    /// Writes the data property as Graph does, unset values included.
    pub fn push_value(&self, out: &mut String, prop: PropId, shape: Shape) {
        let value = self.get(prop);
        match shape {
            Shape::Text | Shape::Date => match value {
                Value::String(s) => push_str(out, s),
                _ => out.push_str("null"),
            },
            Shape::TextList => {
                out.push('[');
                for (i, item) in value.as_array().into_iter().flatten().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    push_str(out, item.as_str().unwrap_or_default());
                }
                out.push(']');
            }
            Shape::Emails => {
                out.push('[');
                for (i, item) in value.as_array().into_iter().flatten().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push('{');
                    push_key(out, "name");
                    match item.get("name").and_then(Value::as_str) {
                        Some(n) => push_str(out, n),
                        None => out.push_str("null"),
                    }
                    out.push(',');
                    push_key(out, "address");
                    push_str(
                        out,
                        item.get("address")
                            .and_then(Value::as_str)
                            .unwrap_or_default(),
                    );
                    out.push('}');
                }
                out.push(']');
            }
            Shape::Address => {
                out.push('{');
                let mut first = true;
                for key in ADDRESS_KEYS {
                    if let Some(v) = value.get(*key).and_then(Value::as_str) {
                        if !first {
                            out.push(',');
                        }
                        first = false;
                        push_key(out, key);
                        push_str(out, v);
                    }
                }
                out.push('}');
            }
        }
    }

    /// The contact's e-mail addresses (for `$filter=emailAddresses/any(…)`).
    pub fn email_addresses(&self) -> impl Iterator<Item = &str> {
        self.get(prop::EMAIL_ADDRESSES)
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e.get("address").and_then(Value::as_str))
    }
}

/// A contact as Graph sees it: the data plus its times (Unix seconds).
#[derive(Debug, Clone, PartialEq)]
pub struct Contact {
    pub created: i64,
    pub modified: i64,
    pub data: ContactData,
}

/// A validated control-API contact body: data properties to set (`Null` clears) and the
/// folder to put the contact in.
#[derive(Debug, Default)]
pub struct ContactPatch {
    pub values: Vec<(PropId, Value)>,
    pub parent_folder_id: Option<String>,
}

/// Longest string the control API takes [inf: Exchange limits most to 255, notes to more].
const MAX_TEXT: usize = 4096;

fn text(name: &str, value: &Value) -> Result<Value, String> {
    match value {
        Value::Null => Ok(Value::Null),
        // Exchange stores no empty strings: "" reads back as null.
        Value::String(s) if s.is_empty() => Ok(Value::Null),
        Value::String(s) if s.chars().count() > MAX_TEXT => {
            Err(format!("{name}: longer than {MAX_TEXT} characters"))
        }
        Value::String(_) => Ok(value.clone()),
        other => Err(format!("{name}: expected a string or null, got {other}")),
    }
}

fn check_len(prop: &Prop, n: usize) -> Result<(), String> {
    if n > prop.max_items {
        Err(format!(
            "{}: at most {} entries (Exchange has no more fields for it)",
            prop.name, prop.max_items
        ))
    } else {
        Ok(())
    }
}

fn parse_value(prop: &Prop, shape: Shape, value: &Value) -> Result<Value, String> {
    let name = prop.name;
    match shape {
        Shape::Text => text(name, value),
        Shape::Date => match value {
            Value::Null => Ok(Value::Null),
            Value::String(s) => {
                let t = s.parse::<jiff::Timestamp>().map_err(|e| {
                    format!("{name}: '{s}' is not an RFC 3339 date-time with offset: {e}")
                })?;
                Ok(Value::String(crate::clock::graph_date_time(t)))
            }
            other => Err(format!("{name}: expected a date-time string, got {other}")),
        },
        Shape::TextList => match value {
            Value::Null => Ok(Value::Null),
            Value::Array(items) => {
                check_len(prop, items.len())?;
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    match text(name, item)? {
                        Value::Null => {
                            return Err(format!("{name}: null or \"\" inside the list"));
                        }
                        v => out.push(v),
                    }
                }
                Ok(if out.is_empty() {
                    Value::Null
                } else {
                    Value::Array(out)
                })
            }
            other => Err(format!(
                "{name}: expected an array of strings or null, got {other}"
            )),
        },
        Shape::Emails => match value {
            Value::Null => Ok(Value::Null),
            Value::Array(items) => {
                check_len(prop, items.len())?;
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    let Some(obj) = item.as_object() else {
                        return Err(format!(
                            "{name}: expected objects {{\"name\", \"address\"}}, got {item}"
                        ));
                    };
                    if let Some(k) = obj
                        .keys()
                        .find(|k| !matches!(k.as_str(), "name" | "address"))
                    {
                        return Err(format!(
                            "{name}: unknown key '{k}' (emailAddress has name and address)"
                        ));
                    }
                    let address = match obj.get("address").map(|v| text(name, v)).transpose()? {
                        Some(Value::String(a)) => a,
                        _ => return Err(format!("{name}: every entry needs an address")),
                    };
                    let mut entry = Map::new();
                    if let Some(Value::String(n)) =
                        obj.get("name").map(|v| text(name, v)).transpose()?
                    {
                        entry.insert("name".to_owned(), Value::String(n));
                    }
                    entry.insert("address".to_owned(), Value::String(address));
                    out.push(Value::Object(entry));
                }
                Ok(if out.is_empty() {
                    Value::Null
                } else {
                    Value::Array(out)
                })
            }
            other => Err(format!(
                "{name}: expected an array of {{\"name\", \"address\"}} or null, got {other}"
            )),
        },
        Shape::Address => match value {
            Value::Null => Ok(Value::Null),
            Value::Object(obj) => {
                let mut out = Map::new();
                for (k, v) in obj {
                    if !ADDRESS_KEYS.contains(&k.as_str()) {
                        return Err(format!(
                            "{name}: unknown key '{k}' (street, city, state, countryOrRegion, postalCode)"
                        ));
                    }
                    if let Value::String(s) = text(name, v)? {
                        out.insert(k.clone(), Value::String(s));
                    }
                }
                Ok(if out.is_empty() {
                    Value::Null
                } else {
                    Value::Object(out)
                })
            }
            other => Err(format!("{name}: expected an address object, got {other}")),
        },
    }
}

/// Validates a Graph contact body (property names are case-sensitive; a near miss says so).
pub fn parse_patch(body: &Map<String, Value>) -> Result<ContactPatch, String> {
    let mut out = ContactPatch::default();
    for (key, value) in body {
        if key.starts_with('@') {
            // OData annotations (`@odata.type`, `@odata.etag`) are accepted and unused.
            continue;
        }
        let Some(id) = PROPS.iter().position(|p| p.name == key.as_str()) else {
            return Err(match by_name(key) {
                Some(p) => format!(
                    "unknown property '{key}'; did you mean '{}'? (names are case-sensitive)",
                    PROPS[p].name
                ),
                None => format!("unknown property '{key}' on microsoft.graph.contact"),
            });
        };
        let prop = &PROPS[id];
        match prop.kind {
            Kind::ParentFolder => match value {
                Value::String(s) if !s.is_empty() => out.parent_folder_id = Some(s.clone()),
                _ => return Err("parentFolderId: expected a folder id string".to_owned()),
            },
            Kind::Data(shape) => out.values.push((id, parse_value(prop, shape, value)?)),
            Kind::Id | Kind::Created | Kind::Modified | Kind::ChangeKey => {
                return Err(format!("{key} is read-only (the emulator sets it)"));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prop_constants_match_the_table() {
        for (id, name) in [
            (0, "id"),
            (prop::CATEGORIES, "categories"),
            (5, "parentFolderId"),
            (prop::BIRTHDAY, "birthday"),
            (prop::FILE_AS, "fileAs"),
            (prop::DISPLAY_NAME, "displayName"),
            (prop::GIVEN_NAME, "givenName"),
            (prop::MIDDLE_NAME, "middleName"),
            (prop::NICK_NAME, "nickName"),
            (prop::SURNAME, "surname"),
            (prop::TITLE, "title"),
            (prop::GENERATION, "generation"),
            (prop::IM_ADDRESSES, "imAddresses"),
            (prop::JOB_TITLE, "jobTitle"),
            (prop::COMPANY_NAME, "companyName"),
            (prop::DEPARTMENT, "department"),
            (prop::OFFICE_LOCATION, "officeLocation"),
            (prop::BUSINESS_HOME_PAGE, "businessHomePage"),
            (prop::ASSISTANT_NAME, "assistantName"),
            (prop::HOME_PHONES, "homePhones"),
            (prop::MOBILE_PHONE, "mobilePhone"),
            (prop::BUSINESS_PHONES, "businessPhones"),
            (prop::PERSONAL_NOTES, "personalNotes"),
            (prop::EMAIL_ADDRESSES, "emailAddresses"),
            (prop::BUSINESS_ADDRESS, "businessAddress"),
        ] {
            assert_eq!(PROPS[id].name, name);
        }
        assert!(PROPS.len() <= 64, "select masks are 64 bits");
    }

    #[test]
    fn bodies_are_validated() {
        let ok = json!({
            "@odata.type": "#microsoft.graph.contact",
            "givenName": "Ada",
            "businessPhones": ["+44 20 7946 0000"],
            "emailAddresses": [{"address": "ada@example.com", "name": "Ada"}],
            "homeAddress": {"city": "London", "street": ""},
            "birthday": "1815-12-10T00:00:00Z",
            "parentFolderId": "AAMk",
            "nickName": "",
        });
        let patch = parse_patch(ok.as_object().expect("object")).expect("valid");
        assert_eq!(patch.parent_folder_id.as_deref(), Some("AAMk"));
        assert!(patch.values.contains(&(prop::NICK_NAME, Value::Null)));
        assert!(
            patch.values.contains(&(35, json!({"city": "London"}))),
            "{:?}",
            patch.values
        );
        for bad in [
            json!({"displayname": "x"}),
            json!({"fax": "x"}),
            json!({"id": "x"}),
            json!({"businessPhones": ["1", "2", "3"]}),
            json!({"businessPhones": "+1 555"}),
            json!({"emailAddresses": [{"name": "no address"}]}),
            json!({"emailAddresses": ["a@b.c"]}),
            json!({"homeAddress": {"zip": "1"}}),
            json!({"birthday": "yesterday"}),
            json!({"parentFolderId": null}),
        ] {
            assert!(
                parse_patch(bad.as_object().expect("object")).is_err(),
                "{bad}"
            );
        }
        let err = parse_patch(json!({"displayname": "x"}).as_object().expect("o"))
            .expect_err("near miss");
        assert!(err.contains("did you mean 'displayName'"), "{err}");
    }
}
