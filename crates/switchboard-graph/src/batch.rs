//! JSON batching of Outlook reads of many mailboxes (graph-protocol.md §6.3; errors §6.1,
//! throttling §6.2), shared by contacts ([`crate::mailboxes`]) and calendars
//! ([`crate::calendars`]).
//!
//! Every read is one inner request of a `POST /$batch`. A batch holds at most
//! [`MAX_BATCH_ITEMS`] reads and at most [`MAX_PER_MAILBOX`] of one mailbox; the same per-mailbox
//! bound holds across all batches in flight of one [`BatchExecutor`], whatever kind of read they
//! carry, and at most `max_batches_in_flight` batches run at once. Outlook counts the 4 concurrent
//! requests per app and mailbox over contacts and calendars alike (§6.2), which is why one
//! executor serves both. Inner answers come in any order and are matched by id. Throttled items
//! (429/503/504) go back into the queue until the largest `Retry-After` of their batch has
//! passed; the rest of the batch is done.
//!
//! Memory: the reads wait as small jobs; a batch's body is built when it is sent and its answer
//! is decoded straight into the read's own page type (no `serde_json::Value` per item), so what
//! is held beyond the results is one wave of batches.

use crate::auth::{AppCredential, TokenProvider};
use crate::client::{ApiError, GraphClient, GraphError, GraphRequest};
use crate::config::{GraphConfig, RetryPolicy, host_port};
use crate::directory::{api_error, directory_error, is_delta_expired};
use crate::retry::{RetryBudget, parse_retry_after};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;
use serde::de::{self, DeserializeOwned, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::json;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use switchboard_core::ports::{CredentialSource, DirectoryError, MailboxError};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::{Id as TaskId, JoinSet};
use tokio::time::Instant;
use url::Url;

/// Graph's documented maximum of requests in one `$batch` (§6.3).
pub const MAX_BATCH_ITEMS: usize = 20;

/// Inner requests of one mailbox in flight at once. Outlook allows 4 concurrent requests per
/// app and mailbox and every inner request of a batch counts (§6.2, §6.3); 3 leaves one for
/// whatever else of this app reads the mailbox at the same moment (a subscription call, a
/// second instance), so a full batch is not answered with `ApplicationThrottled`.
pub const MAX_PER_MAILBOX: usize = 3;

/// Batches in flight at once unless [`crate::GraphMailboxes::with_max_batches_in_flight`] says
/// otherwise: up to 80 inner requests, spread over many mailboxes, without hammering the tenant.
pub const DEFAULT_BATCHES_IN_FLIGHT: usize = 4;

/// One kind of mailbox read: where it goes, how its page reads, how its errors read.
pub(crate) trait BatchRead: Sync {
    /// The inner body of a 2xx answer (or of an error, see [`PageBody::into_error`]).
    type Body: PageBody;
    type Answer: Send;
    /// For log lines: "contacts", "calendar".
    const KIND: &'static str;
    /// Advice for a 403.
    const PERMISSION: &'static str;

    fn mailbox(&self) -> &str;
    /// The batch item `url`, relative to the version root (§6.3). An error means the read is
    /// never sent.
    fn url(&self, config: &GraphConfig) -> Result<String, MailboxError>;
    /// The item's one `Prefer` value (a batch item's headers are a JSON object, so several
    /// preferences are comma-separated in one value); empty for none.
    fn prefer(&self) -> String;
    /// A 2xx page as the answer to this read.
    fn answer(&self, body: Self::Body) -> Result<Self::Answer, MailboxError>;
    /// How a non-retryable inner error reads to the caller; [`common_error`] unless the kind
    /// knows more.
    fn error(&self, e: &ApiError) -> MailboxError {
        common_error(e, Self::PERMISSION)
    }
}

/// A page type decoded in place from an inner body. It also carries `error` so that an error
/// answer needs no second decoding.
pub(crate) trait PageBody: DeserializeOwned + Send + 'static {
    /// The `error` object of an error answer (kept as JSON for [`ApiError::from_response`]).
    fn into_error(self) -> Option<serde_json::Value>;
}

// ---------------------------------------------------------------------------------------------
// URLs
// ---------------------------------------------------------------------------------------------

/// Percent-encodes a path segment: RFC 3986 unreserved characters, `@` (UPNs) and `=` (the
/// padding of Outlook ids) pass, everything else (`/`, `?`, `+`, `%`…) is encoded, so an id can
/// never add a segment or a query. A segment of dots only is encoded too (no `..`).
pub(crate) fn encode_segment(segment: &str) -> String {
    let all_dots = segment.bytes().all(|b| b == b'.');
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        let plain = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'~' | b'@' | b'=');
        if plain || (b == b'.' && !all_dots) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `/users/{mailbox}` with the mailbox encoded; an empty mailbox id is refused.
pub(crate) fn user_path(mailbox: &str) -> Result<String, MailboxError> {
    let mailbox = mailbox.trim();
    if mailbox.is_empty() {
        return Err(MailboxError::Graph(DirectoryError::Protocol(
            "a mailbox read without a mailbox id".into(),
        )));
    }
    Ok(format!("/users/{}", encode_segment(mailbox)))
}

/// An absolute nextLink/deltaLink as a batch item `url`: `{graph_url}/v1.0` stripped. Links to
/// any other origin are refused, as the pager does: the batch carries our token.
pub(crate) fn relative_link(config: &GraphConfig, link: &str) -> Result<String, DirectoryError> {
    let url = Url::parse(link).map_err(|e| {
        DirectoryError::Protocol(format!(
            "a mailbox link must be an absolute Graph URL (an @odata.nextLink or \
             @odata.deltaLink), not {link:?}: {e}"
        ))
    })?;
    if url.origin() != config.graph_url.origin() {
        return Err(DirectoryError::Protocol(format!(
            "refusing to follow a link to {} (not the configured Graph host {})",
            host_port(&url),
            host_port(&config.graph_url)
        )));
    }
    let root = Url::parse(&config.graph_endpoint("/"))
        .map_err(|e| DirectoryError::Protocol(format!("the Graph URL is invalid: {e}")))?;
    let rest = url
        .path()
        .strip_prefix(root.path().trim_end_matches('/'))
        .filter(|rest| rest.starts_with('/'))
        .ok_or_else(|| {
            DirectoryError::Protocol(format!(
                "refusing to follow a link outside {}: {}",
                config.graph_endpoint(""),
                url.path()
            ))
        })?;
    Ok(match url.query() {
        Some(query) => format!("{rest}?{query}"),
        None => rest.to_owned(),
    })
}

// ---------------------------------------------------------------------------------------------
// Answers
// ---------------------------------------------------------------------------------------------

/// `{"responses":[…]}` of a `$batch`.
#[derive(Debug, Deserialize)]
#[serde(bound = "B: PageBody")]
struct BatchAnswer<B> {
    responses: Vec<InnerAnswer<B>>,
}

#[derive(Debug, Deserialize)]
#[serde(bound = "B: PageBody")]
pub(crate) struct InnerAnswer<B> {
    pub(crate) id: String,
    pub(crate) status: u16,
    #[serde(default)]
    pub(crate) headers: Option<HashMap<String, serde_json::Value>>,
    #[serde(default)]
    pub(crate) body: Option<InnerBody<B>>,
}

/// An inner body: a page or an error (JSON), or text (Graph sends non-JSON bodies as strings,
/// e.g. base64).
#[derive(Debug)]
pub(crate) enum InnerBody<B> {
    Json(Box<B>),
    Text(String),
    Other,
}

impl<'de, B: PageBody> Deserialize<'de> for InnerBody<B> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BodyVisitor<B>(PhantomData<B>);
        impl<'de, B: PageBody> Visitor<'de> for BodyVisitor<B> {
            type Value = InnerBody<B>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a batch item body")
            }
            // Decoded in place: a page of items never becomes a `Value` tree.
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<InnerBody<B>, A::Error> {
                B::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(|b| InnerBody::Json(Box::new(b)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<InnerBody<B>, E> {
                Ok(InnerBody::Text(v.to_owned()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<InnerBody<B>, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(InnerBody::Other)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<InnerBody<B>, E> {
                Ok(InnerBody::Other)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<InnerBody<B>, E> {
                Ok(InnerBody::Other)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<InnerBody<B>, E> {
                Ok(InnerBody::Other)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<InnerBody<B>, E> {
                Ok(InnerBody::Other)
            }
            fn visit_unit<E: de::Error>(self) -> Result<InnerBody<B>, E> {
                Ok(InnerBody::Other)
            }
        }
        deserializer.deserialize_any(BodyVisitor(PhantomData))
    }
}

/// The inner headers as a `HeaderMap` (string values only), for the shared parsers.
pub(crate) fn inner_headers(headers: Option<HashMap<String, serde_json::Value>>) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in headers.unwrap_or_default() {
        let serde_json::Value::String(value) = value else {
            continue;
        };
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            map.insert(name, value);
        }
    }
    map
}

/// An inner error answer as the pipeline would have read it as a whole response.
pub(crate) fn inner_api_error<B: PageBody>(
    status: u16,
    headers: &HeaderMap,
    body: Option<InnerBody<B>>,
    retry_after: Option<Duration>,
) -> ApiError {
    let bytes = match body {
        Some(InnerBody::Json(b)) => match b.into_error() {
            Some(error) => json!({ "error": error }).to_string().into_bytes(),
            None => Vec::new(),
        },
        Some(InnerBody::Text(text)) => text.into_bytes(),
        Some(InnerBody::Other) | None => Vec::new(),
    };
    ApiError::from_response(status, headers, &bytes, None, retry_after)
}

/// §3: users without an Exchange Online mailbox. The code is `MailboxNotEnabledForRESTAPI`, but
/// the inactive/soft-deleted/on-premises variant is reported with other codes and only its
/// message tells it apart, so here (only) the message is read too.
pub(crate) fn is_no_mailbox(e: &ApiError) -> bool {
    let code = |c: &str| c.eq_ignore_ascii_case("MailboxNotEnabledForRESTAPI");
    if code(&e.code) || e.inner_code.as_deref().is_some_and(code) {
        return true;
    }
    let message = e.message.to_ascii_lowercase();
    e.status == 404
        && (message.contains("not yet supported for this mailbox")
            || (message.contains("mailbox is either inactive") && message.contains("on-prem")))
}

/// What every kind of read makes of an inner error: no mailbox, an expired delta, else the
/// directory mapping with `permission` as the advice for a 403.
pub(crate) fn common_error(e: &ApiError, permission: &str) -> MailboxError {
    if is_no_mailbox(e) {
        return MailboxError::NoMailbox;
    }
    if is_delta_expired(e) {
        return MailboxError::DeltaExpired;
    }
    MailboxError::Graph(api_error(e, permission))
}

// ---------------------------------------------------------------------------------------------
// Scheduling
// ---------------------------------------------------------------------------------------------

/// Limits shared by every run of one [`BatchExecutor`] (and its clones).
#[derive(Debug)]
struct Limits {
    max_batches: usize,
    batches: Arc<Semaphore>,
    /// Inner requests in flight per mailbox (lower-cased id).
    per_mailbox: Mutex<HashMap<String, usize>>,
    /// Signalled whenever a batch ends: a mailbox slot or a batch permit may be free.
    freed: Notify,
}

impl Limits {
    fn new(batches: usize) -> Self {
        let max_batches = batches.max(1);
        Self {
            max_batches,
            batches: Arc::new(Semaphore::new(max_batches)),
            per_mailbox: Mutex::new(HashMap::new()),
            freed: Notify::new(),
        }
    }
}

/// What a running batch holds; released when the batch ends, fails or is cancelled.
struct Reservation {
    limits: Arc<Limits>,
    mailboxes: Vec<String>,
    permit: Option<OwnedSemaphorePermit>,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        {
            let mut counts = self
                .limits
                .per_mailbox
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            for mailbox in &self.mailboxes {
                if let Some(n) = counts.get_mut(mailbox) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        counts.remove(mailbox);
                    }
                }
            }
        }
        self.permit.take();
        self.limits.freed.notify_waiters();
    }
}

/// One read waiting, or in flight.
struct Job {
    index: usize,
    budget: RetryBudget,
    /// Throttled: not before this.
    not_before: Option<Instant>,
}

fn mailbox_key(mailbox: &str) -> String {
    mailbox.trim().to_ascii_lowercase()
}

fn status_label(status: u16) -> String {
    status.to_string()
}

type BatchResult<B> = Result<Vec<InnerAnswer<B>>, GraphError>;

async fn send_batch<B: PageBody>(
    client: GraphClient,
    body: serde_json::Value,
    reservation: Reservation,
) -> BatchResult<B> {
    let answer = client.execute(&GraphRequest::post("/$batch", body)).await;
    drop(reservation);
    let answer = answer?;
    let decoded: BatchAnswer<B> = answer.json()?;
    Ok(decoded.responses)
}

/// Reads of many mailboxes through `$batch`. One long-lived value per app (clones share the
/// limits); credentials are asked for on every run, as [`crate::GraphDirectory`] does.
#[derive(Clone)]
pub(crate) struct BatchExecutor {
    tokens: TokenProvider,
    credentials: Arc<dyn CredentialSource>,
    limits: Arc<Limits>,
}

impl fmt::Debug for BatchExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchExecutor")
            .field("tokens", &self.tokens)
            .field("max_batches_in_flight", &self.limits.max_batches)
            .finish_non_exhaustive()
    }
}

impl BatchExecutor {
    pub(crate) fn new(tokens: TokenProvider, credentials: Arc<dyn CredentialSource>) -> Self {
        Self {
            tokens,
            credentials,
            limits: Arc::new(Limits::new(DEFAULT_BATCHES_IN_FLIGHT)),
        }
    }

    /// New limits: from here on this value no longer shares them with earlier clones.
    pub(crate) fn with_max_batches_in_flight(mut self, batches: usize) -> Self {
        self.limits = Arc::new(Limits::new(batches));
        self
    }

    pub(crate) fn max_batches_in_flight(&self) -> usize {
        self.limits.max_batches
    }

    pub(crate) fn tokens(&self) -> &TokenProvider {
        &self.tokens
    }

    async fn client(&self) -> Result<GraphClient, DirectoryError> {
        let owned = self.credentials.app_credentials().await?;
        Ok(GraphClient::new(
            self.tokens.clone(),
            AppCredential::from_owned(owned),
        ))
    }

    /// One answer per read, in the order of `reads`.
    pub(crate) async fn read<R: BatchRead>(
        &self,
        reads: &[R],
    ) -> Vec<Result<R::Answer, MailboxError>> {
        if reads.is_empty() {
            return Vec::new();
        }
        let client = match self.client().await {
            Ok(c) => c,
            Err(e) => {
                return reads
                    .iter()
                    .map(|_| Err(MailboxError::Graph(e.clone())))
                    .collect();
            }
        };
        let policy = client.config().retry.clone();
        let pending = (0..reads.len())
            .map(|index| Job {
                index,
                budget: RetryBudget::new(&policy),
                not_before: None,
            })
            .collect();
        let mut run = Run {
            reads,
            client,
            limits: self.limits.clone(),
            policy,
            pending,
            in_flight: HashMap::new(),
            tasks: JoinSet::new(),
            results: (0..reads.len()).map(|_| None).collect(),
        };
        run.run().await;
        let results: Vec<_> = run
            .results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    Err(MailboxError::Graph(DirectoryError::Protocol(
                        "no answer for a mailbox read".into(),
                    )))
                })
            })
            .collect();
        tracing::debug!(
            kind = R::KIND,
            reads = results.len(),
            failed = results.iter().filter(|r| r.is_err()).count(),
            "mailbox reads done"
        );
        results
    }
}

/// One `read` call: the queue, the batches in flight and the results.
struct Run<'a, R: BatchRead> {
    reads: &'a [R],
    client: GraphClient,
    limits: Arc<Limits>,
    policy: RetryPolicy,
    pending: VecDeque<Job>,
    in_flight: HashMap<TaskId, Vec<Job>>,
    tasks: JoinSet<BatchResult<R::Body>>,
    results: Vec<Option<Result<R::Answer, MailboxError>>>,
}

impl<R: BatchRead> Run<'_, R> {
    fn settle(&mut self, index: usize, result: Result<R::Answer, MailboxError>) {
        if let Some(slot) = self.results.get_mut(index) {
            *slot = Some(result);
        }
    }

    /// Takes the next batch off the queue and reserves its mailbox slots; `None` when nothing
    /// can go now (empty, throttled, or every waiting mailbox at its limit).
    fn next_batch(&mut self, now: Instant) -> Option<(Vec<Job>, Vec<String>, serde_json::Value)> {
        let reads = self.reads;
        let limits = self.limits.clone();
        let config = self.client.config();
        let mut jobs = Vec::new();
        let mut mailboxes = Vec::new();
        let mut requests = Vec::new();
        let mut refused = Vec::new();
        {
            let mut counts = limits
                .per_mailbox
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let mut i = 0;
            while i < self.pending.len() && jobs.len() < MAX_BATCH_ITEMS {
                let Some(job) = self.pending.get(i) else {
                    break;
                };
                let read = &reads[job.index];
                let key = mailbox_key(read.mailbox());
                let ready = job.not_before.is_none_or(|t| t <= now);
                if !ready || counts.get(&key).copied().unwrap_or(0) >= MAX_PER_MAILBOX {
                    i += 1;
                    continue;
                }
                let Some(mut job) = self.pending.remove(i) else {
                    break;
                };
                match read.url(config) {
                    Ok(url) => {
                        *counts.entry(key.clone()).or_insert(0) += 1;
                        job.budget.start_attempt();
                        let mut item = json!({
                            "id": job.index.to_string(),
                            "method": "GET",
                            "url": url,
                        });
                        // A read without preferences (a mailbox setting) sends no headers.
                        let prefer = read.prefer();
                        if !prefer.is_empty() {
                            item["headers"] = json!({ "Prefer": prefer });
                        }
                        requests.push(item);
                        mailboxes.push(key);
                        jobs.push(job);
                    }
                    // Never sent: a foreign link, an empty mailbox id, a bad window.
                    Err(e) => refused.push((job.index, e)),
                }
            }
        }
        for (index, e) in refused {
            self.settle(index, Err(e));
        }
        if jobs.is_empty() {
            return None;
        }
        Some((jobs, mailboxes, json!({ "requests": requests })))
    }

    /// Sends as many batches as the limits allow.
    fn dispatch(&mut self) {
        loop {
            if self.pending.is_empty() {
                return;
            }
            let Ok(permit) = self.limits.batches.clone().try_acquire_owned() else {
                return;
            };
            let Some((jobs, mailboxes, body)) = self.next_batch(Instant::now()) else {
                return;
            };
            tracing::debug!(
                kind = R::KIND,
                items = jobs.len(),
                "sending a mailbox batch"
            );
            let reservation = Reservation {
                limits: self.limits.clone(),
                mailboxes,
                permit: Some(permit),
            };
            let handle = self.tasks.spawn(send_batch::<R::Body>(
                self.client.clone(),
                body,
                reservation,
            ));
            self.in_flight.insert(handle.id(), jobs);
        }
    }

    /// Puts a job back for the next batch (424, or an answer missing), within its budget.
    fn requeue(&mut self, job: Job, why: &str) {
        if job.budget.attempts >= self.policy.max_attempts {
            let message = format!(
                "gave up on a mailbox read after {} attempts: {why}",
                job.budget.attempts
            );
            self.settle(
                job.index,
                Err(MailboxError::Graph(DirectoryError::Unavailable(message))),
            );
        } else {
            self.pending.push_back(job);
        }
    }

    fn finish_batch(&mut self, jobs: Vec<Job>, outcome: BatchResult<R::Body>) {
        let answers = match outcome {
            Ok(answers) => answers,
            Err(e) => {
                let error = directory_error(e, R::PERMISSION);
                for job in jobs {
                    metrics::counter!("switchboard_graph_batch_items_total", "status" => "error")
                        .increment(1);
                    self.settle(job.index, Err(MailboxError::Graph(error.clone())));
                }
                return;
            }
        };
        let mut waiting: Vec<Option<Job>> = jobs.into_iter().map(Some).collect();
        let mut throttled: Vec<(Job, ApiError)> = Vec::new();
        let now = self.client.tokens().clock().now();
        for answer in answers {
            let slot = answer
                .id
                .parse::<usize>()
                .ok()
                .and_then(|index| {
                    waiting
                        .iter_mut()
                        .find(|j| j.as_ref().is_some_and(|j| j.index == index))
                })
                .and_then(Option::take);
            let Some(job) = slot else {
                tracing::warn!(id = %answer.id, "a batch answer for no request of the batch; ignored");
                continue;
            };
            metrics::counter!("switchboard_graph_batch_items_total", "status" => status_label(answer.status))
                .increment(1);
            let read = &self.reads[job.index];
            match answer.status {
                200..=299 => {
                    let result = match answer.body {
                        Some(InnerBody::Json(body)) => read.answer(*body),
                        _ => Err(MailboxError::Graph(DirectoryError::Protocol(format!(
                            "batch item {} answered {} without a JSON body",
                            answer.id, answer.status
                        )))),
                    };
                    self.settle(job.index, result);
                }
                // We send no dependsOn, but a 424 is Graph's "not run": try it again.
                424 => self.requeue(job, "Graph kept answering 424 Failed Dependency"),
                429 | 503 | 504 => {
                    let headers = inner_headers(answer.headers);
                    let retry_after = parse_retry_after(&headers, now);
                    let error = inner_api_error(answer.status, &headers, answer.body, retry_after);
                    throttled.push((job, error));
                }
                status => {
                    let headers = inner_headers(answer.headers);
                    let error = inner_api_error(status, &headers, answer.body, None);
                    tracing::debug!(kind = R::KIND, status, code = %error.code, "mailbox read failed");
                    self.settle(job.index, Err(read.error(&error)));
                }
            }
        }
        for job in waiting.into_iter().flatten() {
            metrics::counter!("switchboard_graph_batch_items_total", "status" => "missing")
                .increment(1);
            tracing::warn!("a batch answer lacked one of its requests; sending it again");
            self.requeue(job, "Graph did not answer it in its batch");
        }
        if throttled.is_empty() {
            return;
        }
        // One wait for all of them, the longest Graph asked for (§6.3).
        let wait = throttled.iter().filter_map(|(_, e)| e.retry_after).max();
        let now = Instant::now();
        for (mut job, error) in throttled {
            match job.budget.next_delay(wait) {
                Ok(delay) => {
                    metrics::counter!("switchboard_graph_retries_total", "status" => status_label(error.status))
                        .increment(1);
                    tracing::info!(kind = R::KIND, status = error.status, code = %error.code, ?delay, "Graph throttled a mailbox read; waiting");
                    job.not_before = Some(now + delay);
                    self.pending.push_back(job);
                }
                Err(reason) => {
                    tracing::warn!(
                        kind = R::KIND,
                        ?reason,
                        attempts = job.budget.attempts,
                        "mailbox read retry budget exhausted"
                    );
                    let exhausted = GraphError::RetriesExhausted {
                        attempts: job.budget.attempts,
                        waited: job.budget.waited,
                        last: Box::new(error),
                    };
                    self.settle(
                        job.index,
                        Err(MailboxError::Graph(directory_error(
                            exhausted,
                            R::PERMISSION,
                        ))),
                    );
                }
            }
        }
    }

    async fn run(&mut self) {
        loop {
            // Registered before looking at the limits, so a batch of another caller that ends
            // in between still wakes us.
            let freed = self.limits.clone();
            let notified = freed.freed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();

            self.dispatch();
            if self.tasks.is_empty() && self.pending.is_empty() {
                return;
            }
            let next_ready = self.pending.iter().filter_map(|j| j.not_before).min();
            tokio::select! {
                Some(joined) = self.tasks.join_next_with_id(), if !self.tasks.is_empty() => {
                    match joined {
                        Ok((id, outcome)) => {
                            let jobs = self.in_flight.remove(&id).unwrap_or_default();
                            self.finish_batch(jobs, outcome);
                        }
                        Err(e) => {
                            let jobs = self.in_flight.remove(&e.id()).unwrap_or_default();
                            let error = DirectoryError::Unavailable(format!("a mailbox batch failed: {e}"));
                            for job in jobs {
                                self.settle(job.index, Err(MailboxError::Graph(error.clone())));
                            }
                        }
                    }
                }
                () = sleep_until(next_ready), if next_ready.is_some() => {}
                () = &mut notified => {}
            }
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    if let Some(at) = at {
        tokio::time::sleep_until(at).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> GraphConfig {
        GraphConfig::with_urls(
            Url::parse("https://graph.example.com").expect("url"),
            Url::parse("https://login.example.com").expect("url"),
        )
    }

    /// A body that is only ever an error.
    #[derive(Debug, Deserialize)]
    struct ErrorOnly {
        #[serde(default)]
        error: Option<serde_json::Value>,
    }

    impl PageBody for ErrorOnly {
        fn into_error(self) -> Option<serde_json::Value> {
            self.error
        }
    }

    fn answer(json: &str) -> InnerAnswer<ErrorOnly> {
        serde_json::from_str(json).expect("inner answer")
    }

    #[test]
    fn segments_and_user_paths_are_encoded() {
        assert_eq!(encode_segment(".."), "%2E%2E");
        assert_eq!(encode_segment("a?b=1&c"), "a%3Fb=1%26c");
        assert_eq!(
            user_path(" Adele@Contoso.com ").expect("path"),
            "/users/Adele@Contoso.com"
        );
        assert!(matches!(
            user_path("  "),
            Err(MailboxError::Graph(DirectoryError::Protocol(_)))
        ));
        assert_eq!(mailbox_key(" Adele@Contoso.com "), "adele@contoso.com");
    }

    #[test]
    fn links_lose_the_version_root_and_stay_on_the_graph_host() {
        let c = config();
        assert_eq!(
            relative_link(
                &c,
                "https://graph.example.com/v1.0/users/u/contacts/delta?$deltatoken=a%2Bb"
            )
            .expect("link"),
            "/users/u/contacts/delta?$deltatoken=a%2Bb"
        );
        let with_path = GraphConfig::with_urls(
            Url::parse("http://127.0.0.1:9/graph/").expect("url"),
            Url::parse("http://127.0.0.1:9").expect("url"),
        );
        assert_eq!(
            relative_link(
                &with_path,
                "http://127.0.0.1:9/graph/v1.0/users/u/contactFolders/delta?$skiptoken=x"
            )
            .expect("link"),
            "/users/u/contactFolders/delta?$skiptoken=x"
        );
        for bad in [
            "https://evil.example.com/v1.0/users/u/contacts/delta",
            "http://graph.example.com/v1.0/users/u/contacts/delta",
            "https://graph.example.com/beta/users/u/contacts/delta",
            "https://graph.example.com/v1.0x/users",
            "/users/u/contacts/delta?$deltatoken=a",
            "",
        ] {
            assert!(
                matches!(relative_link(&c, bad), Err(DirectoryError::Protocol(_))),
                "{bad}"
            );
        }
        match relative_link(&c, "https://203.0.113.9/v1.0/users") {
            Err(DirectoryError::Protocol(m)) => {
                assert!(
                    m.contains("203.0.113.9:443") && m.contains("graph.example.com"),
                    "{m}"
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn inner_bodies_may_be_text_or_missing() {
        let a = answer(
            r#"{"id":"3","status":500,"headers":{"Content-Type":"text/plain"},"body":"oops"}"#,
        );
        let e = inner_api_error(a.status, &inner_headers(a.headers), a.body, None);
        assert_eq!(
            (e.status, e.code.as_str(), e.message.as_str()),
            (500, "InternalServerError", "oops")
        );
        let a = answer(r#"{"id":"4","status":502}"#);
        assert!(a.body.is_none());
        let a = answer(r#"{"id":"5","status":200,"body":[1,2],"extra":true}"#);
        assert!(matches!(a.body, Some(InnerBody::Other)));
    }

    #[test]
    fn inner_retry_after_and_request_id_come_from_the_inner_headers() {
        let a = answer(
            r#"{"id":"1","status":429,"headers":{"Retry-After":"0.249","request-id":"rid"},
                "body":{"error":{"code":"ApplicationThrottled","message":"Application is over its MailboxConcurrency limit."}}}"#,
        );
        let headers = inner_headers(a.headers);
        let now = jiff::Timestamp::now();
        let retry_after = parse_retry_after(&headers, now);
        assert_eq!(retry_after, Some(Duration::from_millis(249)));
        let e = inner_api_error(a.status, &headers, a.body, retry_after);
        assert_eq!(e.code, "ApplicationThrottled");
        assert_eq!(e.request_id.as_deref(), Some("rid"));
    }

    #[test]
    fn common_errors() {
        let error = |status: u16, code: &str, message: &str| {
            let a = answer(&format!(
                r#"{{"id":"1","status":{status},"body":{{"error":{{"code":"{code}","message":"{message}"}}}}}}"#
            ));
            inner_api_error(a.status, &inner_headers(a.headers), a.body, None)
        };
        assert_eq!(
            common_error(&error(404, "MailboxNotEnabledForRESTAPI", "x"), "p"),
            MailboxError::NoMailbox
        );
        assert_eq!(
            common_error(&error(410, "Gone", ""), "p"),
            MailboxError::DeltaExpired
        );
        match common_error(
            &error(403, "ErrorAccessDenied", "Access is denied."),
            "grant it",
        ) {
            MailboxError::Graph(DirectoryError::Denied(m)) => {
                assert!(m.contains("Grant it"), "{m}")
            }
            other => panic!("{other:?}"),
        }
    }
}
