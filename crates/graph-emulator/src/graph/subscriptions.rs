//! `/v1.0/subscriptions[/{id}[/reauthorize]]` for user, contact and event change notifications
//! (§5.1, §5.2, §5.4). Deliveries and the handshake live in [`crate::subscriptions`].

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use jiff::Timestamp;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::auth;
use super::errors::GraphError;
use super::headers::GraphCtx;
use crate::state::AppState;
use crate::subscriptions::{
    ChangeType, ExpiryProblem, HandshakeFailure, PER_APP_QUOTA, PER_MAILBOX_QUOTA, Subscription,
    Target, USERS_MAX_MINUTES, grant_expiration, grant_outlook_expiration, validate_endpoint,
};
use crate::tokens::AccessClaims;

/// The only application permission documented for `/users` subscriptions (§5.1, §9).
const SUBSCRIBE_ROLES: &[&str] = &["User.Read.All"];
/// Contact subscriptions need a contacts permission (§5.1).
const CONTACT_ROLES: &[&str] = super::outlook::READ_ROLES;
/// Event subscriptions need a calendars permission (§5.1).
const CALENDAR_ROLES: &[&str] = super::outlook::CALENDAR_ROLES;

/// Properties of microsoft.graph.subscription a create body may carry.
const KNOWN: &[&str] = &[
    "changeType",
    "notificationUrl",
    "lifecycleNotificationUrl",
    "resource",
    "expirationDateTime",
    "clientState",
    "latestSupportedTlsVersion",
    "includeResourceData",
    "encryptionCertificate",
    "encryptionCertificateId",
    "notificationQueryOptions",
    "notificationContentType",
    "notificationUrlAppId",
    "applicationId",
    "creatorId",
    "id",
];

const TLS_VERSIONS: &[&str] = &["v1_0", "v1_1", "v1_2", "v1_3"];
const MAX_CLIENT_STATE: usize = 128;

#[derive(Debug, Clone, Copy)]
enum Operation {
    Create,
    Get,
    Update,
    Delete,
    Reauthorize,
}

impl Operation {
    fn name(self) -> &'static str {
        match self {
            Operation::Create => "Create",
            Operation::Get => "Get",
            Operation::Update => "Update",
            Operation::Delete => "Delete",
            Operation::Reauthorize => "Reauthorize",
        }
    }
}

/// The subscription back end's wrapped error (§5.4): `ExtensionError` with the inner status.
fn extension_error(status: StatusCode, op: Operation, reason: &str) -> GraphError {
    let inner = match status {
        StatusCode::FORBIDDEN => "Forbidden",
        StatusCode::NOT_FOUND => "NotFound",
        StatusCode::UNAUTHORIZED => "Unauthorized",
        _ => "BadRequest",
    };
    GraphError::new(
        status,
        "ExtensionError",
        format!(
            "Operation: {}; Exception: [Status Code: {inner}; Reason: {reason}]",
            op.name()
        ),
    )
}

fn invalid(message: impl Into<String>) -> GraphError {
    GraphError::new(StatusCode::BAD_REQUEST, "InvalidRequest", message)
}

fn not_found(op: Operation) -> GraphError {
    extension_error(
        StatusCode::NOT_FOUND,
        op,
        "Object was not found in the store.",
    )
}

fn authorize(
    state: &AppState,
    ctx: &GraphCtx,
    headers: &HeaderMap,
    op: Operation,
) -> Result<AccessClaims, GraphError> {
    let claims = auth::authenticate(state, ctx, headers)?;
    if claims.has_any_role(SUBSCRIBE_ROLES)
        || claims.has_any_role(CONTACT_ROLES)
        || claims.has_any_role(CALENDAR_ROLES)
    {
        Ok(claims)
    } else {
        // What an app without User.Read.All reported (§5.1, §9) [obs].
        Err(extension_error(StatusCode::FORBIDDEN, op, "Forbidden"))
    }
}

/// The role a subscription's resource needs, checked again once the subscription is known.
fn check_role(claims: &AccessClaims, s: &Subscription, op: Operation) -> Result<(), GraphError> {
    let roles = match s.target {
        Target::Contacts { .. } => CONTACT_ROLES,
        Target::Events { .. } => CALENDAR_ROLES,
        Target::Users(_) => SUBSCRIBE_ROLES,
    };
    if claims.has_any_role(roles) {
        Ok(())
    } else {
        Err(extension_error(StatusCode::FORBIDDEN, op, "Forbidden"))
    }
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn entity(ctx: &GraphCtx, s: &Subscription, status: StatusCode) -> Response {
    let mut map = Map::new();
    map.insert(
        "@odata.context".to_owned(),
        Value::String(format!("{}/v1.0/$metadata#subscriptions/$entity", ctx.base)),
    );
    map.extend(s.to_json());
    json_response(status, &Value::Object(map))
}

fn body_object(body: &[u8]) -> Result<Map<String, Value>, GraphError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        // [inf] OData's wording for an unreadable payload.
        _ => Err(GraphError::bad_request(
            "Invalid JSON. A JSON object is expected in the request body.",
        )),
    }
}

fn string_prop<'a>(
    map: &'a Map<String, Value>,
    name: &str,
    required: bool,
) -> Result<Option<&'a str>, GraphError> {
    match map.get(name) {
        None | Some(Value::Null) if required => Err(invalid(format!(
            "Required property '{name}' is missing in the request body."
        ))),
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(GraphError::bad_request(format!(
            "Cannot convert the literal to the expected type 'Edm.String' for property '{name}'."
        ))),
    }
}

/// `https://…`, or (emulator deviation) `http://` on 127.0.0.1, localhost or [::1].
fn parse_endpoint(name: &str, text: &str) -> Result<url::Url, GraphError> {
    let bad = || {
        invalid(format!(
            "Invalid '{name}'. The URL must use the 'https' scheme."
        ))
    };
    let url = url::Url::parse(text).map_err(|_| bad())?;
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        _ => Err(bad()),
    }
}

/// A `resource` the emulator can watch.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Resource {
    Users(Option<Uuid>),
    /// `users/{id | upn}/contacts` or `users/{id | upn}/contactFolders/{folderId}/contacts`.
    Contacts {
        user: String,
        folder: Option<String>,
    },
    /// `users/{id | upn}/events` (or `…/calendar/events`).
    Events {
        user: String,
    },
}

/// `users`, `/users`, `/users/{id}`, `/users/{id}/contacts`,
/// `/users/{id}/contactFolders/{folderId}/contacts`, `/users/{id}/events` (segment names in
/// any case).
fn parse_resource(resource: &str) -> Option<Resource> {
    let path = resource.trim_start_matches('/');
    let parts: Vec<&str> = path.split('/').collect();
    let is = |s: &str, name: &str| s.eq_ignore_ascii_case(name);
    match parts.as_slice() {
        [u] | [u, ""] if is(u, "users") => Some(Resource::Users(None)),
        [u, id] if is(u, "users") => Uuid::parse_str(id).ok().map(|id| Resource::Users(Some(id))),
        [u, id, c] if is(u, "users") && is(c, "contacts") && !id.is_empty() => {
            Some(Resource::Contacts {
                user: (*id).to_owned(),
                folder: None,
            })
        }
        [u, id, e] if is(u, "users") && is(e, "events") && !id.is_empty() => {
            Some(Resource::Events {
                user: (*id).to_owned(),
            })
        }
        [u, id, c, e]
            if is(u, "users") && is(c, "calendar") && is(e, "events") && !id.is_empty() =>
        {
            Some(Resource::Events {
                user: (*id).to_owned(),
            })
        }
        [u, id, f, fid, c]
            if is(u, "users")
                && is(f, "contactFolders")
                && is(c, "contacts")
                && !id.is_empty()
                && !fid.is_empty() =>
        {
            Some(Resource::Contacts {
                user: (*id).to_owned(),
                folder: Some((*fid).to_owned()),
            })
        }
        _ => None,
    }
}

/// The user (and folder) a contacts resource names, resolved now: subscriptions follow the
/// object, not the spelling.
fn resolve_contacts(
    state: &AppState,
    op: Operation,
    user: &str,
    folder: Option<&str>,
) -> Result<Target, GraphError> {
    let missing = |what: &str| {
        extension_error(
            StatusCode::NOT_FOUND,
            op,
            &format!("The {what} was not found."),
        )
    };
    let mut tenant = state.tenant();
    let crate::state::Tenant {
        directory,
        mailboxes,
        ..
    } = &mut *tenant;
    let idx = directory
        .find_live(user)
        .ok_or_else(|| missing(&format!("user '{user}'")))?;
    let record = directory.user(idx).ok_or_else(|| missing("user"))?;
    let user_id = record.id;
    let Some(mb) = mailboxes.open(idx, record) else {
        return Err(extension_error(
            StatusCode::NOT_FOUND,
            op,
            "MailboxNotEnabledForRESTAPI: The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
        ));
    };
    let folder = folder
        .map(|f| {
            mb.folder_num(f)
                .map_err(|_| missing(&format!("contact folder '{f}'")))
        })
        .transpose()?;
    Ok(Target::Contacts {
        user: user_id,
        folder,
    })
}

fn parse_expiration(text: &str) -> Result<Timestamp, GraphError> {
    text.parse::<Timestamp>().map_err(|_| {
        GraphError::bad_request(format!(
            "Cannot convert the literal '{text}' to the expected type 'Edm.DateTimeOffset'."
        ))
    })
}

fn grant(
    state: &AppState,
    requested: Timestamp,
    now: Timestamp,
    outlook: bool,
) -> Result<Timestamp, GraphError> {
    let config = state.tenant().subscriptions.config.clone();
    let granted = if outlook {
        grant_outlook_expiration(requested, now, &config)
    } else {
        grant_expiration(requested, now, &config)
    };
    granted.map_err(|problem| match problem {
        // [inf] wording.
        ExpiryProblem::Past => invalid("Subscription expiration must be in the future."),
        // [obs] the 2018 message, with the users maximum (§5.1).
        ExpiryProblem::TooFar => GraphError::new(
            StatusCode::BAD_REQUEST,
            "ExtensionError",
            format!(
                "Subscription expiration can only be {USERS_MAX_MINUTES} minutes in the future."
            ),
        ),
    })
}

fn handshake_error(failure: HandshakeFailure) -> GraphError {
    match failure {
        HandshakeFailure::NotOk => GraphError::new(
            StatusCode::BAD_REQUEST,
            "ValidationError",
            "Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request.",
        ),
        HandshakeFailure::Mismatch => GraphError::new(
            StatusCode::BAD_REQUEST,
            "ValidationError",
            "Subscription validation request failed. Response must exactly match validationToken query parameter.",
        ),
        HandshakeFailure::TimedOut => invalid("Subscription validation request timed out."),
    }
}

/// `POST /v1.0/subscriptions` → 201 after both endpoints pass the handshake.
pub async fn create(
    State(state): State<AppState>,
    ctx: GraphCtx,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match create_inner(&state, &ctx, &headers, &body).await {
        Ok(s) => entity(&ctx, &s, StatusCode::CREATED),
        Err(e) => e.render(&ctx),
    }
}

async fn create_inner(
    state: &AppState,
    ctx: &GraphCtx,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Subscription, GraphError> {
    let op = Operation::Create;
    let claims = auth::authenticate(state, ctx, headers)?;
    let map = body_object(body)?;
    if let Some(unknown) = map
        .keys()
        .find(|k| !k.starts_with('@') && !KNOWN.contains(&k.as_str()))
    {
        return Err(GraphError::bad_request(format!(
            "The property '{unknown}' does not exist on type 'microsoft.graph.subscription'. Make sure to only use property names that are defined by the type or mark the type as open type."
        )));
    }
    let resource = string_prop(&map, "resource", true)?.unwrap_or_default();
    let parsed = parse_resource(resource).ok_or_else(|| {
        // [inf] the emulator models user and contact subscriptions only.
        invalid(format!(
            "Resource '{resource}' is not supported by the emulator; use '/users', '/users/{{id}}', '/users/{{id}}/contacts', '/users/{{id}}/contactFolders/{{folderId}}/contacts' or '/users/{{id}}/events'."
        ))
    })?;
    let outlook = matches!(parsed, Resource::Contacts { .. } | Resource::Events { .. });
    // The permission check belongs to the resource, so it follows the resource check.
    let roles = match parsed {
        Resource::Contacts { .. } => CONTACT_ROLES,
        Resource::Events { .. } => CALENDAR_ROLES,
        Resource::Users(_) => SUBSCRIBE_ROLES,
    };
    if !claims.has_any_role(roles) {
        return Err(extension_error(StatusCode::FORBIDDEN, op, "Forbidden"));
    }
    let change_type = string_prop(&map, "changeType", true)?.unwrap_or_default();
    let mut change_types = Vec::new();
    for part in change_type.split(',').map(str::trim) {
        let parsed = match part {
            "updated" => ChangeType::Updated,
            "deleted" => ChangeType::Deleted,
            "created" if outlook => ChangeType::Created,
            "created" => {
                // §5.1: users support updated and deleted only [inf wording].
                return Err(extension_error(
                    StatusCode::BAD_REQUEST,
                    op,
                    "ChangeType 'created' is not supported for resource 'users'. Supported change types: updated, deleted.",
                ));
            }
            other => {
                return Err(invalid(format!(
                    "Invalid changeType '{other}'. Valid values: created, updated, deleted."
                )));
            }
        };
        if !change_types.contains(&parsed) {
            change_types.push(parsed);
        }
    }
    let notification_url = parse_endpoint(
        "notificationUrl",
        string_prop(&map, "notificationUrl", true)?.unwrap_or_default(),
    )?;
    let lifecycle_url = string_prop(&map, "lifecycleNotificationUrl", false)?
        .map(|u| parse_endpoint("lifecycleNotificationUrl", u))
        .transpose()?;
    let client_state = string_prop(&map, "clientState", false)?.map(str::to_owned);
    if client_state
        .as_deref()
        .is_some_and(|c| c.chars().count() > MAX_CLIENT_STATE)
    {
        return Err(invalid(format!(
            "clientState must be at most {MAX_CLIENT_STATE} characters."
        )));
    }
    let tls_version = string_prop(&map, "latestSupportedTlsVersion", false)?
        .unwrap_or("v1_2")
        .to_owned();
    if !TLS_VERSIONS.contains(&tls_version.as_str()) {
        return Err(invalid(format!(
            "Invalid latestSupportedTlsVersion '{tls_version}'. Valid values: v1_0, v1_1, v1_2, v1_3."
        )));
    }
    if map.get("includeResourceData") == Some(&Value::Bool(true)) {
        let reason = if outlook {
            // [inf] Graph has rich contact notifications; the emulator sends basic ones.
            "Rich notifications (includeResourceData) are not supported by the emulator."
        } else {
            "Rich notifications (includeResourceData) are not supported for resource 'users'."
        };
        return Err(extension_error(StatusCode::BAD_REQUEST, op, reason));
    }
    let requested =
        parse_expiration(string_prop(&map, "expirationDateTime", true)?.unwrap_or_default())?;
    let now = state.now();
    let expiration = grant(state, requested, now, outlook)?;
    let target = match parsed {
        Resource::Users(user) => Target::Users(user),
        Resource::Contacts { user, folder } => {
            resolve_contacts(state, op, &user, folder.as_deref())?
        }
        Resource::Events { user } => match resolve_contacts(state, op, &user, None)? {
            Target::Contacts { user, .. } => Target::Events { user },
            other => other,
        },
    };
    let quota_error = || {
        let reason = if outlook {
            format!(
                "Subscriptions limit exceeded: at most {PER_MAILBOX_QUOTA} subscriptions per mailbox."
            )
        } else {
            format!(
                "Subscriptions limit exceeded: at most {PER_APP_QUOTA} user subscriptions per app and tenant."
            )
        };
        extension_error(StatusCode::FORBIDDEN, op, &reason)
    };
    let over_quota = |list: &[Subscription], now: Timestamp| match target.mailbox() {
        Some(user) => mailbox_quota_used(list, user, now) >= PER_MAILBOX_QUOTA,
        None => quota_used(list, &claims.appid, now) >= PER_APP_QUOTA,
    };
    let id = {
        let mut tenant = state.tenant();
        if over_quota(&tenant.subscriptions.list, now) {
            return Err(quota_error());
        }
        tenant.new_guid()
    };
    validate_endpoint(state, &notification_url, &id)
        .await
        .map_err(handshake_error)?;
    if let Some(lifecycle) = &lifecycle_url {
        validate_endpoint(state, lifecycle, &id)
            .await
            .map_err(handshake_error)?;
    }
    let subscription = Subscription {
        id,
        resource: resource.to_owned(),
        target: target.clone(),
        application_id: claims.appid.clone(),
        creator_id: claims.oid.clone(),
        change_type: change_type.to_owned(),
        change_types,
        client_state,
        notification_url: notification_url.to_string(),
        lifecycle_url: lifecycle_url.map(|u| u.to_string()),
        expiration,
        tls_version,
        created: state.now(),
        reauthorizations: 0,
    };
    let mut tenant = state.tenant();
    if over_quota(&tenant.subscriptions.list, state.now()) {
        return Err(quota_error());
    }
    tenant.subscriptions.list.push(subscription.clone());
    Ok(subscription)
}

/// The app's live user subscriptions (the 100 per app and tenant quota, §5.1).
fn quota_used(list: &[Subscription], app: &str, now: Timestamp) -> usize {
    list.iter()
        .filter(|s| {
            s.is_live(now) && !s.target.is_outlook() && s.application_id.eq_ignore_ascii_case(app)
        })
        .count()
}

/// Live subscriptions on one mailbox, every app's, contacts and events together (the 1,000
/// per mailbox quota, §5.1).
fn mailbox_quota_used(list: &[Subscription], user: Uuid, now: Timestamp) -> usize {
    list.iter()
        .filter(|s| s.is_live(now) && s.target.mailbox() == Some(user))
        .count()
}

/// `GET /v1.0/subscriptions`: the calling app's live subscriptions.
pub async fn list(State(state): State<AppState>, ctx: GraphCtx, headers: HeaderMap) -> Response {
    let claims = match auth::authenticate(&state, &ctx, &headers) {
        Ok(c) => c,
        Err(e) => return e.render(&ctx),
    };
    let tenant = state.tenant();
    let value: Vec<Value> = tenant
        .subscriptions
        .list
        .iter()
        .filter(|s| s.is_live(ctx.now) && s.application_id.eq_ignore_ascii_case(&claims.appid))
        .map(|s| Value::Object(s.to_json()))
        .collect();
    json_response(
        StatusCode::OK,
        &json!({
            "@odata.context": format!("{}/v1.0/$metadata#subscriptions", ctx.base),
            "value": value,
        }),
    )
}

/// `GET /v1.0/subscriptions/{id}`.
pub async fn get(
    State(state): State<AppState>,
    ctx: GraphCtx,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let claims = match auth::authenticate(&state, &ctx, &headers) {
        Ok(c) => c,
        Err(e) => return e.render(&ctx),
    };
    let tenant = state.tenant();
    match tenant
        .subscriptions
        .live_of_app(&id, &claims.appid, ctx.now)
    {
        Some(s) => entity(&ctx, s, StatusCode::OK),
        None => not_found(Operation::Get).render(&ctx),
    }
}

/// `PATCH /v1.0/subscriptions/{id}` `{"expirationDateTime"}`: renew → 200 with the resource.
pub async fn update(
    State(state): State<AppState>,
    ctx: GraphCtx,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let op = Operation::Update;
    let result = (|| {
        let claims = authorize(&state, &ctx, &headers, op)?;
        let map = body_object(&body)?;
        if let Some(other) = map
            .keys()
            .find(|k| !k.starts_with('@') && k.as_str() != "expirationDateTime")
        {
            // [inf] the emulator renews only; notificationUrl changes are not modelled.
            return Err(invalid(format!(
                "Only expirationDateTime can be updated by the emulator, not '{other}'."
            )));
        }
        let requested =
            parse_expiration(string_prop(&map, "expirationDateTime", true)?.unwrap_or_default())?;
        let outlook = {
            let tenant = state.tenant();
            let s = tenant
                .subscriptions
                .live_of_app(&id, &claims.appid, ctx.now)
                .ok_or_else(|| not_found(op))?;
            check_role(&claims, s, op)?;
            s.target.is_outlook()
        };
        let expiration = grant(&state, requested, ctx.now, outlook)?;
        let mut tenant = state.tenant();
        let s = tenant
            .subscriptions
            .get_mut(&id)
            .filter(|s| s.is_live(ctx.now))
            .ok_or_else(|| not_found(op))?;
        s.expiration = expiration;
        Ok(s.clone())
    })();
    match result {
        Ok(s) => entity(&ctx, &s, StatusCode::OK),
        Err(e) => e.render(&ctx),
    }
}

/// `DELETE /v1.0/subscriptions/{id}` → 204.
pub async fn remove(
    State(state): State<AppState>,
    ctx: GraphCtx,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let claims = match auth::authenticate(&state, &ctx, &headers) {
        Ok(c) => c,
        Err(e) => return e.render(&ctx),
    };
    let mut tenant = state.tenant();
    if tenant
        .subscriptions
        .live_of_app(&id, &claims.appid, ctx.now)
        .is_none()
    {
        return not_found(Operation::Delete).render(&ctx);
    }
    tenant.subscriptions.remove(&id);
    StatusCode::NO_CONTENT.into_response()
}

/// `POST /v1.0/subscriptions/{id}/reauthorize` → 204, expiry unchanged (§5.4).
pub async fn reauthorize(
    State(state): State<AppState>,
    ctx: GraphCtx,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let op = Operation::Reauthorize;
    let claims = match authorize(&state, &ctx, &headers, op) {
        Ok(c) => c,
        Err(e) => return e.render(&ctx),
    };
    let mut tenant = state.tenant();
    let Some(s) = tenant
        .subscriptions
        .get_mut(&id)
        .filter(|s| s.is_live(ctx.now) && s.application_id.eq_ignore_ascii_case(&claims.appid))
    else {
        return not_found(op).render(&ctx);
    };
    if let Err(e) = check_role(&claims, s, op) {
        return e.render(&ctx);
    }
    s.reauthorizations += 1;
    StatusCode::NO_CONTENT.into_response()
}
