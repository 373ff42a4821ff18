//! Contact folders and personal contacts (graph-protocol.md §3): lists paged with `$skip`,
//! single items, the flat folder delta of a mailbox and the contacts delta of one folder.

use axum::Extension;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse as _, Response};
use jiff::Timestamp;

use super::errors::GraphError;
use super::headers::GraphCtx;
use super::outlook::{self, BatchWave, Fail, id_error, invalid_url_query, item_not_found};
use super::paging::{self, kind};
use super::query::Query;
use crate::clock::graph_date_time;
use crate::directory::json::{push_key, push_str};
use crate::directory::{Directory, ExpireMode};
use crate::outlook::contact::{self, Contact, Kind, PROPS, SelectMask, mask_has};
use crate::outlook::ids::{DEFAULT_FOLDER, mix};
use crate::outlook::{Change, Mailbox, MailboxMut};
use crate::state::AppState;

/// Outlook pages hold 10 items unless asked otherwise; `$top` goes up to 1000 (§3).
const DEFAULT_TOP: usize = 10;
const MAX_TOP: usize = 1000;

/// A folder named by the path: the default one (`/contacts`), or `/contactFolders/{id}`
/// followed by `/childFolders/{id}` steps.
#[derive(Debug, Clone)]
enum FolderRef {
    Default,
    Chain(Vec<String>),
}

impl FolderRef {
    fn last(&self) -> &str {
        match self {
            FolderRef::Default => "",
            FolderRef::Chain(c) => c.last().map_or("", String::as_str),
        }
    }
}

#[derive(Debug, Clone)]
enum Target {
    /// The folders directly under a folder (`/contactFolders`: under the default one).
    Folders(FolderRef),
    Folder(FolderRef),
    Contacts(FolderRef),
    Contact(FolderRef, String),
    ContactsDelta(FolderRef),
    FoldersDelta,
}

/// What a handler needs besides the mailbox.
struct Req<'a> {
    ctx: &'a GraphCtx,
    raw: Option<&'a str>,
    headers: &'a HeaderMap,
    /// The request path as routed, for nextLink and deltaLink.
    path: &'a str,
    user: &'a str,
}

impl Req<'_> {
    /// `{base}/v1.0/$metadata#users('{user}')/{rest}`.
    fn context(&self, rest: &str) -> String {
        format!(
            "{}/v1.0/$metadata#users('{}')/{rest}",
            self.ctx.base,
            self.user.replace('\'', "''")
        )
    }
}

type Wave = Option<Extension<BatchWave>>;

#[allow(clippy::too_many_arguments)]
async fn dispatch(
    state: AppState,
    ctx: GraphCtx,
    headers: HeaderMap,
    raw: Option<String>,
    uri: Uri,
    wave: Wave,
    user: String,
    target: Target,
) -> Response {
    let wave = wave.map(|Extension(w)| w);
    let path = uri.path().to_owned();
    outlook::serve(&state, &ctx, &headers, &user, wave.as_ref(), |mb, dir| {
        let req = Req {
            ctx: &ctx,
            raw: raw.as_deref(),
            headers: &headers,
            path: &path,
            user: &user,
        };
        match target {
            Target::Folders(parent) => list_folders(mb, &req, &parent),
            Target::Folder(f) => get_folder(mb, &req, &f),
            Target::Contacts(f) => list_contacts(mb, &req, &f),
            Target::Contact(f, id) => get_contact(mb, &req, &f, &id),
            Target::ContactsDelta(f) => contacts_delta(mb, dir, &req, &f),
            Target::FoldersDelta => folders_delta(mb, dir, &req),
        }
    })
    .await
}

// One axum handler per route: they differ only in what the path names.
macro_rules! handlers {
    ($($name:ident($($arg:ident),*) => $target:expr;)*) => {$(
        pub async fn $name(
            State(state): State<AppState>,
            ctx: GraphCtx,
            headers: HeaderMap,
            RawQuery(raw): RawQuery,
            uri: Uri,
            wave: Wave,
            Path(($($arg,)*)): Path<($(handlers!(@string $arg),)*)>,
        ) -> Response {
            let (user, target) = $target;
            dispatch(state, ctx, headers, raw, uri, wave, user, target).await
        }
    )*};
    (@string $arg:ident) => { String };
}

handlers! {
    folders(user) => (user, Target::Folders(FolderRef::Default));
    folders_delta_route(user) => (user, Target::FoldersDelta);
    folder(user, fid) => (user, Target::Folder(FolderRef::Chain(vec![fid])));
    child_folders(user, fid) => (user, Target::Folders(FolderRef::Chain(vec![fid])));
    folder_contacts(user, fid) => (user, Target::Contacts(FolderRef::Chain(vec![fid])));
    folder_contacts_delta(user, fid) => (user, Target::ContactsDelta(FolderRef::Chain(vec![fid])));
    folder_contact(user, fid, cid) => (user, Target::Contact(FolderRef::Chain(vec![fid]), cid));
    contacts(user) => (user, Target::Contacts(FolderRef::Default));
    contacts_delta_route(user) => (user, Target::ContactsDelta(FolderRef::Default));
    contact(user, cid) => (user, Target::Contact(FolderRef::Default, cid));
}

/// `/contactFolders/{id}/childFolders/{*rest}`: deeper steps of the folder tree, e.g.
/// `{child}/childFolders/{grandchild}/contacts/delta`.
pub async fn nested(
    State(state): State<AppState>,
    ctx: GraphCtx,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    uri: Uri,
    wave: Wave,
    Path((user, fid, rest)): Path<(String, String, String)>,
) -> Response {
    match nested_target(fid, &rest) {
        Some(target) => dispatch(state, ctx, headers, raw, uri, wave, user, target).await,
        None => super::unknown_segment(State(state), ctx, headers, uri).await,
    }
}

fn nested_target(fid: String, rest: &str) -> Option<Target> {
    let mut chain = vec![fid];
    let mut segs = rest.split('/').filter(|s| !s.is_empty()).peekable();
    // `{id}(/childFolders/{id})*`, then what to do with the last folder.
    loop {
        chain.push(segs.next()?.to_owned());
        if segs.peek() == Some(&"childFolders") {
            segs.next();
            if segs.peek().is_none() {
                return Some(Target::Folders(FolderRef::Chain(chain)));
            }
            continue;
        }
        break;
    }
    let folder = FolderRef::Chain(chain);
    let tail: Vec<&str> = segs.collect();
    Some(match tail.as_slice() {
        [] => Target::Folder(folder),
        ["contacts"] => Target::Contacts(folder),
        ["contacts", "delta"] => Target::ContactsDelta(folder),
        ["contacts", id] => Target::Contact(folder, (*id).to_owned()),
        _ => return None,
    })
}

/// The folder a path names; each `childFolders` step must be a child of the one before.
fn resolve(mb: &Mailbox, folder: &FolderRef) -> Result<u32, GraphError> {
    let FolderRef::Chain(chain) = folder else {
        return Ok(DEFAULT_FOLDER);
    };
    let mut current: Option<u32> = None;
    for id in chain {
        let num = mb.folder_num(id).map_err(id_error)?;
        if let Some(parent) = current
            && mb.folder(num).is_none_or(|f| f.parent != parent)
        {
            return Err(item_not_found());
        }
        current = Some(num);
    }
    current.ok_or_else(item_not_found)
}

fn json_response(body: String) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

fn timestamp(seconds: i64) -> String {
    Timestamp::from_second(seconds)
        .map(graph_date_time)
        .unwrap_or_default()
}

// ---- query options -------------------------------------------------------------------

fn parse_top(q: &Query) -> Result<usize, GraphError> {
    let Some(raw) = q.option("top") else {
        return Ok(DEFAULT_TOP);
    };
    raw.trim()
        .parse::<usize>()
        .ok()
        .filter(|n| (1..=MAX_TOP).contains(n))
        .ok_or_else(|| {
            // [inf] wording; the range is the documented one (§3).
            invalid_url_query(format!(
                "The value '{raw}' of the query option '$top' is invalid. It must be an integer between 1 and {MAX_TOP}."
            ))
        })
}

fn parse_skip(q: &Query) -> Result<usize, GraphError> {
    let Some(raw) = q.option("skip") else {
        return Ok(0);
    };
    raw.trim().parse::<usize>().map_err(|_| {
        invalid_url_query(format!(
            "The value '{raw}' of the query option '$skip' is invalid. It must be a non-negative integer."
        ))
    })
}

/// Options the emulator's lists do not model are refused rather than silently ignored.
fn refuse_unmodelled(q: &Query) -> Result<(), GraphError> {
    for name in ["expand", "search"] {
        if q.option(name).is_some() {
            return Err(invalid_url_query(format!(
                "The query option '${name}' is not supported by the emulator on this resource."
            )));
        }
    }
    Ok(())
}

fn wants_count(q: &Query) -> bool {
    q.option("count")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

fn unknown_select(item: &str, type_name: &str) -> GraphError {
    // [obs] Outlook's answer to an unknown `$select` property.
    GraphError::new(
        StatusCode::BAD_REQUEST,
        "RequestBroker--ParseUri",
        format!(
            "Could not find a property named '{item}' on type 'Microsoft.OutlookServices.{type_name}'."
        ),
    )
}

/// `$select` on contacts: a mask over [`PROPS`] and the canonical names for the context.
fn contact_select(q: &Query) -> Result<Option<(SelectMask, String)>, GraphError> {
    let Some(raw) = q.option("select") else {
        return Ok(None);
    };
    let mut mask: SelectMask = 0;
    let mut names = Vec::new();
    for item in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let id = contact::by_name(item).ok_or_else(|| unknown_select(item, "Contact"))?;
        if mask & (1 << id) == 0 {
            mask |= 1 << id;
            names.push(PROPS[id].name);
        }
    }
    Ok((mask != 0).then(|| (mask, names.join(","))))
}

const FOLDER_PROPS: &[&str] = &["id", "displayName", "parentFolderId"];

/// `$select` on folders: bit `i` = [`FOLDER_PROPS`]`[i]`.
fn folder_select(q: &Query) -> Result<Option<(SelectMask, String)>, GraphError> {
    let Some(raw) = q.option("select") else {
        return Ok(None);
    };
    let mut mask: SelectMask = 0;
    let mut names = Vec::new();
    for item in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let i = FOLDER_PROPS
            .iter()
            .position(|p| p.eq_ignore_ascii_case(item))
            .ok_or_else(|| unknown_select(item, "ContactFolder"))?;
        if mask & (1 << i) == 0 {
            mask |= 1 << i;
            names.push(FOLDER_PROPS[i]);
        }
    }
    Ok((mask != 0).then(|| (mask, names.join(","))))
}

fn invalid_filter() -> GraphError {
    // [inf] the emulator models only the filters documented for contacts (§3).
    invalid_url_query("The query filter contains one or more invalid nodes.")
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// `'…'` with OData's doubled quotes.
fn string_literal(s: &str) -> Option<String> {
    let inner = s.trim().strip_prefix('\'')?.strip_suffix('\'')?;
    Some(inner.replace("''", "'"))
}

/// `emailAddresses/any(a:a/address eq '…')`, the documented contacts filter (§3).
fn email_filter(text: &str) -> Result<String, GraphError> {
    let parse = || {
        let rest = strip_prefix_ci(text.trim(), "emailAddresses/any(")?;
        let rest = rest.trim_end().strip_suffix(')')?;
        let (var, body) = rest.split_once(':')?;
        let body = strip_prefix_ci(body.trim(), &format!("{}/address", var.trim()))?;
        let body = strip_prefix_ci(body.trim_start(), "eq ")?;
        string_literal(body)
    };
    parse().ok_or_else(invalid_filter)
}

/// `displayName eq '…'` on folders.
fn folder_filter(text: &str) -> Result<String, GraphError> {
    let parse = || {
        let rest = strip_prefix_ci(text.trim(), "displayName")?;
        let rest = strip_prefix_ci(rest.trim_start(), "eq ")?;
        string_literal(rest)
    };
    parse().ok_or_else(invalid_filter)
}

/// `$orderby` on contacts: one sortable property, `asc` or `desc`.
fn contact_order(q: &Query) -> Result<Option<(usize, bool)>, GraphError> {
    const SORTABLE: &[&str] = &[
        "displayName",
        "givenName",
        "surname",
        "companyName",
        "fileAs",
        "createdDateTime",
        "lastModifiedDateTime",
    ];
    let Some(text) = q.option("orderby") else {
        return Ok(None);
    };
    let mut words = text.split_whitespace();
    let name = words.next().unwrap_or("");
    let descending = match words.next().map(str::to_ascii_lowercase).as_deref() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(_) => return Err(invalid_url_query("The $orderby expression is invalid.")),
    };
    let id = contact::by_name(name)
        .filter(|id| SORTABLE.contains(&PROPS[*id].name))
        .ok_or_else(|| {
            invalid_url_query(format!(
                "The emulator sorts contacts by {} only, not by '{name}'.",
                SORTABLE.join(", ")
            ))
        })?;
    Ok(Some((id, descending)))
}

fn sort_key(c: &Contact, id: usize) -> String {
    match PROPS[id].kind {
        Kind::Created => format!("{:020}", c.created),
        Kind::Modified => format!("{:020}", c.modified),
        _ => c.data.text(id).map(str::to_lowercase).unwrap_or_default(),
    }
}

// ---- JSON ------------------------------------------------------------------------------

fn push_folder(out: &mut String, mb: &Mailbox, num: u32, mask: SelectMask, delta: bool) {
    let Some(f) = mb.folder(num) else {
        return;
    };
    out.push('{');
    if delta {
        out.push_str("\"@odata.type\":\"#microsoft.graph.contactFolder\",");
    }
    push_key(out, "id");
    push_str(out, &mb.folder_id(num));
    if mask_has(mask, 1) {
        out.push(',');
        push_key(out, "displayName");
        push_str(out, &f.name);
    }
    if mask_has(mask, 2) {
        out.push(',');
        push_key(out, "parentFolderId");
        push_str(out, &mb.folder_id(f.parent));
    }
    out.push('}');
}

fn push_contact(
    out: &mut String,
    mb: &Mailbox,
    num: u32,
    c: &Contact,
    mask: SelectMask,
    delta: bool,
) {
    out.push('{');
    if delta {
        out.push_str("\"@odata.type\":\"#microsoft.graph.contact\",");
    }
    let change_key = mb.change_key(num);
    push_key(out, "@odata.etag");
    push_str(out, &format!("W/\"{change_key}\""));
    out.push(',');
    push_key(out, "id");
    push_str(out, &mb.contact_id(num));
    for (id, p) in PROPS.iter().enumerate().skip(1) {
        if !mask_has(mask, id) {
            continue;
        }
        out.push(',');
        push_key(out, p.name);
        match p.kind {
            Kind::Id => push_str(out, &mb.contact_id(num)),
            Kind::Created => push_str(out, &timestamp(c.created)),
            Kind::Modified => push_str(out, &timestamp(c.modified)),
            Kind::ChangeKey => push_str(out, &change_key),
            Kind::ParentFolder => {
                let folder = mb.contact_folder(num).unwrap_or(DEFAULT_FOLDER);
                push_str(out, &mb.folder_id(folder));
            }
            Kind::Data(shape) => c.data.push_value(out, id, shape),
        }
    }
    out.push('}');
}

/// A contact as `GET /users/{id}/contacts/{cid}` writes it (without `@odata.context`), for
/// the control API.
pub(crate) fn contact_json(mb: &Mailbox, num: u32) -> String {
    let mut out = String::new();
    match mb.contact(num) {
        Some(c) => push_contact(&mut out, mb, num, &c, 0, false),
        None => out.push_str("null"),
    }
    out
}

/// A folder as `GET /users/{id}/contactFolders/{fid}` writes it, for the control API.
pub(crate) fn folder_json(mb: &Mailbox, num: u32) -> String {
    let mut out = String::new();
    push_folder(&mut out, mb, num, 0, false);
    out
}

/// `{"@odata.type":…,"id":…,"@removed":{"reason":"deleted"}}`: the Outlook shape (§3).
fn push_removed(out: &mut String, type_name: &str, id: &str) {
    out.push_str("{\"@odata.type\":\"#microsoft.graph.");
    out.push_str(type_name);
    out.push_str("\",");
    push_key(out, "id");
    push_str(out, id);
    out.push_str(",\"@removed\":{\"reason\":\"deleted\"}}");
}

/// `/…?{other options}&$skip={skip}` while more items follow.
fn skip_link(req: &Req<'_>, skip: usize) -> String {
    paging::link_replacing(&req.ctx.base, req.path, req.raw, "skip", &skip.to_string())
}

// ---- lists and items -------------------------------------------------------------------

fn list_folders(
    mb: &mut MailboxMut<'_>,
    req: &Req<'_>,
    parent: &FolderRef,
) -> Result<Response, Fail> {
    let q = Query::parse(req.raw);
    refuse_unmodelled(&q)?;
    let parent_num = resolve(mb, parent)?;
    let top = parse_top(&q)?;
    let skip = parse_skip(&q)?;
    let select = folder_select(&q)?;
    if q.option("orderby").is_some() {
        return Err(invalid_url_query("The emulator does not sort contact folders.").into());
    }
    let mut nums = mb.children(parent_num);
    if let Some(text) = q.option("filter") {
        let name = folder_filter(text)?;
        nums.retain(|n| {
            mb.folder(*n)
                .is_some_and(|f| crate::directory::eq_ignore_case(&f.name, &name))
        });
    }
    let base = match parent {
        FolderRef::Default => "contactFolders".to_owned(),
        FolderRef::Chain(_) => format!(
            "contactFolders('{}')/childFolders",
            parent.last().replace('\'', "''")
        ),
    };
    let context = match &select {
        Some((_, names)) => req.context(&format!("{base}({names})")),
        None => req.context(&base),
    };
    let mask = select.map_or(0, |(m, _)| m);
    let mut value = String::new();
    for (i, n) in nums.iter().skip(skip).take(top).enumerate() {
        if i > 0 {
            value.push(',');
        }
        push_folder(&mut value, mb, *n, mask, false);
    }
    let next = (skip.saturating_add(top) < nums.len()).then(|| skip_link(req, skip + top));
    let count = wants_count(&q).then_some(nums.len());
    Ok(json_response(paging::collection_body(
        &context,
        count,
        next.as_deref(),
        None,
        &value,
    )))
}

fn get_folder(
    mb: &mut MailboxMut<'_>,
    req: &Req<'_>,
    folder: &FolderRef,
) -> Result<Response, Fail> {
    let q = Query::parse(req.raw);
    let num = resolve(mb, folder)?;
    let select = folder_select(&q)?;
    let context = match &select {
        Some((_, names)) => req.context(&format!("contactFolders({names})/$entity")),
        None => req.context("contactFolders/$entity"),
    };
    let mut item = String::new();
    push_folder(&mut item, mb, num, select.map_or(0, |(m, _)| m), false);
    Ok(json_response(with_context(&context, &item)))
}

/// `{"@odata.context":…,` + the object's members.
fn with_context(context: &str, object: &str) -> String {
    let mut out = String::with_capacity(object.len() + context.len() + 24);
    out.push('{');
    push_key(&mut out, "@odata.context");
    push_str(&mut out, context);
    if object.len() > 2 {
        out.push(',');
        out.push_str(&object[1..]);
    } else {
        out.push('}');
    }
    out
}

fn contacts_base(folder: &FolderRef) -> String {
    match folder {
        FolderRef::Default => "contacts".to_owned(),
        FolderRef::Chain(_) => format!(
            "contactFolders('{}')/contacts",
            folder.last().replace('\'', "''")
        ),
    }
}

fn list_contacts(
    mb: &mut MailboxMut<'_>,
    req: &Req<'_>,
    folder: &FolderRef,
) -> Result<Response, Fail> {
    let q = Query::parse(req.raw);
    refuse_unmodelled(&q)?;
    let num = resolve(mb, folder)?;
    let top = parse_top(&q)?;
    let skip = parse_skip(&q)?;
    let select = contact_select(&q)?;
    let order = contact_order(&q)?;
    let filter = q.option("filter").map(email_filter).transpose()?;
    let mut nums = mb.contacts_in(num);
    if filter.is_some() || order.is_some() {
        let mut keyed: Vec<(String, u32)> = Vec::with_capacity(nums.len());
        for n in nums {
            let Some(c) = mb.contact(n) else { continue };
            if let Some(address) = &filter
                && !c
                    .data
                    .email_addresses()
                    .any(|a| crate::directory::eq_ignore_case(a, address))
            {
                continue;
            }
            let key = order.map(|(p, _)| sort_key(&c, p)).unwrap_or_default();
            keyed.push((key, n));
        }
        // Stable: equal keys keep creation order.
        keyed.sort_by(|a, b| a.0.cmp(&b.0));
        if order.is_some_and(|(_, desc)| desc) {
            keyed.reverse();
        }
        nums = keyed.into_iter().map(|(_, n)| n).collect();
    }
    let base = contacts_base(folder);
    let context = match &select {
        Some((_, names)) => req.context(&format!("{base}({names})")),
        None => req.context(&base),
    };
    let mask = select.map_or(0, |(m, _)| m);
    let mut value = String::new();
    for (i, n) in nums.iter().skip(skip).take(top).enumerate() {
        let Some(c) = mb.contact(*n) else { continue };
        if i > 0 {
            value.push(',');
        }
        push_contact(&mut value, mb, *n, &c, mask, false);
    }
    let next = (skip.saturating_add(top) < nums.len()).then(|| skip_link(req, skip + top));
    let count = wants_count(&q).then_some(nums.len());
    Ok(json_response(paging::collection_body(
        &context,
        count,
        next.as_deref(),
        None,
        &value,
    )))
}

fn get_contact(
    mb: &mut MailboxMut<'_>,
    req: &Req<'_>,
    folder: &FolderRef,
    id: &str,
) -> Result<Response, Fail> {
    let q = Query::parse(req.raw);
    let num = mb.contact_num(id).map_err(id_error)?;
    if let FolderRef::Chain(_) = folder {
        let f = resolve(mb, folder)?;
        if mb.contact_folder(num) != Some(f) {
            return Err(item_not_found().into());
        }
    }
    let select = contact_select(&q)?;
    let base = contacts_base(folder);
    let context = match &select {
        Some((_, names)) => req.context(&format!("{base}({names})/$entity")),
        None => req.context(&format!("{base}/$entity")),
    };
    let c = mb.contact(num).ok_or_else(item_not_found)?;
    let mut item = String::new();
    push_contact(&mut item, mb, num, &c, select.map_or(0, |(m, _)| m), false);
    Ok(json_response(with_context(&context, &item)))
}

// ---- delta -----------------------------------------------------------------------------

/// Everything a contacts or folder delta request continues from, encoded whole into its
/// `$skiptoken` / `$deltatoken`: nothing per token is kept on the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Round {
    /// Generation of delta tokens (`POST /_emulator/delta/expire`).
    epoch: u32,
    /// Which mailbox and folder the token belongs to.
    scope: u64,
    lower: u64,
    upper: u64,
    /// (sequence, number) of the last item already returned in this round.
    cursor: (u64, u32),
    /// No previous state: removed items are left out.
    initial: bool,
    select: SelectMask,
}

impl Round {
    fn encode(&self, token_kind: u8) -> String {
        paging::encode(
            token_kind,
            &[
                u64::from(self.epoch),
                self.scope,
                self.lower,
                self.upper,
                self.cursor.0,
                u64::from(self.cursor.1),
                u64::from(self.initial),
                self.select,
            ],
        )
    }

    fn decode(token: &str, token_kind: u8) -> Option<Round> {
        match paging::decode(token, token_kind)?.as_slice() {
            [epoch, scope, lower, upper, seq, num, initial, select] => Some(Round {
                epoch: u32::try_from(*epoch).ok()?,
                scope: *scope,
                lower: *lower,
                upper: *upper,
                cursor: (*seq, u32::try_from(*num).ok()?),
                initial: *initial == 1,
                select: *select,
            }),
            _ => None,
        }
    }
}

fn sync_state_not_found() -> GraphError {
    // Outlook tokens are opaque and evicted from a cache (§3): an unknown token and an
    // expired one look the same, and the client restarts the round either way. The users
    // delta's wording (errors.md).
    GraphError::new(
        StatusCode::BAD_REQUEST,
        "syncStateNotFound",
        "The sync state generation is not found. The delta token is expired and data must be synchronized again.",
    )
}

/// Which delta a request is.
#[derive(Debug, Clone, Copy)]
struct DeltaKind {
    skip: u8,
    delta: u8,
    /// For the "not supported with change tracking" message.
    resource: &'static str,
}

const CONTACTS_DELTA: DeltaKind = DeltaKind {
    skip: kind::CONTACTS_SKIP,
    delta: kind::CONTACTS_DELTA,
    resource: "Contacts",
};
const FOLDERS_DELTA: DeltaKind = DeltaKind {
    skip: kind::FOLDERS_SKIP,
    delta: kind::FOLDERS_DELTA,
    resource: "ContactFolders",
};

/// The page of a delta round this request asks for.
struct DeltaPage {
    round: Round,
    page_size: usize,
    /// The page size to confirm in `Preference-Applied`.
    applied: Option<usize>,
}

/// Reads the state token (or starts a round) and the page size.
fn begin_delta(
    req: &Req<'_>,
    dir: &Directory,
    dk: DeltaKind,
    scope: u64,
    seq: u64,
    select: impl Fn(&Query) -> Result<Option<(SelectMask, String)>, GraphError>,
    select_names: impl Fn(SelectMask) -> String,
) -> Result<DeltaPage, Fail> {
    let q = Query::parse(req.raw);
    for unsupported in ["top", "skip", "filter", "orderby", "expand", "search"] {
        if q.option(unsupported).is_some() {
            // [obs] contacts delta refuses these (§3).
            return Err(invalid_url_query(format!(
                "The following parameters are not supported with change tracking over the '{}' resource: '$orderby, $filter, $expand, $search, $top, $skip'.",
                dk.resource
            ))
            .into());
        }
    }
    let check = |r: Round| -> Result<Round, Fail> {
        if r.scope != scope {
            return Err(sync_state_not_found().into());
        }
        if r.epoch < dir.delta_epoch {
            let mode = dir
                .expired_epochs
                .get(r.epoch as usize)
                .copied()
                .unwrap_or(ExpireMode::SyncStateNotFound);
            return Err(match mode {
                ExpireMode::SyncStateNotFound => sync_state_not_found().into(),
                ExpireMode::Gone => {
                    let location = if r.select == 0 {
                        format!("{}{}", req.ctx.base, req.path)
                    } else {
                        paging::link_with(
                            &req.ctx.base,
                            req.path,
                            &[("$select", &select_names(r.select))],
                        )
                    };
                    Fail::Gone { location }
                }
            });
        }
        Ok(r)
    };
    let round = if let Some(t) = q.option("skiptoken") {
        check(Round::decode(t.trim(), dk.skip).ok_or_else(sync_state_not_found)?)?
    } else {
        match q.option("deltatoken").map(str::trim) {
            Some(t) if !t.is_empty() => {
                let r = check(Round::decode(t, dk.delta).ok_or_else(sync_state_not_found)?)?;
                Round {
                    upper: seq,
                    cursor: (0, 0),
                    initial: false,
                    ..r
                }
            }
            // No token, or the empty `$deltatoken=` of a 410 Location: a fresh round.
            _ => Round {
                epoch: dir.delta_epoch,
                scope,
                lower: 0,
                upper: seq,
                cursor: (0, 0),
                initial: true,
                select: select(&q)?.map_or(0, |(m, _)| m),
            },
        }
    };
    let asked = outlook::prefer(req.headers)
        .into_iter()
        .filter(|(k, _)| k == "odata.maxpagesize")
        .find_map(|(_, v)| v.parse::<usize>().ok().filter(|n| *n > 0));
    let page_size = asked.map_or(DEFAULT_TOP, |n| n.min(MAX_TOP));
    Ok(DeltaPage {
        round,
        page_size,
        applied: asked.map(|_| page_size),
    })
}

/// The page of `changes` after the cursor, the links, and the answer.
fn finish_delta(
    req: &Req<'_>,
    dk: DeltaKind,
    page: &DeltaPage,
    changes: &[Change],
    context: &str,
    epoch: u32,
    mut push: impl FnMut(&mut String, &Change),
) -> Response {
    let round = page.round;
    let after: Vec<&Change> = changes
        .iter()
        .filter(|c| (c.seq, c.num) > round.cursor)
        .collect();
    let taken = &after[..after.len().min(page.page_size)];
    let mut value = String::with_capacity(taken.len() * 600);
    for (i, c) in taken.iter().enumerate() {
        if i > 0 {
            value.push(',');
        }
        push(&mut value, c);
    }
    let (next, delta) = if after.len() > taken.len() {
        let last = taken.last().map_or(round.cursor, |c| (c.seq, c.num));
        let token = Round {
            cursor: last,
            ..round
        }
        .encode(dk.skip);
        (
            Some(format!("{}{}?$skiptoken={token}", req.ctx.base, req.path)),
            None,
        )
    } else {
        let token = Round {
            epoch,
            lower: round.upper,
            upper: 0,
            cursor: (0, 0),
            initial: false,
            ..round
        }
        .encode(dk.delta);
        (
            None,
            Some(format!("{}{}?$deltatoken={token}", req.ctx.base, req.path)),
        )
    };
    let mut response = json_response(paging::collection_body(
        context,
        None,
        next.as_deref(),
        delta.as_deref(),
        &value,
    ));
    if let Some(n) = page.applied
        && let Ok(v) = HeaderValue::from_str(&format!("odata.maxpagesize={n}"))
    {
        response.headers_mut().insert("preference-applied", v);
    }
    response
}

fn scope_of(mb: &Mailbox, folder: u64) -> u64 {
    let (hi, lo) = mb.guid.as_u64_pair();
    mix(&[hi, lo, folder])
}

fn contacts_delta(
    mb: &mut MailboxMut<'_>,
    dir: &Directory,
    req: &Req<'_>,
    folder: &FolderRef,
) -> Result<Response, Fail> {
    let num = resolve(mb, folder)?;
    let page = begin_delta(
        req,
        dir,
        CONTACTS_DELTA,
        scope_of(mb, u64::from(num)),
        mb.seq(),
        contact_select,
        |mask| {
            (0..PROPS.len())
                .filter(|i| mask & (1 << i) != 0)
                .map(|i| PROPS[i].name)
                .collect::<Vec<_>>()
                .join(",")
        },
    )?;
    let r = page.round;
    let changes = mb.contact_changes(num, r.lower, r.upper, r.initial);
    let context = format!("{}/v1.0/$metadata#Collection(contact)", req.ctx.base);
    let mb: &Mailbox = mb;
    Ok(finish_delta(
        req,
        CONTACTS_DELTA,
        &page,
        &changes,
        &context,
        dir.delta_epoch,
        |out, c| match (c.removed, mb.contact(c.num)) {
            (false, Some(contact)) => push_contact(out, mb, c.num, &contact, r.select, true),
            _ => push_removed(out, "contact", &mb.contact_id(c.num)),
        },
    ))
}

fn folders_delta(
    mb: &mut MailboxMut<'_>,
    dir: &Directory,
    req: &Req<'_>,
) -> Result<Response, Fail> {
    let page = begin_delta(
        req,
        dir,
        FOLDERS_DELTA,
        scope_of(mb, u64::from(u32::MAX) + 1),
        mb.seq(),
        folder_select,
        |mask| {
            (0..FOLDER_PROPS.len())
                .filter(|i| mask & (1 << i) != 0)
                .map(|i| FOLDER_PROPS[i])
                .collect::<Vec<_>>()
                .join(",")
        },
    )?;
    let r = page.round;
    let changes = mb.folder_changes(r.lower, r.upper, r.initial);
    let context = format!("{}/v1.0/$metadata#Collection(contactFolder)", req.ctx.base);
    let mb: &Mailbox = mb;
    Ok(finish_delta(
        req,
        FOLDERS_DELTA,
        &page,
        &changes,
        &context,
        dir.delta_epoch,
        |out, c| {
            if c.removed {
                push_removed(out, "contactFolder", &mb.folder_id(c.num));
            } else {
                push_folder(out, mb, c.num, r.select, true);
            }
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_paths() {
        let t = |rest: &str| format!("{:?}", nested_target("A".to_owned(), rest));
        assert!(t("B").contains("Folder(Chain([\"A\", \"B\"]))"));
        assert!(t("B/childFolders").contains("Folders(Chain([\"A\", \"B\"]))"));
        assert!(
            t("B/childFolders/C/contacts/delta")
                .contains("ContactsDelta(Chain([\"A\", \"B\", \"C\"]))")
        );
        assert!(t("B/contacts/X").contains("Contact(Chain([\"A\", \"B\"]), \"X\")"));
        assert_eq!(t("B/events"), "None");
        assert_eq!(t(""), "None");
    }

    #[test]
    fn filters_parse() {
        assert_eq!(
            email_filter("emailAddresses/any(a:a/address eq 'o''brien@x.com')").ok(),
            Some("o'brien@x.com".to_owned())
        );
        assert_eq!(
            email_filter("EmailAddresses/any(e: e/address eq 'x@y')").ok(),
            Some("x@y".to_owned())
        );
        assert!(email_filter("displayName eq 'x'").is_err());
        assert_eq!(
            folder_filter("displayName eq 'Kunden'").ok(),
            Some("Kunden".to_owned())
        );
    }

    #[test]
    fn rounds_round_trip() {
        let r = Round {
            epoch: 2,
            scope: u64::MAX - 3,
            lower: 5,
            upper: 900,
            cursor: (17, 4),
            initial: true,
            select: 0b1010,
        };
        assert_eq!(
            Round::decode(&r.encode(kind::CONTACTS_SKIP), kind::CONTACTS_SKIP),
            Some(r)
        );
        assert_eq!(
            Round::decode(&r.encode(kind::CONTACTS_SKIP), kind::CONTACTS_DELTA),
            None
        );
    }
}
