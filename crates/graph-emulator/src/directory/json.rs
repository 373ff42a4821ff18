//! Writing users as Graph JSON straight into a `String`: a 999-user page is a few hundred
//! kilobytes, built without an intermediate `serde_json::Value` per user.

use jiff::Timestamp;

use super::props::{self, Kind, LIST_SEPARATOR, PropId, slot};
use super::{Life, User};
use crate::clock::graph_date_time;

/// Appends `s` as a JSON string literal.
pub fn push_str(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escaped = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if escaped.is_empty() {
            out.push_str(&format!("\\u{b:04x}"));
        } else {
            out.push_str(escaped);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Appends `"name":`.
pub fn push_key(out: &mut String, name: &str) {
    push_str(out, name);
    out.push(':');
}

fn timestamp(seconds: i64) -> String {
    Timestamp::from_second(seconds)
        .map(graph_date_time)
        .unwrap_or_default()
}

/// Whether the property has no value (`null`, or an empty collection).
pub fn is_unset(user: &User, prop: PropId) -> bool {
    match props::prop(prop).kind {
        Kind::Id | Kind::AccountEnabled | Kind::CreatedDateTime => false,
        Kind::Text(s) | Kind::List(s) => user.text(s).is_none(),
        Kind::DeletedDateTime => user.life != Life::SoftDeleted,
        Kind::ExtensionAttributes => {
            (0..15).all(|i| user.text(slot::EXTENSION_ATTRIBUTE_1 + i).is_none())
        }
        Kind::Fixed(_) | Kind::NotInCollection => true,
    }
}

/// Appends the property's JSON value.
pub fn push_value(out: &mut String, user: &User, prop: PropId) {
    match props::prop(prop).kind {
        Kind::Id => {
            out.push('"');
            out.push_str(
                user.id
                    .hyphenated()
                    .encode_lower(&mut uuid::Uuid::encode_buffer()),
            );
            out.push('"');
        }
        Kind::Text(s) => match user.text(s) {
            Some(v) => push_str(out, v),
            None => out.push_str("null"),
        },
        Kind::List(s) => {
            out.push('[');
            if let Some(v) = user.text(s) {
                for (i, item) in v.split(LIST_SEPARATOR).enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    push_str(out, item);
                }
            }
            out.push(']');
        }
        Kind::AccountEnabled => out.push_str(if user.account_enabled {
            "true"
        } else {
            "false"
        }),
        Kind::CreatedDateTime => push_str(out, &timestamp(user.created)),
        Kind::DeletedDateTime => {
            if user.life == Life::SoftDeleted {
                push_str(out, &timestamp(user.deleted_at));
            } else {
                out.push_str("null");
            }
        }
        Kind::ExtensionAttributes => {
            out.push('{');
            for i in 0..15u8 {
                if i > 0 {
                    out.push(',');
                }
                push_key(out, &format!("extensionAttribute{}", i + 1));
                match user.text(slot::EXTENSION_ATTRIBUTE_1 + i) {
                    Some(v) => push_str(out, v),
                    None => out.push_str("null"),
                }
            }
            out.push('}');
        }
        Kind::Fixed(json) => out.push_str(json),
        Kind::NotInCollection => out.push_str("null"),
    }
}

/// `{"p1":…,"p2":…}` with every listed property, nulls included (`/users`, `/users/{id}`).
pub fn push_user(out: &mut String, user: &User, props: &[PropId]) {
    out.push('{');
    push_props(out, user, props);
    out.push('}');
}

/// The properties without the braces, comma-separated.
pub fn push_props(out: &mut String, user: &User, props: &[PropId]) {
    for (i, p) in props.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_key(out, props::prop(*p).name);
        push_value(out, user, *p);
    }
}

/// The whole modelled user for the control API: every stored property with nulls, plus
/// `softDeleted`.
pub fn push_control_user(out: &mut String, user: &User) {
    out.push('{');
    let mut first = true;
    for (i, p) in props::PROPS.iter().enumerate() {
        if matches!(p.kind, Kind::Fixed(_) | Kind::NotInCollection) {
            continue;
        }
        let Ok(id) = PropId::try_from(i) else {
            continue;
        };
        if !first {
            out.push(',');
        }
        first = false;
        push_key(out, p.name);
        push_value(out, user, id);
    }
    out.push_str(",\"softDeleted\":");
    out.push_str(if user.life == Life::SoftDeleted {
        "true"
    } else {
        "false"
    });
    out.push('}');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_serde_json() {
        for s in [
            "plain",
            "quote \" back \\ slash",
            "tab\tnl\n\u{1}",
            "Zoë ☎ \u{7f}",
        ] {
            let mut out = String::new();
            push_str(&mut out, s);
            let parsed: String = serde_json::from_str(&out).expect("valid JSON");
            assert_eq!(parsed, s);
        }
    }
}
