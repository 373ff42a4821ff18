//! `GET /v1.0/groups`, `/v1.0/groups/{id}`, and a group's `members` / `transitiveMembers`,
//! optionally cast to `microsoft.graph.user` or `microsoft.graph.group`
//! (G `api/group-list.md`, `api/group-list-transitivemembers.md`).

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::auth;
use super::errors::GraphError;
use super::filter::{self, Expr, Field, FieldKind, Record, Schema};
use super::headers::GraphCtx;
use super::paging;
use super::query::Query;
use super::users::{self, UserSchema, json_response, respond};
use crate::clock::graph_date_time;
use crate::directory::props::filter as ops;
use crate::directory::props::{self, DEFAULT_SET, Kind, PropId};
use crate::directory::{Directory, Group, Member, json};
use crate::state::AppState;

/// Application permissions that can read groups and their members.
pub const READ_ROLES: &[&str] = &[
    "GroupMember.Read.All",
    "Group.Read.All",
    "Group.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];

const GROUP_TYPE: &str = "microsoft.graph.group";

/// Group properties, in the order Graph lists them; all returned without `$select`.
const PROPERTIES: &[&str] = &[
    "id",
    "deletedDateTime",
    "classification",
    "createdDateTime",
    "creationOptions",
    "description",
    "displayName",
    "expirationDateTime",
    "groupTypes",
    "isAssignableToRole",
    "mail",
    "mailEnabled",
    "mailNickname",
    "membershipRule",
    "membershipRuleProcessingState",
    "onPremisesDomainName",
    "onPremisesLastSyncDateTime",
    "onPremisesNetBiosName",
    "onPremisesSamAccountName",
    "onPremisesSecurityIdentifier",
    "onPremisesSyncEnabled",
    "preferredDataLocation",
    "preferredLanguage",
    "proxyAddresses",
    "renewedDateTime",
    "resourceBehaviorOptions",
    "resourceProvisioningOptions",
    "securityEnabled",
    "securityIdentifier",
    "theme",
    "visibility",
    "onPremisesProvisioningErrors",
    "serviceProvisioningErrors",
];

fn group_property(name: &str) -> Option<&'static str> {
    PROPERTIES
        .iter()
        .find(|p| p.eq_ignore_ascii_case(name))
        .copied()
}

fn group_value(g: &Group, name: &str) -> Value {
    let created = || {
        jiff::Timestamp::from_second(g.created)
            .map(graph_date_time)
            .map_or(Value::Null, Value::String)
    };
    match name {
        "id" => json!(g.id.to_string()),
        "createdDateTime" | "renewedDateTime" => created(),
        "description" => json!(g.description),
        "displayName" => json!(g.display_name),
        "groupTypes" => json!(g.group_types),
        "mail" => json!(g.mail),
        "mailEnabled" => json!(g.mail_enabled),
        "mailNickname" => json!(g.mail_nickname),
        "securityEnabled" => json!(g.security_enabled),
        "proxyAddresses" => json!(
            g.mail
                .iter()
                .map(|m| format!("SMTP:{m}"))
                .collect::<Vec<_>>()
        ),
        "visibility" if g.group_types.iter().any(|t| t == "Unified") => json!("Private"),
        "creationOptions"
        | "resourceBehaviorOptions"
        | "resourceProvisioningOptions"
        | "onPremisesProvisioningErrors"
        | "serviceProvisioningErrors" => json!([]),
        _ => Value::Null,
    }
}

fn group_json(g: &Group, select: Option<&[&'static str]>) -> Map<String, Value> {
    select
        .unwrap_or(PROPERTIES)
        .iter()
        .map(|n| ((*n).to_owned(), group_value(g, n)))
        .collect()
}

#[derive(Debug, Clone, Copy)]
struct GroupSchema;

impl Schema for GroupSchema {
    fn type_name(&self) -> &'static str {
        GROUP_TYPE
    }

    fn resource(&self) -> &'static str {
        "Group"
    }

    fn field(&self, name: &str) -> Option<(&'static str, Field)> {
        let canonical = group_property(name)?;
        let text = |id, o| Field {
            id,
            kind: FieldKind::Text,
            ops: o,
        };
        let field = match canonical {
            "id" => Field {
                id: 0,
                kind: FieldKind::Id,
                ops: ops::EQ,
            },
            "displayName" => text(0, ops::EQ | ops::STARTS_WITH),
            "mailNickname" => text(1, ops::EQ | ops::STARTS_WITH),
            "mail" => text(2, ops::EQ | ops::STARTS_WITH | ops::ENDS_WITH),
            "description" => text(3, ops::EQ | ops::STARTS_WITH),
            "securityEnabled" => Field {
                id: 0,
                kind: FieldKind::Bool,
                ops: ops::EQ,
            },
            "mailEnabled" => Field {
                id: 1,
                kind: FieldKind::Bool,
                ops: ops::EQ,
            },
            _ => text(0, 0),
        };
        Some((canonical, field))
    }

    fn searchable(&self, field: &Field) -> bool {
        field.kind == FieldKind::Text && field.ops != 0
    }
}

impl Record for Group {
    fn text(&self, field: u8) -> Option<&str> {
        match field {
            0 => Some(&self.display_name),
            1 => Some(&self.mail_nickname),
            2 => self.mail.as_deref(),
            3 => self.description.as_deref(),
            _ => None,
        }
    }

    fn boolean(&self, field: u8) -> Option<bool> {
        Some(if field == 0 {
            self.security_enabled
        } else {
            self.mail_enabled
        })
    }

    fn id(&self) -> Uuid {
        self.id
    }
}

fn parse_group_select(query: &Query) -> Result<Option<Vec<&'static str>>, GraphError> {
    let Some(raw) = query.option("select") else {
        return Ok(None);
    };
    let mut out = Vec::new();
    for item in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let name =
            group_property(item).ok_or_else(|| filter::unknown_property(GROUP_TYPE, item))?;
        if !out.contains(&name) {
            out.push(name);
        }
    }
    Ok((!out.is_empty()).then_some(out))
}

/// `$filter` and `$search` for a list, with the advanced-query rules of §2.2.
fn parse_conditions(
    query: &Query,
    schema: &dyn Schema,
    advanced: bool,
    filter_needs_advanced: bool,
) -> Result<(Option<Expr>, Option<Expr>), GraphError> {
    let search = match query.option("search") {
        None => None,
        Some(_) if !advanced => {
            return Err(GraphError::new(
                StatusCode::BAD_REQUEST,
                "Request_UnsupportedQuery",
                "Request with $search query parameter only works through MSGraph with a special request header: 'ConsistencyLevel: eventual'",
            ));
        }
        Some(text) => Some(filter::parse_search(text, schema)?),
    };
    let filter = match query.option("filter") {
        None => None,
        Some(text) => {
            let parsed = filter::parse_filter(text, schema)?;
            if (parsed.advanced || filter_needs_advanced) && !advanced {
                return Err(filter::unsupported_query());
            }
            Some(parsed.expr)
        }
    };
    Ok((filter, search))
}

pub async fn list(
    State(state): State<AppState>,
    ctx: GraphCtx,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    respond(&ctx, list_groups(&state, &ctx, &headers, raw.as_deref()))
}

fn list_groups(
    state: &AppState,
    ctx: &GraphCtx,
    headers: &HeaderMap,
    raw: Option<&str>,
) -> Result<Response, GraphError> {
    let (query, advanced, top) = users::begin_list(state, ctx, headers, raw, READ_ROLES)?;
    let select = parse_group_select(&query)?;
    let (filter, search) = parse_conditions(&query, &GroupSchema, advanced, false)?;
    let token = users::decode_skiptoken(&query)?;
    let matches = |g: &Group| {
        filter.as_ref().is_none_or(|e| filter::eval(e, g))
            && search.as_ref().is_none_or(|e| filter::eval(e, g))
    };
    let context = match &select {
        None => format!("{}/v1.0/$metadata#groups", ctx.base),
        Some(sel) => format!("{}/v1.0/$metadata#groups({})", ctx.base, sel.join(",")),
    };
    let tenant = state.tenant();
    let dir = &tenant.directory;
    let count = users::wants_count(&query, advanced, token)
        .then(|| dir.groups().iter().filter(|g| matches(g)).count());
    let (items, next) = if dir.quirks.empty_pages && token.is_none() {
        (Vec::new(), Some(0))
    } else {
        let page = paging::take_page(
            dir.groups().len(),
            token.map_or(0, |t| t.position),
            top,
            |pos| {
                let g = dir.groups().get(pos)?;
                matches(g).then(|| u32::try_from(pos).ok()).flatten()
            },
        );
        let items: Vec<String> = page
            .items
            .iter()
            .filter_map(|i| dir.group(*i))
            .map(|g| Value::Object(group_json(g, select.as_deref())).to_string())
            .collect();
        (items, page.next)
    };
    drop(tenant);
    let next = paging::page_next_link(&ctx.base, "/v1.0/groups", raw, next);
    let body = paging::collection_body(&context, count, next.as_deref(), None, &items.join(","));
    Ok(json_response(body, users::resource_units(&query)))
}

fn group_not_found(key: &str) -> GraphError {
    GraphError::new(
        StatusCode::NOT_FOUND,
        "Request_ResourceNotFound",
        format!(
            "Resource '{key}' does not exist or one of its queried reference-property objects are not present."
        ),
    )
}

pub async fn get(
    State(state): State<AppState>,
    ctx: GraphCtx,
    headers: HeaderMap,
    Path(key): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    respond(
        &ctx,
        get_group(&state, &ctx, &headers, &key, raw.as_deref()),
    )
}

fn get_group(
    state: &AppState,
    ctx: &GraphCtx,
    headers: &HeaderMap,
    key: &str,
    raw: Option<&str>,
) -> Result<Response, GraphError> {
    auth::authorize(state, ctx, headers, READ_ROLES)?;
    let query = Query::parse(raw);
    let select = parse_group_select(&query)?;
    let context = match &select {
        None => format!("{}/v1.0/$metadata#groups/$entity", ctx.base),
        Some(sel) => format!(
            "{}/v1.0/$metadata#groups({})/$entity",
            ctx.base,
            sel.join(",")
        ),
    };
    let tenant = state.tenant();
    let dir = &tenant.directory;
    let group = dir
        .find_group(key)
        .and_then(|i| dir.group(i))
        .ok_or_else(|| group_not_found(key))?;
    let mut body = Map::new();
    body.insert("@odata.context".to_owned(), Value::String(context));
    body.extend(group_json(group, select.as_deref()));
    drop(tenant);
    Ok(json_response(
        Value::Object(body).to_string(),
        users::resource_units(&query),
    ))
}

/// Which member list and which cast.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cast {
    None,
    User,
    Group,
}

/// The six member-list routes differ only in `transitive` and the cast; each is a thin
/// axum handler over [`list_members`].
macro_rules! member_handlers {
    ($($name:ident => ($transitive:expr, $cast:expr);)*) => {$(
        pub async fn $name(
            State(state): State<AppState>,
            ctx: GraphCtx,
            headers: HeaderMap,
            Path(key): Path<String>,
            RawQuery(raw): RawQuery,
        ) -> Response {
            let r = list_members(&state, &ctx, &headers, &key, raw.as_deref(), $transitive, $cast);
            respond(&ctx, r)
        }
    )*};
}

member_handlers! {
    members => (false, Cast::None);
    members_users => (false, Cast::User);
    members_groups => (false, Cast::Group);
    transitive => (true, Cast::None);
    transitive_users => (true, Cast::User);
    transitive_groups => (true, Cast::Group);
}

/// `$select` of a member list: user properties, group properties, or either (uncast).
struct MemberSelect {
    user: Option<Vec<PropId>>,
    group: Option<Vec<&'static str>>,
    names: Option<Vec<&'static str>>,
}

fn member_select(query: &Query, cast: Cast) -> Result<MemberSelect, GraphError> {
    let Some(raw) = query.option("select") else {
        return Ok(MemberSelect {
            user: None,
            group: None,
            names: None,
        });
    };
    let type_name = match cast {
        Cast::None => "microsoft.graph.directoryObject",
        Cast::User => users::USER_TYPE,
        Cast::Group => GROUP_TYPE,
    };
    let (mut user, mut group, mut names) = (Vec::new(), Vec::new(), Vec::new());
    for item in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let u = (cast != Cast::Group)
            .then(|| props::by_name(item))
            .flatten();
        let g = (cast != Cast::User).then(|| group_property(item)).flatten();
        if u.is_none() && g.is_none() {
            return Err(filter::unknown_property(type_name, item));
        }
        if let Some(u) = u {
            if props::prop(u).kind == Kind::NotInCollection {
                return Err(users::not_in_collection());
            }
            if !user.contains(&u) {
                user.push(u);
            }
        }
        if let Some(g) = g
            && !group.contains(&g)
        {
            group.push(g);
        }
        let name = u.map(|u| props::prop(u).name).or(g).unwrap_or_default();
        if !names.contains(&name) {
            names.push(name);
        }
    }
    Ok(MemberSelect {
        user: Some(user),
        group: Some(group),
        names: Some(names),
    })
}

fn list_members(
    state: &AppState,
    ctx: &GraphCtx,
    headers: &HeaderMap,
    key: &str,
    raw: Option<&str>,
    transitive: bool,
    cast: Cast,
) -> Result<Response, GraphError> {
    let (query, advanced, top) = users::begin_list(state, ctx, headers, raw, READ_ROLES)?;
    let select = member_select(&query, cast)?;
    // Filtering members is an advanced query [doc: group-list-transitivemembers]; users only.
    let (filter, search) = match cast {
        Cast::User => parse_conditions(&query, &UserSchema, advanced, true)?,
        Cast::Group => parse_conditions(&query, &GroupSchema, advanced, true)?,
        Cast::None if query.option("filter").is_some() || query.option("search").is_some() => {
            return Err(filter::unsupported_query());
        }
        Cast::None => (None, None),
    };
    let token = users::decode_skiptoken(&query)?;
    let (segment, set) = match cast {
        Cast::None => ("", "directoryObjects"),
        Cast::User => ("/microsoft.graph.user", "users"),
        Cast::Group => ("/microsoft.graph.group", "groups"),
    };
    let context = match &select.names {
        None => format!("{}/v1.0/$metadata#{set}", ctx.base),
        Some(n) => format!("{}/v1.0/$metadata#{set}({})", ctx.base, n.join(",")),
    };
    let tenant = state.tenant();
    let dir = &tenant.directory;
    let gidx = dir.find_group(key).ok_or_else(|| group_not_found(key))?;
    let all = if transitive {
        dir.transitive_members(gidx)
    } else {
        dir.direct_members(gidx)
    };
    let keep = |m: &Member| -> bool {
        match (*m, cast) {
            (Member::User(_), Cast::Group) | (Member::Group(_), Cast::User) => false,
            (Member::User(u), _) => dir.user(u).is_some_and(|u| {
                filter.as_ref().is_none_or(|e| filter::eval(e, u))
                    && search.as_ref().is_none_or(|e| filter::eval(e, u))
            }),
            (Member::Group(g), _) => dir.group(g).is_some_and(|g| {
                filter.as_ref().is_none_or(|e| filter::eval(e, g))
                    && search.as_ref().is_none_or(|e| filter::eval(e, g))
            }),
        }
    };
    let members: Vec<Member> = all.into_iter().filter(|m| keep(m)).collect();
    let count = users::wants_count(&query, advanced, token).then_some(members.len());
    let (value, next) = if dir.quirks.empty_pages && token.is_none() {
        (String::new(), Some(0))
    } else {
        let start = token.map_or(0, |t| t.position);
        let page = paging::take_page(members.len(), start, top, |pos| {
            members.get(pos).and(u32::try_from(pos).ok())
        });
        let mut value = String::new();
        for (n, pos) in page.items.iter().enumerate() {
            if n > 0 {
                value.push(',');
            }
            if let Some(m) = members.get(*pos as usize) {
                push_member(&mut value, dir, *m, cast, &select);
            }
        }
        (value, page.next)
    };
    drop(tenant);
    let kind = if transitive {
        "transitiveMembers"
    } else {
        "members"
    };
    let path = format!("/v1.0/groups/{key}/{kind}{segment}");
    let next = paging::page_next_link(&ctx.base, &path, raw, next);
    let body = paging::collection_body(&context, count, next.as_deref(), None, &value);
    Ok(json_response(body, users::resource_units(&query)))
}

fn push_member(out: &mut String, dir: &Directory, m: Member, cast: Cast, select: &MemberSelect) {
    match m {
        Member::User(u) => {
            let Some(user) = dir.user(u) else {
                return;
            };
            let props_out: &[PropId] = select.user.as_deref().unwrap_or(&DEFAULT_SET);
            out.push('{');
            if cast == Cast::None {
                out.push_str("\"@odata.type\":\"#microsoft.graph.user\"");
                if !props_out.is_empty() {
                    out.push(',');
                }
            }
            json::push_props(out, user, props_out);
            out.push('}');
        }
        Member::Group(g) => {
            let Some(group) = dir.group(g) else {
                return;
            };
            let mut map = Map::new();
            if cast == Cast::None {
                map.insert("@odata.type".to_owned(), json!("#microsoft.graph.group"));
            }
            map.extend(group_json(group, select.group.as_deref()));
            out.push_str(&Value::Object(map).to_string());
        }
    }
}
