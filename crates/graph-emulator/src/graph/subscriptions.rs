//! `/v1.0/subscriptions[/{id}[/reauthorize]]` for user change notifications (§5.1, §5.2,
//! §5.4). Deliveries and the handshake live in [`crate::subscriptions`].

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
    ChangeType, ExpiryProblem, HandshakeFailure, PER_APP_QUOTA, Subscription, USERS_MAX_MINUTES,
    grant_expiration, validate_endpoint,
};
use crate::tokens::AccessClaims;

/// The only application permission documented for `/users` subscriptions (§5.1, §9).
const SUBSCRIBE_ROLES: &[&str] = &["User.Read.All"];

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
    if claims.has_any_role(SUBSCRIBE_ROLES) {
        Ok(claims)
    } else {
        // What an app without User.Read.All reported (§5.1, §9) [obs].
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

/// `users`, `/users` or `/users/{id}` (case-insensitive) → `Some(None)` / `Some(Some(id))`.
fn parse_resource(resource: &str) -> Option<Option<Uuid>> {
    let path = resource.trim_start_matches('/');
    let mut parts = path.split('/');
    let first = parts.next()?;
    if !first.eq_ignore_ascii_case("users") {
        return None;
    }
    match (parts.next(), parts.next()) {
        (None, _) | (Some(""), None) => Some(None),
        (Some(id), None) => Uuid::parse_str(id).ok().map(Some),
        _ => None,
    }
}

fn parse_expiration(text: &str) -> Result<Timestamp, GraphError> {
    text.parse::<Timestamp>().map_err(|_| {
        GraphError::bad_request(format!(
            "Cannot convert the literal '{text}' to the expected type 'Edm.DateTimeOffset'."
        ))
    })
}

fn grant(state: &AppState, requested: Timestamp, now: Timestamp) -> Result<Timestamp, GraphError> {
    let config = state.tenant().subscriptions.config.clone();
    grant_expiration(requested, now, &config).map_err(|problem| match problem {
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
    let user = parse_resource(resource).ok_or_else(|| {
        // [inf] the emulator models user subscriptions only.
        invalid(format!(
            "Resource '{resource}' is not supported by the emulator; use '/users' or '/users/{{id}}'."
        ))
    })?;
    // The permission check belongs to the resource, so it follows the resource check.
    if !claims.has_any_role(SUBSCRIBE_ROLES) {
        return Err(extension_error(StatusCode::FORBIDDEN, op, "Forbidden"));
    }
    let change_type = string_prop(&map, "changeType", true)?.unwrap_or_default();
    let mut change_types = Vec::new();
    for part in change_type.split(',').map(str::trim) {
        let parsed = match part {
            "updated" => ChangeType::Updated,
            "deleted" => ChangeType::Deleted,
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
        return Err(extension_error(
            StatusCode::BAD_REQUEST,
            op,
            "Rich notifications (includeResourceData) are not supported for resource 'users'.",
        ));
    }
    let requested =
        parse_expiration(string_prop(&map, "expirationDateTime", true)?.unwrap_or_default())?;
    let now = state.now();
    let expiration = grant(state, requested, now)?;
    let quota_error = || {
        extension_error(
            StatusCode::FORBIDDEN,
            op,
            &format!(
                "Subscriptions limit exceeded: at most {PER_APP_QUOTA} user subscriptions per app and tenant."
            ),
        )
    };
    let id = {
        let mut tenant = state.tenant();
        if quota_used(&tenant.subscriptions.list, &claims.appid, now) >= PER_APP_QUOTA {
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
        user,
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
    if quota_used(&tenant.subscriptions.list, &claims.appid, state.now()) >= PER_APP_QUOTA {
        return Err(quota_error());
    }
    tenant.subscriptions.list.push(subscription.clone());
    Ok(subscription)
}

fn quota_used(list: &[Subscription], app: &str, now: Timestamp) -> usize {
    list.iter()
        .filter(|s| s.is_live(now) && s.application_id.eq_ignore_ascii_case(app))
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
        if state
            .tenant()
            .subscriptions
            .live_of_app(&id, &claims.appid, ctx.now)
            .is_none()
        {
            return Err(not_found(op));
        }
        let expiration = grant(&state, requested, ctx.now)?;
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
    s.reauthorizations += 1;
    StatusCode::NO_CONTENT.into_response()
}
