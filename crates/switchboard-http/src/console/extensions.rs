//! The Extensions pages: the list (search, group filter, keyset paging, a form for local
//! extensions) and one extension (fields, edit or read-only, exclude from sync, delete, audit).

use super::{ConsoleUser, Layout, csrf_denied, error_page, internal_error, render};
use crate::api::admin_actor;
use crate::auth::session::Session;
use crate::extensions::{
    FIELDS, FieldError, FieldsInput, SYNCED_NOTE, business_phone_as_caller_id, delete_warning,
    outbound_caller_id, store_error, sync_owned, validate_number,
};
use crate::state::AppState;
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use jiff::Timestamp;
use serde::Deserialize;
use switchboard_core::users::{
    AZURE_AD_GROUP, AuditEntry, ExtensionQuery, ExtensionRecord, Origin, SyncedFields,
};

/// Rows per page of the list.
const PAGE_SIZE: u32 = 50;
/// Audit entries on the detail page.
const AUDIT_ROWS: u32 = 50;

pub(crate) fn when(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string()
}

pub(crate) fn path_segment(number: &str) -> String {
    url::form_urlencoded::byte_serialize(number.as_bytes()).collect()
}

/// One text field of a form: its value and error.
#[derive(Debug)]
pub(crate) struct FormField {
    pub(crate) name: &'static str,
    pub(crate) label: &'static str,
    pub(crate) value: String,
    pub(crate) error: Option<String>,
    /// `email` for the address fields, `tel` for phones, else `text`.
    pub(crate) kind: &'static str,
}

fn form_fields(fields: &SyncedFields, errors: &[FieldError]) -> Vec<FormField> {
    let values = [
        &fields.first_name,
        &fields.last_name,
        &fields.display_name,
        &fields.email,
        &fields.upn,
        &fields.mobile,
        &fields.business_phone,
        &fields.job_title,
        &fields.department,
        &fields.office,
    ];
    FIELDS
        .iter()
        .zip(values)
        .map(|((name, label), value)| FormField {
            name,
            label,
            value: value.clone(),
            error: errors
                .iter()
                .find(|(f, _)| f == name)
                .map(|(_, e)| e.clone()),
            kind: match *name {
                "email" => "email",
                "mobile" | "business_phone" => "tel",
                _ => "text",
            },
        })
        .collect()
}

/// The ten fields of a form post, as given (not trimmed yet).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct FieldsForm {
    csrf_token: Option<String>,
    number: Option<String>,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    upn: String,
    #[serde(default)]
    mobile: String,
    #[serde(default)]
    business_phone: String,
    #[serde(default)]
    job_title: String,
    #[serde(default)]
    department: String,
    #[serde(default)]
    office: String,
}

impl FieldsForm {
    fn input(&self) -> FieldsInput {
        FieldsInput {
            first_name: Some(self.first_name.clone()),
            last_name: Some(self.last_name.clone()),
            display_name: Some(self.display_name.clone()),
            email: Some(self.email.clone()),
            upn: Some(self.upn.clone()),
            mobile: Some(self.mobile.clone()),
            business_phone: Some(self.business_phone.clone()),
            job_title: Some(self.job_title.clone()),
            department: Some(self.department.clone()),
            office: Some(self.office.clone()),
        }
    }

    /// The values as typed, to show them again with the errors.
    fn as_typed(&self) -> SyncedFields {
        SyncedFields {
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            display_name: self.display_name.clone(),
            email: self.email.clone(),
            upn: self.upn.clone(),
            mobile: self.mobile.clone(),
            business_phone: self.business_phone.clone(),
            job_title: self.job_title.clone(),
            department: self.department.clone(),
            office: self.office.clone(),
            // Not one of the form's fields (only the sync sets it).
            usage_location: String::new(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The list
// ---------------------------------------------------------------------------------------------

#[derive(Debug)]
struct Row {
    number: String,
    href: String,
    name: String,
    email: String,
    department: String,
    groups: String,
    enabled: bool,
    synced: bool,
    excluded: bool,
}

impl From<ExtensionRecord> for Row {
    fn from(e: ExtensionRecord) -> Self {
        let name = if e.fields.display_name.is_empty() {
            format!("{} {}", e.fields.first_name, e.fields.last_name)
                .trim()
                .to_owned()
        } else {
            e.fields.display_name.clone()
        };
        Self {
            href: format!("/extensions/{}", path_segment(&e.number)),
            number: e.number,
            name,
            email: e.fields.email,
            department: e.fields.department,
            groups: e.groups.join(", "),
            enabled: e.enabled,
            synced: e.origin == Origin::AzureAd,
            excluded: e.excluded,
        }
    }
}

/// The "New local extension" form.
#[derive(Debug, Default)]
struct NewForm {
    open: bool,
    number: String,
    number_error: Option<String>,
    fields: Vec<FormField>,
}

#[derive(Template)]
#[template(path = "extensions.html")]
struct ListPage {
    layout: Layout,
    csrf_token: String,
    rows: Vec<Row>,
    total: u64,
    q: String,
    group: String,
    groups: Vec<String>,
    filtered: bool,
    after: Option<String>,
    next_href: Option<String>,
    first_href: Option<String>,
    notice: Option<&'static str>,
    new_form: NewForm,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ListQuery {
    q: Option<String>,
    group: Option<String>,
    after: Option<String>,
    notice: Option<String>,
}

fn list_notice(key: Option<&str>) -> Option<&'static str> {
    match key? {
        "deleted" => Some("The extension was deleted."),
        _ => None,
    }
}

fn list_href(q: &str, group: &str, after: Option<&str>) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    if !q.is_empty() {
        query.append_pair("q", q);
    }
    if !group.is_empty() {
        query.append_pair("group", group);
    }
    if let Some(a) = after {
        query.append_pair("after", a);
    }
    let query = query.finish();
    if query.is_empty() {
        "/extensions".to_owned()
    } else {
        format!("/extensions?{query}")
    }
}

async fn show_list(
    state: &AppState,
    session: &Session,
    query: ListQuery,
    status: StatusCode,
    new_form: Option<NewForm>,
) -> Response {
    let q = query.q.unwrap_or_default().trim().to_owned();
    let group = query.group.unwrap_or_default().trim().to_owned();
    let after = query
        .after
        .map(|a| a.trim().to_owned())
        .filter(|a| !a.is_empty());
    let store = state.extensions();
    let ext_query = ExtensionQuery {
        group: (!group.is_empty()).then(|| group.clone()),
        q: (!q.is_empty()).then(|| q.clone()),
        after: after.clone(),
        limit: PAGE_SIZE + 1,
    };
    let (mut records, total) = match (
        store.list_extensions(&ext_query).await,
        store.count_extensions().await,
    ) {
        (Ok(r), Ok(t)) => (r, t),
        (Err(e), _) | (_, Err(e)) => return internal_error(&e),
    };
    let more = records.len() > PAGE_SIZE as usize;
    records.truncate(PAGE_SIZE as usize);
    let next_href = more
        .then(|| {
            records
                .last()
                .map(|r| list_href(&q, &group, Some(&r.number)))
        })
        .flatten();
    let first_href = after.is_some().then(|| list_href(&q, &group, None));
    let mut groups = vec![AZURE_AD_GROUP.to_owned()];
    if !group.is_empty() && !groups.contains(&group) {
        groups.push(group.clone());
    }
    let page = ListPage {
        layout: Layout::signed_in(session, "extensions"),
        csrf_token: session.csrf_token.clone(),
        rows: records.into_iter().map(Row::from).collect(),
        total,
        filtered: !q.is_empty() || !group.is_empty(),
        q,
        group,
        groups,
        after,
        next_href,
        first_href,
        notice: list_notice(query.notice.as_deref()),
        new_form: new_form.unwrap_or_else(|| NewForm {
            fields: form_fields(&SyncedFields::default(), &[]),
            ..NewForm::default()
        }),
    };
    render(status, &page)
}

/// `GET /extensions`
pub(crate) async fn list(
    State(state): State<AppState>,
    ConsoleUser(session): ConsoleUser,
    Query(query): Query<ListQuery>,
) -> Response {
    show_list(&state, &session, query, StatusCode::OK, None).await
}

/// `POST /extensions`: a new local extension; errors are shown next to the fields.
pub(crate) async fn create(
    State(state): State<AppState>,
    ConsoleUser(session): ConsoleUser,
    Form(form): Form<FieldsForm>,
) -> Response {
    if let Some(denied) = csrf_denied(&session, form.csrf_token.as_deref()) {
        return denied;
    }
    let number = form.number.clone().unwrap_or_default().trim().to_owned();
    let number_check = validate_number(&number);
    let fields = form.input().apply_to(&SyncedFields::default());
    let failed = |number_error: Option<String>, errors: &[FieldError], status| {
        let new_form = NewForm {
            open: true,
            number: number.clone(),
            number_error,
            fields: form_fields(&form.as_typed(), errors),
        };
        show_list(
            &state,
            &session,
            ListQuery::default(),
            status,
            Some(new_form),
        )
    };
    let fields = match (number_check, fields) {
        (Ok(()), Ok(fields)) => fields,
        (number_error, fields) => {
            let errors = fields.err().unwrap_or_default();
            return failed(
                number_error.err(),
                &errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    let actor = admin_actor(&session.username);
    match state
        .extensions()
        .create_local_extension(&number, &fields, &actor, state.now())
        .await
    {
        Ok(()) => {
            tracing::info!(user = %session.username, %number, "local extension created");
            Redirect::to(&format!(
                "/extensions/{}?notice=created",
                path_segment(&number)
            ))
            .into_response()
        }
        Err(e) => match store_error(&e, &number) {
            Some((status, message)) => failed(Some(message), &[], status).await,
            None => internal_error(&e),
        },
    }
}

// ---------------------------------------------------------------------------------------------
// One extension
// ---------------------------------------------------------------------------------------------

#[derive(Debug)]
struct AuditRow {
    at: String,
    /// Who, in words: "User sync, started by alice", "alice (console)"…
    actor: String,
    /// The stored actor (`sync:users (started by admin:alice)`), as a tooltip.
    actor_key: String,
    /// The stored action (`create`, `exclude`…), for scripts and tests.
    action: String,
    /// The action in words.
    action_label: String,
    lines: Vec<String>,
}

/// A stored audit actor in words: `sync:users` → "User sync", `sync:users (started by
/// admin:alice)` → "User sync, started by alice", `admin:alice` → "alice (console)",
/// `api:deploy` → "API token deploy". Anything else is shown as stored.
pub(crate) fn actor_label(actor: &str) -> String {
    fn who(actor: &str) -> Option<String> {
        if let Some(name) = actor.strip_prefix("admin:") {
            Some(format!("{name} (console)"))
        } else if let Some(name) = actor.strip_prefix("api:") {
            Some(format!("API token {name}"))
        } else {
            match actor {
                "cli" => Some("the command line".to_owned()),
                _ => None,
            }
        }
    }
    if actor == "sync:users" {
        return "User sync".to_owned();
    }
    if actor == "sync:users (notification)" {
        return "User sync, after a change notification".to_owned();
    }
    if let Some(starter) = actor
        .strip_prefix("sync:users (started by ")
        .and_then(|rest| rest.strip_suffix(')'))
    {
        let starter = starter
            .strip_prefix("admin:")
            .map(str::to_owned)
            .or_else(|| who(starter))
            .unwrap_or_else(|| starter.to_owned());
        return format!("User sync, started by {starter}");
    }
    who(actor).unwrap_or_else(|| actor.to_owned())
}

/// A stored audit action in words.
fn action_label(action: &str) -> String {
    match action {
        "create" => "Created",
        "adopt" => "Taken over from a local extension",
        "update" => "Updated",
        "enable" => "Enabled",
        "disable" => "Disabled",
        "delete" => "Deleted",
        "local_create" => "Created as a local extension",
        "local_edit" => "Edited",
        "exclude" => "Excluded from sync",
        "include" => "Included in sync",
        other => other,
    }
    .to_owned()
}

/// The label of a stored key: the form's labels for the fields, words for the rest.
fn key_label(key: &str) -> String {
    FIELDS
        .iter()
        .find(|(name, _)| *name == key)
        .map(|(_, label)| *label)
        .or(match key {
            "enabled" => Some("Enabled"),
            "excluded" => Some("Excluded from sync"),
            "reason" => Some("Reason"),
            "origin" => Some("Origin"),
            "number" => Some("Number"),
            "groups" => Some("Groups"),
            "graph_user_id" => Some("Microsoft 365 user"),
            _ => None,
        })
        .map_or_else(|| key.to_owned(), str::to_owned)
}

fn plain(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => match s.as_str() {
            "" => "(empty)".to_owned(),
            "account_disabled" => "the account is disabled in Microsoft 365".to_owned(),
            "removed_from_tenant" => "the user was removed from Microsoft 365".to_owned(),
            "left_scope" => "the user left the sync scope".to_owned(),
            "azure_ad" => "Microsoft 365".to_owned(),
            "local" => "local".to_owned(),
            _ => format!("\"{s}\""),
        },
        serde_json::Value::Bool(true) => "yes".to_owned(),
        serde_json::Value::Bool(false) => "no".to_owned(),
        serde_json::Value::Null => "–".to_owned(),
        other => other.to_string(),
    }
}

/// Before → after (or the reason) of an audit entry, one line per field. Understands
/// `{"changes": [{field, before, after}]}`, `{"x": {"before": …, "after": …}}`,
/// `{"before": {…}, "after": {…}}`, `{"fields": {…}}` and plain values.
fn describe(detail: &serde_json::Value) -> Vec<String> {
    use serde_json::Value;
    let before_after = |v: &Value| match v {
        Value::Object(m) if m.len() == 2 && m.contains_key("before") && m.contains_key("after") => {
            Some((m["before"].clone(), m["after"].clone()))
        }
        _ => None,
    };
    let mut lines = Vec::new();
    match detail {
        Value::Object(map) => {
            if let Some((Value::Object(b), Value::Object(a))) = before_after(detail) {
                for (k, av) in &a {
                    let bv = b.get(k).unwrap_or(&Value::Null);
                    if bv != av {
                        lines.push(format!("{}: {} → {}", key_label(k), plain(bv), plain(av)));
                    }
                }
                return lines;
            }
            for (k, v) in map {
                match v {
                    Value::Array(changes) if k == "changes" => {
                        for c in changes {
                            let field =
                                key_label(c.get("field").and_then(Value::as_str).unwrap_or("?"));
                            let before = c.get("before").map(plain).unwrap_or_default();
                            let after = c.get("after").map(plain).unwrap_or_default();
                            lines.push(format!("{field}: {before} → {after}"));
                        }
                    }
                    Value::Object(inner) => match before_after(v) {
                        Some((b, a)) => {
                            lines.push(format!("{}: {} → {}", key_label(k), plain(&b), plain(&a)))
                        }
                        None => {
                            for (ik, iv) in inner {
                                if !matches!(iv, Value::Null) && iv.as_str() != Some("") {
                                    lines.push(format!("{}: {}", key_label(ik), plain(iv)));
                                }
                            }
                        }
                    },
                    Value::Null => {}
                    other => lines.push(format!("{}: {}", key_label(k), plain(other))),
                }
            }
        }
        Value::Null => {}
        other => lines.push(plain(other)),
    }
    lines.truncate(30);
    lines
}

impl From<AuditEntry> for AuditRow {
    fn from(a: AuditEntry) -> Self {
        Self {
            at: when(a.at),
            lines: describe(&a.detail),
            actor: actor_label(&a.actor),
            actor_key: a.actor,
            action_label: action_label(&a.action),
            action: a.action,
        }
    }
}

#[derive(Template)]
#[template(path = "extension.html")]
struct DetailPage {
    layout: Layout,
    csrf_token: String,
    number: String,
    href: String,
    name: String,
    synced: bool,
    excluded: bool,
    enabled: bool,
    /// The next sync overwrites the fields: shown read-only.
    read_only: bool,
    /// The "excluded" note under Details; not right after excluding, when the notice says it.
    excluded_note: bool,
    synced_note: &'static str,
    graph_user_id: Option<String>,
    groups: Vec<String>,
    /// Derived from the business phone (User Sync setting); empty when none.
    outbound_caller_id: String,
    created_at: String,
    updated_at: String,
    synced_at: Option<String>,
    fields: Vec<FormField>,
    delete_warning: Option<String>,
    audit: Vec<AuditRow>,
    notice: Option<&'static str>,
    error: Option<String>,
}

fn detail_notice(key: Option<&str>) -> Option<&'static str> {
    match key? {
        "created" => Some("Local extension created."),
        "saved" => Some("Saved."),
        "excluded" => Some(
            "Excluded from sync: the sync no longer changes this extension, and its fields can be edited here.",
        ),
        "included" => Some(
            "Included in sync again: the next sync brings the fields back in line with Microsoft 365.",
        ),
        _ => None,
    }
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct NoticeQuery {
    notice: Option<String>,
}

async fn show_detail(
    state: &AppState,
    session: &Session,
    number: &str,
    status: StatusCode,
    notice: Option<&'static str>,
    edit: Option<(SyncedFields, Vec<FieldError>)>,
) -> Response {
    let store = state.extensions();
    let ext = match store.get_extension(number).await {
        Ok(Some(e)) => e,
        Ok(None) => return no_such_extension(number),
        Err(e) => return internal_error(&e),
    };
    let audit = match store.audit_log(Some(number), AUDIT_ROWS).await {
        Ok(a) => a,
        Err(e) => return internal_error(&e),
    };
    let caller_id = match business_phone_as_caller_id(state).await {
        Ok(on) => outbound_caller_id(&ext, on),
        Err(e) => return internal_error(&e),
    };
    let row = Row::from(ext.clone());
    let read_only = sync_owned(&ext);
    let (values, errors) = edit.unwrap_or_else(|| (ext.fields.clone(), Vec::new()));
    let page = DetailPage {
        layout: Layout::signed_in(session, "extensions"),
        csrf_token: session.csrf_token.clone(),
        href: row.href,
        name: row.name,
        synced: ext.origin == Origin::AzureAd,
        excluded: ext.excluded,
        enabled: ext.enabled,
        read_only,
        excluded_note: notice != detail_notice(Some("excluded")),
        synced_note: SYNCED_NOTE,
        graph_user_id: ext.graph_user_id.clone(),
        groups: ext.groups.clone(),
        outbound_caller_id: caller_id,
        created_at: when(ext.created_at),
        updated_at: when(ext.updated_at),
        synced_at: ext.synced_at.map(when),
        fields: form_fields(&values, &errors),
        delete_warning: (ext.origin == Origin::AzureAd).then(|| delete_warning(number)),
        audit: audit.into_iter().map(AuditRow::from).collect(),
        notice,
        error: (!errors.is_empty())
            .then(|| "Some fields are not valid: see the messages next to them.".to_owned()),
        number: ext.number,
    };
    render(status, &page)
}

fn no_such_extension(number: &str) -> Response {
    error_page(
        StatusCode::NOT_FOUND,
        "No such extension",
        &format!(
            "There is no extension {}. The Extensions page lists them all.",
            number.chars().take(40).collect::<String>()
        ),
    )
}

/// `GET /extensions/{number}`
pub(crate) async fn detail(
    State(state): State<AppState>,
    ConsoleUser(session): ConsoleUser,
    Path(number): Path<String>,
    Query(query): Query<NoticeQuery>,
) -> Response {
    let notice = detail_notice(query.notice.as_deref());
    show_detail(&state, &session, &number, StatusCode::OK, notice, None).await
}

/// `POST /extensions/{number}`: save the fields of a local (or excluded) extension.
pub(crate) async fn save(
    State(state): State<AppState>,
    ConsoleUser(session): ConsoleUser,
    Path(number): Path<String>,
    Form(form): Form<FieldsForm>,
) -> Response {
    if let Some(denied) = csrf_denied(&session, form.csrf_token.as_deref()) {
        return denied;
    }
    let store = state.extensions();
    let current = match store.get_extension(&number).await {
        Ok(Some(e)) => e,
        Ok(None) => return no_such_extension(&number),
        Err(e) => return internal_error(&e),
    };
    if sync_owned(&current) {
        return error_page(
            StatusCode::CONFLICT,
            "Synced from Microsoft 365",
            &format!(
                "Extension {number} is synced from Microsoft 365, so local changes would be reverted by the next sync. Edit the user in Microsoft 365, or exclude the extension from sync first."
            ),
        );
    }
    let fields = match form.input().apply_to(&current.fields) {
        Ok(f) => f,
        Err(errors) => {
            return show_detail(
                &state,
                &session,
                &number,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                Some((form.as_typed(), errors)),
            )
            .await;
        }
    };
    if fields != current.fields {
        let actor = admin_actor(&session.username);
        match store
            .edit_extension(&number, &fields, &actor, state.now())
            .await
        {
            Ok(true) => tracing::info!(user = %session.username, %number, "extension edited"),
            Ok(false) => return no_such_extension(&number),
            Err(e) => return internal_error(&e),
        }
    }
    Redirect::to(&format!(
        "/extensions/{}?notice=saved",
        path_segment(&number)
    ))
    .into_response()
}

#[derive(Debug, Deserialize)]
pub(crate) struct ExcludedForm {
    csrf_token: Option<String>,
    #[serde(default)]
    excluded: String,
}

/// `POST /extensions/{number}/excluded`: "Exclude from sync" / "Include in sync".
pub(crate) async fn set_excluded(
    State(state): State<AppState>,
    ConsoleUser(session): ConsoleUser,
    Path(number): Path<String>,
    Form(form): Form<ExcludedForm>,
) -> Response {
    if let Some(denied) = csrf_denied(&session, form.csrf_token.as_deref()) {
        return denied;
    }
    let excluded = match form.excluded.as_str() {
        "true" => true,
        "false" => false,
        _ => {
            return error_page(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Not understood",
                "The form must say excluded=true or excluded=false. Reload the page and try again.",
            );
        }
    };
    let actor = admin_actor(&session.username);
    match state
        .extensions()
        .set_excluded(&number, excluded, &actor, state.now())
        .await
    {
        Ok(true) => {
            tracing::info!(user = %session.username, %number, excluded, "extension sync exclusion set");
            let notice = if excluded { "excluded" } else { "included" };
            Redirect::to(&format!(
                "/extensions/{}?notice={notice}",
                path_segment(&number)
            ))
            .into_response()
        }
        Ok(false) => no_such_extension(&number),
        Err(e) => internal_error(&e),
    }
}

/// `POST /extensions/{number}/delete`: the confirmed delete.
pub(crate) async fn delete(
    State(state): State<AppState>,
    ConsoleUser(session): ConsoleUser,
    Path(number): Path<String>,
    Form(form): Form<super::pages::CsrfForm>,
) -> Response {
    if let Some(denied) = csrf_denied(&session, form.csrf_token.as_deref()) {
        return denied;
    }
    let actor = admin_actor(&session.username);
    match state
        .extensions()
        .delete_extension(&number, &actor, state.now())
        .await
    {
        Ok(true) => {
            tracing::info!(user = %session.username, %number, "extension deleted");
            Redirect::to("/extensions?notice=deleted").into_response()
        }
        Ok(false) => no_such_extension(&number),
        Err(e) => internal_error(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::{actor_label, describe};
    use serde_json::json;

    #[test]
    fn audit_details_read_as_before_and_after() {
        assert_eq!(
            describe(&json!({"changes": [{"field": "mobile", "before": "", "after": "+1 555"}]})),
            ["Mobile: (empty) → \"+1 555\""]
        );
        assert_eq!(
            describe(
                &json!({"before": {"excluded": false, "x": 1}, "after": {"excluded": true, "x": 1}})
            ),
            ["Excluded from sync: no → yes"]
        );
        assert_eq!(
            describe(&json!({"excluded": {"before": false, "after": true}})),
            ["Excluded from sync: no → yes"]
        );
        let mut lines =
            describe(&json!({"fields": {"first_name": "Ada", "mobile": ""}, "enabled": true}));
        lines.sort();
        assert_eq!(lines, ["Enabled: yes", "First name: \"Ada\""]);
        assert_eq!(
            describe(&json!({"reason": "removed_from_tenant"})),
            ["Reason: the user was removed from Microsoft 365"]
        );
        assert!(describe(&json!(null)).is_empty());
    }

    #[test]
    fn actors_read_as_people_and_the_sync() {
        assert_eq!(actor_label("sync:users"), "User sync");
        assert_eq!(
            actor_label("sync:users (started by admin:alice)"),
            "User sync, started by alice"
        );
        assert_eq!(
            actor_label("sync:users (started by api:deploy)"),
            "User sync, started by API token deploy"
        );
        assert_eq!(actor_label("admin:alice"), "alice (console)");
        assert_eq!(actor_label("api:deploy"), "API token deploy");
        assert_eq!(actor_label("demo"), "demo");
    }
}
