//! `GET /v1.0/users/delta` (§2.3), on top of the directory's change log.
//!
//! A round is the log range `(lower, upper]`: `upper` is the latest sequence when the round
//! starts, and the final page's deltaLink carries it as the next round's `lower`. Inside a
//! round, `$skiptoken` holds the sequence of the last object returned. A user changed while
//! a round is being paged moves past `upper` and shows up in the next round instead, so no
//! change is ever lost; nothing per token is stored on the server.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use uuid::Uuid;

use super::auth;
use super::errors::GraphError;
use super::filter;
use super::headers::GraphCtx;
use super::paging::{self, kind};
use super::query::Query;
use super::users::{self, READ_ROLES, UserSchema};
use crate::directory::json;
use crate::directory::props::{self, DEFAULT_SET, PropId, PropMask};
use crate::directory::{Directory, ExpireMode, Life, User};
use crate::state::AppState;

/// Directory delta tokens live 7 days (§2.3).
pub const TOKEN_LIFETIME_SECONDS: i64 = 7 * 86_400;

/// At most this many ids in `$filter=id eq … or …` (§2.3).
const MAX_FILTER_IDS: usize = 50;

/// Everything a delta request continues from; encoded whole into the tokens.
#[derive(Debug, Clone, Default)]
struct Round {
    epoch: u32,
    /// Emulator time (Unix seconds) the round's starting token was issued.
    issued: i64,
    lower: u64,
    upper: u64,
    /// Sequence of the last object already returned in this round.
    cursor: u64,
    /// The first round: removed objects are left out (they never existed for this client).
    initial: bool,
    empty_served: bool,
    select: Option<Vec<PropId>>,
    ids: Option<Vec<Uuid>>,
}

impl Round {
    fn encode(&self, token_kind: u8) -> String {
        let mut f: Vec<u64> = vec![
            u64::from(self.epoch),
            u64::try_from(self.issued).unwrap_or(0),
            self.lower,
            self.upper,
            self.cursor,
            u64::from(self.initial) | (u64::from(self.empty_served) << 1),
        ];
        match &self.select {
            None => f.push(0),
            Some(sel) => {
                f.push(sel.len() as u64 + 1);
                f.extend(sel.iter().map(|p| u64::from(*p)));
            }
        }
        match &self.ids {
            None => f.push(0),
            Some(ids) => {
                f.push(ids.len() as u64 + 1);
                for id in ids {
                    let (hi, lo) = id.as_u64_pair();
                    f.push(hi);
                    f.push(lo);
                }
            }
        }
        paging::encode(token_kind, &f)
    }

    fn decode(token: &str, token_kind: u8) -> Option<Round> {
        let f = paging::decode(token, token_kind)?;
        let mut it = f.into_iter();
        let mut next = || it.next();
        let epoch = u32::try_from(next()?).ok()?;
        let issued = i64::try_from(next()?).ok()?;
        let lower = next()?;
        let upper = next()?;
        let cursor = next()?;
        let flags = next()?;
        let select = match next()? {
            0 => None,
            n => Some(
                (1..n)
                    .map(|_| next().and_then(|p| PropId::try_from(p).ok()))
                    .collect::<Option<Vec<_>>>()?,
            ),
        };
        if select
            .as_ref()
            .is_some_and(|s| s.iter().any(|p| usize::from(*p) >= props::PROPS.len()))
        {
            return None;
        }
        let ids = match next()? {
            0 => None,
            n => Some(
                (1..n)
                    .map(|_| Some(Uuid::from_u64_pair(next()?, next()?)))
                    .collect::<Option<Vec<_>>>()?,
            ),
        };
        Some(Round {
            epoch,
            issued,
            lower,
            upper,
            cursor,
            initial: flags & 1 == 1,
            empty_served: flags & 2 == 2,
            select,
            ids,
        })
    }

    fn returned(&self) -> &[PropId] {
        self.select.as_deref().unwrap_or(&DEFAULT_SET)
    }

    /// Without `$select` every property is tracked, though only the default set is
    /// returned (§2.3).
    fn tracked(&self) -> PropMask {
        match &self.select {
            Some(sel) => props::mask_of(sel),
            None => props::all_mask(),
        }
    }
}

/// What one log entry turns into.
#[derive(Debug, Clone, Copy)]
enum Item {
    Changed(u32),
    Removed(u32, &'static str),
}

fn decide(round: &Round, tracked: PropMask, idx: u32, user: &User) -> Option<Item> {
    if let Some(ids) = &round.ids
        && !ids.contains(&user.id)
    {
        return None;
    }
    match user.life {
        Life::Live => user
            .changed_in(tracked, round.lower)
            .then_some(Item::Changed(idx)),
        // Soft-deleted users are `changed`; purged ones `deleted` (§2.3).
        Life::SoftDeleted if !round.initial => Some(Item::Removed(idx, "changed")),
        Life::Purged if !round.initial => Some(Item::Removed(idx, "deleted")),
        _ => None,
    }
}

fn push_item(out: &mut String, dir: &Directory, round: &Round, minimal: bool, item: Item) {
    const TYPE: &str = "{\"@odata.type\":\"#microsoft.graph.user\"";
    let (idx, removed) = match item {
        Item::Changed(i) => (i, None),
        Item::Removed(i, reason) => (i, Some(reason)),
    };
    let Some(user) = dir.user(idx) else {
        return;
    };
    out.push_str(TYPE);
    if let Some(reason) = removed {
        out.push_str(",\"id\":");
        json::push_value(out, user, *props::ID);
        out.push_str(",\"@removed\":{\"reason\":\"");
        out.push_str(reason);
        out.push_str("\"}}");
        return;
    }
    // New or restored objects come whole, even with `Prefer: return=minimal`.
    let minimal = minimal && user.born <= round.lower;
    for p in round.returned() {
        if *p == *props::ID {
            continue;
        }
        let include = if minimal {
            user.prop_seq(*p) > round.lower
        } else {
            // Never-set properties are left out; ones set to null are sent as null (§2.3).
            !json::is_unset(user, *p) || user.was_changed(*p)
        };
        if include {
            out.push(',');
            json::push_key(out, props::prop(*p).name);
            json::push_value(out, user, *p);
        }
    }
    out.push_str(",\"id\":");
    json::push_value(out, user, *props::ID);
    out.push('}');
}

/// `Prefer` preferences this endpoint honours.
#[derive(Debug, Default)]
struct Prefer {
    minimal: bool,
    max_page_size: Option<usize>,
}

fn prefer(headers: &HeaderMap) -> Prefer {
    let mut p = Prefer::default();
    for value in headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
    {
        for item in value.split(',').map(str::trim) {
            let (k, v) = item.split_once('=').unwrap_or((item, ""));
            let (k, v) = (k.trim(), v.trim().trim_matches('"'));
            if k.eq_ignore_ascii_case("return") && v.eq_ignore_ascii_case("minimal") {
                p.minimal = true;
            } else if k.eq_ignore_ascii_case("odata.maxpagesize")
                && let Ok(n) = v.parse::<usize>()
                && n > 0
            {
                p.max_page_size = Some(n);
            }
        }
    }
    p
}

fn bad_token(which: &str) -> GraphError {
    GraphError::new(
        StatusCode::BAD_REQUEST,
        "Request_BadRequest",
        format!("The {which} is not valid."),
    )
}

fn sync_state_not_found() -> GraphError {
    // errors.md's description of the code; the status is "40X" in the docs: 400 here [inf].
    GraphError::new(
        StatusCode::BAD_REQUEST,
        "syncStateNotFound",
        "The sync state generation is not found. The delta token is expired and data must be synchronized again.",
    )
}

/// The link that restarts a round with the same `$select` and id filter.
fn restart_link(base: &str, round: &Round) -> String {
    let select = round.select.as_deref().map(users::select_names);
    let filter = round.ids.as_ref().map(|ids| {
        ids.iter()
            .map(|id| format!("id eq '{id}'"))
            .collect::<Vec<_>>()
            .join(" or ")
    });
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    if let Some(s) = &select {
        pairs.push(("$select", s));
    }
    if let Some(f) = &filter {
        pairs.push(("$filter", f));
    }
    pairs.push(("$deltatoken", ""));
    paging::link_with(base, "/v1.0/users/delta", &pairs)
}

/// Why a delta request fails.
#[derive(Debug)]
enum Fail {
    Graph(GraphError),
    /// 410 with a `Location` that restarts the round (§2.3 "Synchronization reset").
    Gone {
        location: String,
    },
}

impl From<GraphError> for Fail {
    fn from(e: GraphError) -> Fail {
        Fail::Graph(e)
    }
}

impl Fail {
    fn render(self, ctx: &GraphCtx) -> Response {
        match self {
            Fail::Graph(e) => e.render(ctx),
            Fail::Gone { location } => {
                let mut r = GraphError::new(
                    StatusCode::GONE,
                    "resyncRequired",
                    "The delta token is no longer valid, and the app must reset the sync state.",
                )
                .render(ctx);
                if let Ok(v) = HeaderValue::from_str(&location) {
                    r.headers_mut().insert(header::LOCATION, v);
                }
                r
            }
        }
    }
}

/// Refuses tokens from an expired generation or older than 7 days.
fn check_expiry(ctx: &GraphCtx, dir: &Directory, round: &Round) -> Result<(), Fail> {
    if round.epoch < dir.delta_epoch {
        let mode = dir
            .expired_epochs
            .get(round.epoch as usize)
            .copied()
            .unwrap_or(ExpireMode::SyncStateNotFound);
        return Err(match mode {
            ExpireMode::SyncStateNotFound => sync_state_not_found().into(),
            ExpireMode::Gone => Fail::Gone {
                location: restart_link(&ctx.base, round),
            },
        });
    }
    if ctx.now.as_second() - round.issued >= TOKEN_LIFETIME_SECONDS {
        return Err(sync_state_not_found().into());
    }
    Ok(())
}

/// The round a request without a state token starts: `$select` and the id filter.
fn initial_round(query: &Query, dir: &Directory, now: i64) -> Result<Round, GraphError> {
    for unsupported in ["orderby", "search", "expand"] {
        if query.option(unsupported).is_some() {
            return Err(filter::unsupported_query());
        }
    }
    let select = users::parse_select(query, true)?;
    let ids = match query.option("filter") {
        None => None,
        Some(text) => {
            let parsed = filter::parse_filter(text, &UserSchema)?;
            let ids = filter::id_list(&parsed.expr).ok_or_else(filter::unsupported_query)?;
            if ids.len() > MAX_FILTER_IDS {
                return Err(GraphError::new(
                    StatusCode::BAD_REQUEST,
                    "Request_BadRequest",
                    format!("At most {MAX_FILTER_IDS} ids can be filtered in a delta query."),
                ));
            }
            Some(ids)
        }
    };
    Ok(Round {
        epoch: dir.delta_epoch,
        issued: now,
        lower: 0,
        upper: dir.seq(),
        cursor: 0,
        initial: true,
        empty_served: false,
        select,
        ids,
    })
}

pub async fn delta(
    State(state): State<AppState>,
    ctx: GraphCtx,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    run(&state, &ctx, &headers, raw.as_deref()).unwrap_or_else(|f| f.render(&ctx))
}

fn run(
    state: &AppState,
    ctx: &GraphCtx,
    headers: &HeaderMap,
    raw: Option<&str>,
) -> Result<Response, Fail> {
    auth::authorize(state, ctx, headers, READ_ROLES)?;
    let query = Query::parse(raw);
    let pref = prefer(headers);
    let now = ctx.now.as_second();
    let tenant = state.tenant();
    let dir = &tenant.directory;

    // Where this request starts.
    let skiptoken = query.option("skiptoken");
    let deltatoken = query.option("deltatoken").map(str::trim);
    let mut latest = false;
    let mut first_request = true;
    let round = if let Some(t) = skiptoken {
        first_request = false;
        let r = Round::decode(t, kind::DELTA_SKIP).ok_or_else(|| bad_token("$skiptoken"))?;
        check_expiry(ctx, dir, &r)?;
        r
    } else {
        match deltatoken {
            Some(t) if t.eq_ignore_ascii_case("latest") => {
                latest = true;
                initial_round(&query, dir, now)?
            }
            Some(t) if !t.is_empty() => {
                let r = Round::decode(t, kind::DELTA).ok_or_else(|| bad_token("$deltatoken"))?;
                check_expiry(ctx, dir, &r)?;
                Round {
                    upper: dir.seq(),
                    cursor: r.lower,
                    initial: false,
                    empty_served: false,
                    ..r
                }
            }
            // No token, or the empty `$deltatoken=` of a 410 Location: a fresh round.
            _ => initial_round(&query, dir, now)?,
        }
    };
    let context = match (&round.select, first_request && round.initial) {
        (Some(sel), true) => format!(
            "{}/v1.0/$metadata#users({})",
            ctx.base,
            users::select_names(sel)
        ),
        _ => format!("{}/v1.0/$metadata#users", ctx.base),
    };
    let delta_link = |upper: u64| {
        let next = Round {
            issued: now,
            lower: upper,
            upper: 0,
            cursor: 0,
            initial: false,
            empty_served: false,
            epoch: dir.delta_epoch,
            ..round.clone()
        };
        format!(
            "{}/v1.0/users/delta?$deltatoken={}",
            ctx.base,
            next.encode(kind::DELTA)
        )
    };

    let mut value = String::new();
    let (next_link, final_link) = if latest {
        // "Sync from now": only a deltaLink (§2.3).
        (None, Some(delta_link(dir.seq())))
    } else if dir.quirks.empty_pages && !round.empty_served && first_request {
        let next = Round {
            empty_served: true,
            cursor: round.cursor.max(round.lower),
            ..round.clone()
        };
        let link = format!(
            "{}/v1.0/users/delta?$skiptoken={}",
            ctx.base,
            next.encode(kind::DELTA_SKIP)
        );
        (Some(link), None)
    } else {
        let page_size = (dir.quirks.delta_page_size.max(1) as usize)
            .min(pref.max_page_size.unwrap_or(usize::MAX));
        let tracked = round.tracked();
        let mut items: Vec<(u64, Item)> = Vec::new();
        let mut more = false;
        for (seq, idx) in dir.changes(round.cursor.max(round.lower), round.upper) {
            let Some(item) = dir.user(idx).and_then(|u| decide(&round, tracked, idx, u)) else {
                continue;
            };
            if items.len() == page_size {
                more = true;
                break;
            }
            items.push((seq, item));
        }
        if dir.quirks.delta_replays
            && let Some(first) = items.first().copied()
        {
            items.push(first);
        }
        let minimal = pref.minimal && !round.initial;
        value.reserve(items.len() * 400);
        for (n, (_, item)) in items.iter().enumerate() {
            if n > 0 {
                value.push(',');
            }
            push_item(&mut value, dir, &round, minimal, *item);
        }
        if more {
            let cursor = items.iter().map(|(s, _)| *s).max().unwrap_or(round.cursor);
            let next = Round {
                cursor,
                empty_served: true,
                ..round.clone()
            };
            let link = format!(
                "{}/v1.0/users/delta?$skiptoken={}",
                ctx.base,
                next.encode(kind::DELTA_SKIP)
            );
            (Some(link), None)
        } else {
            (None, Some(delta_link(round.upper)))
        }
    };
    drop(tenant);
    let body = paging::collection_body(
        &context,
        None,
        next_link.as_deref(),
        final_link.as_deref(),
        &value,
    );
    let mut response = users::json_response(body, users::resource_units(&query));
    let mut applied: Vec<String> = Vec::new();
    if pref.minimal {
        applied.push("return=minimal".to_owned());
    }
    if let Some(n) = pref.max_page_size {
        applied.push(format!("odata.maxpagesize={n}"));
    }
    if !applied.is_empty()
        && let Ok(v) = HeaderValue::from_str(&applied.join(", "))
    {
        response.headers_mut().insert("preference-applied", v);
    }
    Ok(response.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_tokens_round_trip() {
        let r = Round {
            epoch: 3,
            issued: 1_700_000_000,
            lower: 42,
            upper: 100_000,
            cursor: 77,
            initial: true,
            empty_served: true,
            select: Some(vec![1, 10, 2]),
            ids: Some(vec![Uuid::from_u128(7), Uuid::from_u128(u128::MAX)]),
        };
        let back = Round::decode(&r.encode(kind::DELTA_SKIP), kind::DELTA_SKIP).expect("decodes");
        assert_eq!(format!("{back:?}"), format!("{r:?}"));
        assert!(Round::decode(&r.encode(kind::DELTA_SKIP), kind::DELTA).is_none());
        let plain = Round::default();
        let back = Round::decode(&plain.encode(kind::DELTA), kind::DELTA).expect("decodes");
        assert_eq!(format!("{back:?}"), format!("{plain:?}"));
    }
}
