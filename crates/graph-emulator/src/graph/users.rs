//! `GET /v1.0/users`, `/v1.0/users/$count`, `/v1.0/users/{id | userPrincipalName}` (§2.1, §2.2).

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use uuid::Uuid;

use super::auth;
use super::errors::GraphError;
use super::filter::{self, Expr, Field, FieldKind, Record, Schema};
use super::headers::GraphCtx;
use super::paging::{self, PageToken};
use super::query::Query;
use crate::directory::json;
use crate::directory::props::{self, DEFAULT_SET, Kind, PropId};
use crate::directory::{Directory, User};
use crate::state::AppState;

/// Application permissions that can read users (§2.1).
pub const READ_ROLES: &[&str] = &[
    "User.Read.All",
    "User.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];

pub const USER_TYPE: &str = "microsoft.graph.user";

/// `/users` page sizes (§2.1).
pub const DEFAULT_TOP: usize = 100;
pub const MAX_TOP: usize = 999;

/// The user's filterable shape: text fields are numbered by storage slot.
#[derive(Debug, Clone, Copy)]
pub struct UserSchema;

impl Schema for UserSchema {
    fn type_name(&self) -> &'static str {
        USER_TYPE
    }

    fn resource(&self) -> &'static str {
        "User"
    }

    fn field(&self, name: &str) -> Option<(&'static str, Field)> {
        let id = props::by_name(name)?;
        let p = props::prop(id);
        let field = match p.kind {
            Kind::Id => Field {
                id: 0,
                kind: FieldKind::Id,
                ops: p.filter,
            },
            Kind::AccountEnabled => Field {
                id: 0,
                kind: FieldKind::Bool,
                ops: p.filter,
            },
            Kind::Text(slot) => Field {
                id: slot,
                kind: FieldKind::Text,
                ops: p.filter,
            },
            _ => Field {
                id: 0,
                kind: FieldKind::Text,
                ops: 0,
            },
        };
        Some((p.name, field))
    }

    fn searchable(&self, field: &Field) -> bool {
        field.kind == FieldKind::Text
            && props::prop_of_slot(field.id).is_some_and(|p| props::prop(p).searchable)
    }
}

impl Record for User {
    fn text(&self, field: u8) -> Option<&str> {
        self.data.get(field)
    }

    fn boolean(&self, _field: u8) -> Option<bool> {
        Some(self.account_enabled)
    }

    fn id(&self) -> Uuid {
        self.id
    }
}

/// `ConsistencyLevel: eventual` turns on advanced queries (§2.2).
pub fn is_advanced(headers: &HeaderMap) -> bool {
    headers
        .get_all("consistencylevel")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.trim().eq_ignore_ascii_case("eventual"))
}

/// `$top`: 1..=`max`, else 400 with Graph's words (§2.1).
pub fn parse_top(query: &Query, default: usize, max: usize) -> Result<usize, GraphError> {
    let Some(raw) = query.option("top") else {
        return Ok(default);
    };
    match raw.trim().parse::<i64>() {
        Ok(n) if n >= 1 && usize::try_from(n).is_ok_and(|n| n <= max) => {
            Ok(usize::try_from(n).unwrap_or(default))
        }
        _ => Err(GraphError::new(
            StatusCode::BAD_REQUEST,
            "Request_BadRequest",
            format!("Invalid page size specified: '{raw}'. Must be between 1 and {max} inclusive."),
        )),
    }
}

/// `$select` against the user properties, canonical names in request order. `collection`:
/// properties stored outside the directory answer 501 (§2.1).
pub fn parse_select(query: &Query, collection: bool) -> Result<Option<Vec<PropId>>, GraphError> {
    let Some(raw) = query.option("select") else {
        return Ok(None);
    };
    let mut out = Vec::new();
    for item in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let Some(id) = props::by_name(item) else {
            return Err(filter::unknown_property(USER_TYPE, item));
        };
        if collection && props::prop(id).kind == Kind::NotInCollection {
            return Err(not_in_collection());
        }
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Ok((!out.is_empty()).then_some(out))
}

pub fn not_in_collection() -> GraphError {
    GraphError::new(
        StatusCode::NOT_IMPLEMENTED,
        "NotImplemented",
        "This operation target is not yet supported.",
    )
}

pub fn select_names(select: &[PropId]) -> String {
    select
        .iter()
        .map(|p| props::prop(*p).name)
        .collect::<Vec<_>>()
        .join(",")
}

/// `x-ms-resource-unit` (§6.2): base 2, −1 with `$select`, −1 with `$top` < 20, +1 with
/// `$expand`, at least 1.
pub fn resource_units(query: &Query) -> u32 {
    let mut cost: i32 = 2;
    if query.option("select").is_some() {
        cost -= 1;
    }
    if query
        .option("top")
        .and_then(|t| t.trim().parse::<i64>().ok())
        .is_some_and(|t| t < 20)
    {
        cost -= 1;
    }
    if query.option("expand").is_some() {
        cost += 1;
    }
    u32::try_from(cost.max(1)).unwrap_or(1)
}

/// A JSON answer with the `x-ms-resource-unit` header.
pub fn json_response(body: String, units: u32) -> Response {
    let mut response = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response();
    response
        .headers_mut()
        .insert("x-ms-resource-unit", HeaderValue::from(units));
    response
}

pub fn respond(ctx: &GraphCtx, result: Result<Response, GraphError>) -> Response {
    result.unwrap_or_else(|e| e.render(ctx))
}

fn bad_skiptoken() -> GraphError {
    // [obs] the directory's answer to a page token it cannot use.
    GraphError::new(
        StatusCode::BAD_REQUEST,
        "Directory_ExpiredPageToken",
        "The specified page token value has expired and can no longer be included in your request.",
    )
}

/// What every paged list (`/users`, `/groups`, member lists) starts with: the caller must hold
/// one of `roles`; then the query, whether it is an advanced query, and `$top`.
pub(crate) fn begin_list(
    state: &AppState,
    ctx: &GraphCtx,
    headers: &HeaderMap,
    raw: Option<&str>,
    roles: &[&str],
) -> Result<(Query, bool, usize), GraphError> {
    auth::authorize(state, ctx, headers, roles)?;
    let query = Query::parse(raw);
    let advanced = is_advanced(headers);
    let top = parse_top(&query, DEFAULT_TOP, MAX_TOP)?;
    Ok((query, advanced, top))
}

/// `$count=true` is silently ignored without the header, and counts only on page one (§2.2).
pub(crate) fn wants_count(query: &Query, advanced: bool, token: Option<PageToken>) -> bool {
    advanced
        && token.is_none()
        && query
            .option("count")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

pub fn decode_skiptoken(query: &Query) -> Result<Option<PageToken>, GraphError> {
    query
        .option("skiptoken")
        .map(|t| PageToken::decode(t).ok_or_else(bad_skiptoken))
        .transpose()
}

/// `$orderby` for users: `displayName` or `userPrincipalName`, `asc` or `desc`.
#[derive(Debug, Clone, Copy)]
struct OrderBy {
    slot: u8,
    descending: bool,
}

/// The parsed options of a users collection request.
struct UserQuery {
    filter: Option<Expr>,
    search: Option<Expr>,
    order: Option<OrderBy>,
}

impl UserQuery {
    fn parse(query: &Query, advanced: bool) -> Result<UserQuery, GraphError> {
        let search = match query.option("search") {
            None => None,
            Some(_) if !advanced => {
                return Err(GraphError::new(
                    StatusCode::BAD_REQUEST,
                    "Request_UnsupportedQuery",
                    "Request with $search query parameter only works through MSGraph with a special request header: 'ConsistencyLevel: eventual'",
                ));
            }
            Some(text) => Some(filter::parse_search(text, &UserSchema)?),
        };
        let filter = match query.option("filter") {
            None => None,
            Some(text) => {
                let parsed = filter::parse_filter(text, &UserSchema)?;
                if parsed.advanced && !advanced {
                    return Err(filter::unsupported_query());
                }
                Some(parsed.expr)
            }
        };
        let order = match query.option("orderby") {
            None => None,
            Some(text) => {
                let mut words = text.split_whitespace();
                let name = words.next().unwrap_or("");
                let descending = match words.next().map(str::to_ascii_lowercase).as_deref() {
                    None | Some("asc") => false,
                    Some("desc") => true,
                    Some(_) => return Err(filter::invalid_filter()),
                };
                let id = props::by_name(name)
                    .ok_or_else(|| filter::unknown_property(USER_TYPE, name))?;
                let slot = match props::prop(id).kind {
                    Kind::Text(slot)
                        if matches!(props::prop(id).name, "displayName" | "userPrincipalName") =>
                    {
                        slot
                    }
                    _ => return Err(sorting_unsupported()),
                };
                // `$orderby` with `$filter` or `$search` is an advanced query (§2.2).
                if (filter.is_some() || search.is_some()) && !advanced {
                    return Err(sorting_unsupported());
                }
                Some(OrderBy { slot, descending })
            }
        };
        Ok(UserQuery {
            filter,
            search,
            order,
        })
    }

    fn matches(&self, user: &User) -> bool {
        user.is_live()
            && self.filter.as_ref().is_none_or(|e| filter::eval(e, user))
            && self.search.as_ref().is_none_or(|e| filter::eval(e, user))
    }

    /// Positions of a stable walk: arena indices, or indices into the sorted matches.
    fn sorted(&self, dir: &Directory) -> Option<Vec<u32>> {
        let order = self.order?;
        let mut idx: Vec<u32> = (0..dir.users().len())
            .filter_map(|i| u32::try_from(i).ok())
            .filter(|i| dir.user(*i).is_some_and(|u| self.matches(u)))
            .collect();
        idx.sort_by_cached_key(|i| {
            dir.user(*i)
                .and_then(|u| u.text(order.slot))
                .map(str::to_lowercase)
                .unwrap_or_default()
        });
        if order.descending {
            idx.reverse();
        }
        Some(idx)
    }

    fn count(&self, dir: &Directory) -> usize {
        dir.users().iter().filter(|u| self.matches(u)).count()
    }
}

fn sorting_unsupported() -> GraphError {
    GraphError::new(
        StatusCode::BAD_REQUEST,
        "Request_UnsupportedQuery",
        "Sorting not supported for current query.",
    )
}

pub async fn list(
    State(state): State<AppState>,
    ctx: GraphCtx,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    respond(&ctx, list_users(&state, &ctx, &headers, raw.as_deref()))
}

fn list_users(
    state: &AppState,
    ctx: &GraphCtx,
    headers: &HeaderMap,
    raw: Option<&str>,
) -> Result<Response, GraphError> {
    let (query, advanced, top) = begin_list(state, ctx, headers, raw, READ_ROLES)?;
    let select = parse_select(&query, true)?;
    let uq = UserQuery::parse(&query, advanced)?;
    let token = decode_skiptoken(&query)?;
    let want_count = wants_count(&query, advanced, token);
    let props_out: &[PropId] = select.as_deref().unwrap_or(&DEFAULT_SET);
    let context = match &select {
        None => format!("{}/v1.0/$metadata#users", ctx.base),
        Some(sel) => format!("{}/v1.0/$metadata#users({})", ctx.base, select_names(sel)),
    };

    let tenant = state.tenant();
    let dir = &tenant.directory;
    let count = want_count.then(|| uq.count(dir));
    let empty_first = dir.quirks.empty_pages && token.is_none();
    let (page, value) = if empty_first {
        let page = paging::Page {
            items: Vec::new(),
            next: Some(0),
        };
        (page, String::new())
    } else {
        let start = token.map_or(0, |t| t.position);
        let page = match uq.sorted(dir) {
            Some(sorted) => {
                paging::take_page(sorted.len(), start, top, |pos| sorted.get(pos).copied())
            }
            None => paging::take_page(dir.users().len(), start, top, |pos| {
                let i = u32::try_from(pos).ok()?;
                dir.user(i).filter(|u| uq.matches(u)).map(|_| i)
            }),
        };
        let mut value = String::with_capacity(page.items.len() * 420);
        for (n, i) in page.items.iter().enumerate() {
            if let Some(user) = dir.user(*i) {
                if n > 0 {
                    value.push(',');
                }
                json::push_user(&mut value, user, props_out);
            }
        }
        (page, value)
    };
    drop(tenant);
    let next = paging::page_next_link(&ctx.base, "/v1.0/users", raw, page.next);
    let body = paging::collection_body(&context, count, next.as_deref(), None, &value);
    Ok(json_response(body, resource_units(&query)))
}

/// `GET /v1.0/users/$count`: `text/plain`, advanced queries only (§2.2).
pub async fn count(
    State(state): State<AppState>,
    ctx: GraphCtx,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    respond(&ctx, count_users(&state, &ctx, &headers, raw.as_deref()))
}

fn count_users(
    state: &AppState,
    ctx: &GraphCtx,
    headers: &HeaderMap,
    raw: Option<&str>,
) -> Result<Response, GraphError> {
    auth::authorize(state, ctx, headers, READ_ROLES)?;
    if !is_advanced(headers) {
        return Err(GraphError::new(
            StatusCode::BAD_REQUEST,
            "Request_BadRequest",
            "$count is not currently supported.",
        ));
    }
    let query = Query::parse(raw);
    let uq = UserQuery::parse(&query, true)?;
    let n = uq.count(&state.tenant().directory);
    let mut response = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain;charset=utf-8")],
        n.to_string(),
    )
        .into_response();
    response.headers_mut().insert(
        "x-ms-resource-unit",
        HeaderValue::from(resource_units(&query)),
    );
    Ok(response)
}

/// `GET /v1.0/users/{id | userPrincipalName}`.
pub async fn get(
    State(state): State<AppState>,
    ctx: GraphCtx,
    headers: HeaderMap,
    Path(key): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    respond(&ctx, get_user(&state, &ctx, &headers, &key, raw.as_deref()))
}

pub fn user_not_found(key: &str) -> GraphError {
    GraphError::new(
        StatusCode::NOT_FOUND,
        "Request_ResourceNotFound",
        format!(
            "Resource '{key}' does not exist or one of its queried reference-property objects are not present."
        ),
    )
}

fn get_user(
    state: &AppState,
    ctx: &GraphCtx,
    headers: &HeaderMap,
    key: &str,
    raw: Option<&str>,
) -> Result<Response, GraphError> {
    auth::authorize(state, ctx, headers, READ_ROLES)?;
    let query = Query::parse(raw);
    let select = parse_select(&query, false)?;
    let props_out: &[PropId] = select.as_deref().unwrap_or(&DEFAULT_SET);
    let context = match &select {
        None => format!("{}/v1.0/$metadata#users/$entity", ctx.base),
        Some(sel) => format!(
            "{}/v1.0/$metadata#users({})/$entity",
            ctx.base,
            select_names(sel)
        ),
    };
    let tenant = state.tenant();
    let dir = &tenant.directory;
    let user = dir
        .find_live(key)
        .and_then(|i| dir.user(i))
        .ok_or_else(|| user_not_found(key))?;
    let mut body = String::with_capacity(600);
    body.push('{');
    json::push_key(&mut body, "@odata.context");
    json::push_str(&mut body, &context);
    if !props_out.is_empty() {
        body.push(',');
    }
    json::push_props(&mut body, user, props_out);
    body.push('}');
    drop(tenant);
    Ok(json_response(body, resource_units(&query)))
}
