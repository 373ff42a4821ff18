//! `/v1.0/subscriptions`, the validation handshake, change and lifecycle notifications (§5),
//! against a tiny axum receiver on 127.0.0.1:0.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use graph_emulator::EmulatorConfig;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::*;

/// What the receiver saw: path, query, content type, body.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    query: HashMap<String, String>,
    content_type: String,
    body: String,
}

#[derive(Clone, Default)]
struct Receiver {
    seen: Arc<Mutex<Vec<Seen>>>,
    /// Per path: how many notification POSTs so far.
    hits: Arc<Mutex<HashMap<String, u32>>>,
}

struct Hook {
    base: String,
    rx: Receiver,
}

impl Hook {
    fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.base)
    }

    fn seen(&self) -> Vec<Seen> {
        self.rx.seen.lock().expect("lock").clone()
    }

    /// Notification bodies (not validation requests) POSTed to `path`.
    fn bodies(&self, path: &str) -> Vec<Value> {
        self.seen()
            .into_iter()
            .filter(|s| s.path == path && !s.query.contains_key("validationToken"))
            .map(|s| serde_json::from_str(&s.body).expect("JSON notification"))
            .collect()
    }

    /// Waits until `path` has received at least `n` notification POSTs.
    async fn wait_for(&self, path: &str, n: usize) -> Vec<Value> {
        for _ in 0..200 {
            let b = self.bodies(path);
            if b.len() >= n {
                return b;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "{path}: fewer than {n} notifications: {:?}",
            self.bodies(path)
        );
    }
}

/// Paths: `ok`/`life` echo the token and answer 202 to notifications; `wrong` echoes another
/// token; `fail` answers 500; `slow` takes 2 s; `flaky` validates but fails the first two
/// notifications with 500; `reject` validates but answers 400 to notifications.
async fn receiver(
    State(rx): State<Receiver>,
    Path(path): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    rx.seen.lock().expect("lock").push(Seen {
        path: path.clone(),
        query: query.clone(),
        content_type,
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    if let Some(token) = query.get("validationToken") {
        return match path.as_str() {
            "wrong" => (AxumStatus::OK, "not-the-token".to_owned()).into_response(),
            "fail" => AxumStatus::INTERNAL_SERVER_ERROR.into_response(),
            "slow" => {
                tokio::time::sleep(Duration::from_secs(2)).await;
                (AxumStatus::OK, token.clone()).into_response()
            }
            _ => (
                AxumStatus::OK,
                [("content-type", "text/plain")],
                token.clone(),
            )
                .into_response(),
        };
    }
    let n = {
        let mut hits = rx.hits.lock().expect("lock");
        let n = hits.entry(path.clone()).or_default();
        *n += 1;
        *n
    };
    match path.as_str() {
        "flaky" if n <= 2 => AxumStatus::INTERNAL_SERVER_ERROR.into_response(),
        "reject" => AxumStatus::BAD_REQUEST.into_response(),
        _ => AxumStatus::ACCEPTED.into_response(),
    }
}

async fn hook() -> Hook {
    let rx = Receiver::default();
    let app = Router::new()
        .route("/{path}", post(receiver))
        .with_state(rx.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Hook {
        base: format!("http://{addr}"),
        rx,
    }
}

/// An emulator with short handshake timeout and retry delays, a receiver, and a token with
/// User.Read.All.
async fn setup() -> (Emu, Hook, String) {
    let emu = start_config(EmulatorConfig {
        seed: 7,
        handshake_timeout: Duration::from_secs(1),
        delivery_timeout: Duration::from_secs(1),
        delivery_retry_delays: vec![Duration::from_millis(50), Duration::from_millis(100)],
        ..EmulatorConfig::default()
    })
    .await;
    let app = emu.app(&["User.Read.All"], true).await;
    let token = emu.access_token(&app).await;
    (emu, hook().await, token)
}

impl Emu {
    async fn graph(&self, method: Method, path: &str, token: &str, body: Option<Value>) -> Reply {
        let mut req = self.http.request(method, self.url(path)).bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.expect("request");
        Reply {
            status: r.status(),
            headers: r.headers().clone(),
            text: r.text().await.expect("body"),
        }
    }
}

fn in_minutes(minutes: i64) -> String {
    (jiff::Timestamp::now() + jiff::SignedDuration::from_mins(minutes)).to_string()
}

fn subscription_body(hook: &Hook, notify: &str, lifecycle: Option<&str>) -> Value {
    let mut body = json!({
        "changeType": "updated,deleted",
        "notificationUrl": hook.url(notify),
        "resource": "/users",
        "expirationDateTime": in_minutes(24 * 60),
        "clientState": "s3cret",
    });
    if let Some(l) = lifecycle {
        body["lifecycleNotificationUrl"] = json!(hook.url(l));
    }
    body
}

async fn subscribe(emu: &Emu, token: &str, body: Value) -> Value {
    let r = emu
        .graph(Method::POST, "/v1.0/subscriptions", token, Some(body))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    r.json()
}

fn expiry(v: &Value) -> jiff::Timestamp {
    v.as_str()
        .expect("date string")
        .parse()
        .expect("DateTimeOffset")
}

fn minutes_from_now(t: jiff::Timestamp) -> i64 {
    t.duration_since(jiff::Timestamp::now()).as_secs() / 60
}

#[tokio::test]
async fn create_validates_both_endpoints_and_returns_the_resource() {
    let (emu, hook, token) = setup().await;
    let mut body = subscription_body(&hook, "ok", Some("life"));
    body["notificationUrl"] = json!(format!("{}?route=a", hook.url("ok")));
    let s = subscribe(&emu, &token, body).await;
    assert_eq!(
        s["@odata.context"],
        format!("{}/v1.0/$metadata#subscriptions/$entity", emu.base)
    );
    let mut keys: Vec<&str> = s
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "@odata.context",
            "applicationId",
            "changeType",
            "clientState",
            "creatorId",
            "encryptionCertificate",
            "encryptionCertificateId",
            "expirationDateTime",
            "id",
            "includeResourceData",
            "latestSupportedTlsVersion",
            "lifecycleNotificationUrl",
            "notificationContentType",
            "notificationQueryOptions",
            "notificationUrl",
            "notificationUrlAppId",
            "resource",
        ]
    );
    assert!(uuid::Uuid::parse_str(s["id"].as_str().expect("id")).is_ok());
    assert_eq!(s["resource"], "/users");
    assert_eq!(s["changeType"], "updated,deleted");
    assert_eq!(s["clientState"], "s3cret");
    assert_eq!(s["includeResourceData"], false);
    assert_eq!(s["latestSupportedTlsVersion"], "v1_2");
    assert_eq!(s["notificationUrl"], format!("{}?route=a", hook.url("ok")));
    assert_eq!(s["lifecycleNotificationUrl"], hook.url("life"));
    let claims = jwt_claims(&token);
    assert_eq!(s["applicationId"], claims["appid"]);
    assert_eq!(s["creatorId"], claims["oid"]);
    let exp = s["expirationDateTime"].as_str().expect("expiry");
    assert!(exp.ends_with('Z') && exp.len() == 28, "7 digits: {exp}");
    assert!((1438..=1440).contains(&minutes_from_now(expiry(&s["expirationDateTime"]))));

    // Both endpoints saw a text/plain POST with an empty body and a decodable token; the
    // notification URL's own query came along.
    let seen = hook.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    for (v, path) in seen.iter().zip(["ok", "life"]) {
        assert_eq!(v.path, path);
        assert!(v.content_type.starts_with("text/plain"), "{v:?}");
        assert!(v.body.is_empty());
        assert!(v.query["validationToken"].contains(' '), "{v:?}");
    }
    assert_eq!(seen[0].query.get("route").map(String::as_str), Some("a"));

    let log = emu.get("/_emulator/notifications").await.json();
    let log = log["value"].as_array().expect("log");
    assert_eq!(log.len(), 2);
    assert!(
        log.iter()
            .all(|d| d["kind"] == "validation" && d["status"] == 200)
    );
    assert_eq!(log[0]["subscriptionIds"], json!([s["id"]]));

    // GET one and the list.
    let id = s["id"].as_str().expect("id");
    let r = emu
        .graph(
            Method::GET,
            &format!("/v1.0/subscriptions/{id}"),
            &token,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json(), s);
    let r = emu
        .graph(Method::GET, "/v1.0/subscriptions", &token, None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let list = r.json();
    assert_eq!(
        list["@odata.context"],
        format!("{}/v1.0/$metadata#subscriptions", emu.base)
    );
    assert_eq!(list["value"].as_array().map(Vec::len), Some(1));
    assert_eq!(list["value"][0]["id"], s["id"]);
}

#[tokio::test]
async fn handshake_failures_refuse_the_subscription() {
    let (emu, hook, token) = setup().await;
    let cases = [
        (
            "wrong",
            None,
            "ValidationError",
            "Subscription validation request failed. Response must exactly match validationToken query parameter.",
        ),
        (
            "fail",
            None,
            "ValidationError",
            "Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request.",
        ),
        (
            "slow",
            None,
            "InvalidRequest",
            "Subscription validation request timed out.",
        ),
        (
            "ok",
            Some("fail"),
            "ValidationError",
            "Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request.",
        ),
    ];
    for (notify, lifecycle, code, message) in cases {
        let r = emu
            .graph(
                Method::POST,
                "/v1.0/subscriptions",
                &token,
                Some(subscription_body(&hook, notify, lifecycle)),
            )
            .await;
        assert_error(&r, StatusCode::BAD_REQUEST, code, message);
    }
    // Nothing was created; refused endpoints are in the log.
    let subs = emu.get("/_emulator/subscriptions").await.json();
    assert_eq!(subs["value"], json!([]));
    let log = emu.get("/_emulator/notifications").await.json();
    let statuses: Vec<Value> = log["value"]
        .as_array()
        .expect("log")
        .iter()
        .map(|d| d["status"].clone())
        .collect();
    assert_eq!(
        statuses,
        [json!(200), json!(500), Value::Null, json!(200), json!(500)]
    );
    // A refused connection fails the same way.
    let mut body = subscription_body(&hook, "ok", None);
    body["notificationUrl"] = json!("http://127.0.0.1:9/nobody");
    let r = emu
        .graph(Method::POST, "/v1.0/subscriptions", &token, Some(body))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert_eq!(r.json()["error"]["code"], "ValidationError");
}

#[tokio::test]
async fn create_body_is_validated() {
    let (emu, hook, token) = setup().await;
    let post = |body: Value| {
        let emu = &emu;
        let token = &token;
        async move {
            emu.graph(Method::POST, "/v1.0/subscriptions", token, Some(body))
                .await
        }
    };
    let base = subscription_body(&hook, "ok", None);
    let with = |key: &str, value: Value| {
        let mut b = base.clone();
        b[key] = value;
        b
    };
    let r = post(with("changeType", json!("created,updated"))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert_eq!(r.json()["error"]["code"], "ExtensionError");
    assert!(r.text.contains("'created' is not supported"), "{}", r.text);

    for (key, value) in [
        ("notificationUrl", json!("http://pbx.example/notify")),
        ("notificationUrl", json!("not a url")),
        ("lifecycleNotificationUrl", json!("ftp://127.0.0.1/x")),
        ("clientState", json!("x".repeat(129))),
        ("resource", json!("/users/abc/messages")),
        ("expirationDateTime", json!(in_minutes(-5))),
        ("latestSupportedTlsVersion", json!("v2_0")),
        ("changeType", json!("modified")),
    ] {
        let r = post(with(key, value.clone())).await;
        assert_eq!(
            r.status,
            StatusCode::BAD_REQUEST,
            "{key}={value}: {}",
            r.text
        );
        assert_eq!(r.json()["error"]["code"], "InvalidRequest", "{}", r.text);
    }
    let mut missing = base.clone();
    missing
        .as_object_mut()
        .expect("obj")
        .remove("expirationDateTime");
    let r = post(missing).await;
    assert_error(
        &r,
        StatusCode::BAD_REQUEST,
        "InvalidRequest",
        "Required property 'expirationDateTime' is missing in the request body.",
    );
    let r = post(with("expirationDateTime", json!(in_minutes(41_770)))).await;
    assert_error(
        &r,
        StatusCode::BAD_REQUEST,
        "ExtensionError",
        "Subscription expiration can only be 41760 minutes in the future.",
    );
    let r = post(with("clientStat", json!("typo"))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert_eq!(r.json()["error"]["code"], "BadRequest");
    // No handshake happened for any refused body.
    assert!(hook.seen().is_empty());

    // Accepted: 128-character clientState, localhost, /users/{id}, under 45 min → 45 min.
    let user = emu.create_user(json!({"displayName": "Ada"})).await;
    let mut ok = with("clientState", json!("x".repeat(128)));
    ok["notificationUrl"] = json!(hook.url("ok").replace("127.0.0.1", "localhost"));
    ok["resource"] = json!(format!("/users/{user}"));
    ok["expirationDateTime"] = json!(in_minutes(5));
    let s = subscribe(&emu, &token, ok).await;
    assert!((44..=45).contains(&minutes_from_now(expiry(&s["expirationDateTime"]))));
}

#[tokio::test]
async fn granted_lifetime_can_be_shortened() {
    let (emu, hook, token) = setup().await;
    let r = emu
        .post_json(
            "/_emulator/subscriptions/config",
            json!({"max_lifetime_minutes": 60}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json()["max_lifetime_minutes"], 60);
    let s = subscribe(&emu, &token, subscription_body(&hook, "ok", None)).await;
    assert!((59..=60).contains(&minutes_from_now(expiry(&s["expirationDateTime"]))));
    // Renewing is shortened the same way.
    let id = s["id"].as_str().expect("id");
    let r = emu
        .graph(
            Method::PATCH,
            &format!("/v1.0/subscriptions/{id}"),
            &token,
            Some(json!({"expirationDateTime": in_minutes(3000)})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!((59..=60).contains(&minutes_from_now(expiry(&r.json()["expirationDateTime"]))));
    let r = emu
        .post_json(
            "/_emulator/subscriptions/config",
            json!({"max_lifetime_minutes": 0}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn renew_reauthorize_delete_and_not_found() {
    let (emu, hook, token) = setup().await;
    let s = subscribe(&emu, &token, subscription_body(&hook, "ok", None)).await;
    let id = s["id"].as_str().expect("id").to_owned();
    let path = format!("/v1.0/subscriptions/{id}");
    let r = emu
        .graph(
            Method::PATCH,
            &path,
            &token,
            Some(json!({"expirationDateTime": in_minutes(3 * 24 * 60)})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let renewed = r.json();
    assert_eq!(renewed["id"], s["id"]);
    assert_eq!(renewed["clientState"], "s3cret");
    let exp = expiry(&renewed["expirationDateTime"]);
    assert!((4318..=4320).contains(&minutes_from_now(exp)));

    // Path segments are case-insensitive, as everywhere in Graph.
    let r = emu
        .graph(
            Method::POST,
            &format!("/v1.0/Subscriptions/{id}/Reauthorize/"),
            &token,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let r = emu.graph(Method::GET, &path, &token, None).await;
    assert_eq!(expiry(&r.json()["expirationDateTime"]), exp, "unchanged");
    let subs = emu.get("/_emulator/subscriptions").await.json();
    assert_eq!(subs["value"][0]["reauthorizations"], 1);

    // Another app sees none of it.
    let other_app = emu.app(&["User.Read.All"], true).await;
    let other = emu.access_token(&other_app).await;
    let r = emu.graph(Method::GET, &path, &other, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    let r = emu
        .graph(Method::GET, "/v1.0/subscriptions", &other, None)
        .await;
    assert_eq!(r.json()["value"], json!([]));

    let r = emu.graph(Method::DELETE, &path, &token, None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let unknown = format!("/v1.0/subscriptions/{}", uuid::Uuid::new_v4());
    for p in [&path, &unknown] {
        let r = emu.graph(Method::GET, p, &token, None).await;
        assert_error(
            &r,
            StatusCode::NOT_FOUND,
            "ExtensionError",
            "Operation: Get; Exception: [Status Code: NotFound; Reason: Object was not found in the store.]",
        );
        let r = emu
            .graph(
                Method::PATCH,
                p,
                &token,
                Some(json!({"expirationDateTime": in_minutes(100)})),
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
        assert!(r.text.contains("Operation: Update"), "{}", r.text);
        let r = emu.graph(Method::DELETE, p, &token, None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
        let r = emu
            .graph(Method::POST, &format!("{p}/reauthorize"), &token, None)
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    }
    let r = emu
        .graph(Method::PUT, "/v1.0/subscriptions", &token, None)
        .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn user_read_all_is_required() {
    let (emu, hook, _) = setup().await;
    let app = emu
        .app(&["Directory.Read.All", "User.ReadWrite.All"], true)
        .await;
    let token = emu.access_token(&app).await;
    let r = emu
        .graph(
            Method::POST,
            "/v1.0/subscriptions",
            &token,
            Some(subscription_body(&hook, "ok", None)),
        )
        .await;
    assert_error(
        &r,
        StatusCode::FORBIDDEN,
        "ExtensionError",
        "Operation: Create; Exception: [Status Code: Forbidden; Reason: Forbidden]",
    );
    let r = emu
        .http
        .post(emu.url("/v1.0/subscriptions"))
        .json(&subscription_body(&hook, "ok", None))
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(hook.seen().is_empty());
}

#[tokio::test]
async fn user_changes_are_delivered() {
    let (emu, hook, token) = setup().await;
    let s = subscribe(&emu, &token, subscription_body(&hook, "ok", None)).await;
    let sub_id = s["id"].as_str().expect("id").to_owned();
    // An updated-only subscription on the same URL: batched into the same POSTs.
    let mut updated_only = subscription_body(&hook, "ok", None);
    updated_only["changeType"] = json!("updated");
    updated_only["clientState"] = Value::Null;
    let s2 = subscribe(&emu, &token, updated_only).await;

    let user = emu
        .create_user(json!({"displayName": "Grace Hopper"}))
        .await;
    let b = hook.wait_for("ok", 1).await;
    let r = emu
        .patch_json(
            &format!("/_emulator/users/{user}"),
            json!({"jobTitle": "Admiral"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let b2 = hook.wait_for("ok", 2).await;
    assert_eq!(b2.len(), 2);
    // A PATCH that changes nothing notifies nothing (checked at the next step's count).
    emu.patch_json(
        &format!("/_emulator/users/{user}"),
        json!({"jobTitle": "Admiral"}),
    )
    .await;
    let r = emu.delete(&format!("/_emulator/users/{user}")).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    hook.wait_for("ok", 3).await;
    let r = emu
        .post_json(&format!("/_emulator/users/{user}/restore"), json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    hook.wait_for("ok", 4).await;
    let r = emu
        .delete(&format!("/_emulator/users/{user}?permanent=true"))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let bodies = hook.wait_for("ok", 5).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let bodies_after = hook.bodies("ok");
    assert_eq!(bodies_after.len(), 5, "{bodies_after:?}");
    assert_eq!(b[0], bodies[0]);

    let items: Vec<Value> = bodies
        .iter()
        .flat_map(|b| b["value"].as_array().cloned().expect("value"))
        .collect();
    // create, patch, restore → both subscriptions; soft and hard delete → only the first.
    let kinds: Vec<(String, String)> = items
        .iter()
        .map(|i| {
            (
                i["subscriptionId"].as_str().expect("sid").to_owned(),
                i["changeType"].as_str().expect("ct").to_owned(),
            )
        })
        .collect();
    let s2_id = s2["id"].as_str().expect("id").to_owned();
    let up = |id: &str| (id.to_owned(), "updated".to_owned());
    let del = (sub_id.clone(), "deleted".to_owned());
    assert_eq!(
        kinds,
        [
            up(&sub_id),
            up(&s2_id),
            up(&sub_id),
            up(&s2_id),
            del.clone(),
            up(&sub_id),
            up(&s2_id),
            del
        ]
    );
    let mut last = 0u64;
    for item in &items {
        let mut keys: Vec<&str> = item
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "changeType",
                "clientState",
                "resource",
                "resourceData",
                "subscriptionExpirationDateTime",
                "subscriptionId",
                "tenantId"
            ]
        );
        assert_eq!(item["resource"], format!("Users/{user}"));
        assert_eq!(item["tenantId"], emu.tenant);
        let data = &item["resourceData"];
        assert_eq!(data["@odata.type"], "#Microsoft.Graph.User");
        assert_eq!(data["@odata.id"], format!("Users/{user}"));
        assert_eq!(data["id"], user);
        assert_eq!(data["organizationId"], emu.tenant);
        let seq = data["sequenceNumber"].as_u64().expect("integer");
        assert!(seq > 1 << 53, "{seq}");
        assert!(seq > last, "increasing");
        last = seq;
        if item["subscriptionId"] == sub_id.as_str() {
            assert_eq!(item["clientState"], "s3cret");
            assert_eq!(
                item["subscriptionExpirationDateTime"],
                s["expirationDateTime"]
            );
        } else {
            assert_eq!(item["clientState"], Value::Null);
        }
    }
    let seen = hook.seen();
    let posts: Vec<&Seen> = seen
        .iter()
        .filter(|s| !s.query.contains_key("validationToken"))
        .collect();
    assert!(
        posts
            .iter()
            .all(|p| p.content_type.starts_with("application/json"))
    );

    // The log has every POST with its status; validation requests come first.
    let log = emu.get("/_emulator/notifications").await.json();
    let sent: Vec<&Value> = log["value"]
        .as_array()
        .expect("log")
        .iter()
        .filter(|d| d["kind"] == "notification")
        .collect();
    assert_eq!(sent.len(), 5);
    for d in &sent {
        assert_eq!(d["status"], 202);
        assert_eq!(d["url"], hook.url("ok"));
        assert_eq!(d["attempt"], 1);
        assert!(d["latencyMs"].is_u64());
        assert_eq!(d["slow"], false);
    }
    assert_eq!(sent[0]["body"], bodies[0]);
    assert_eq!(sent[0]["subscriptionIds"], json!([sub_id, s2_id]));

    // Soft deletion can be switched to `updated` (the docs' wording).
    let r = emu
        .post_json(
            "/_emulator/subscriptions/config",
            json!({"soft_delete_change_type": "updated"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let other = emu.create_user(json!({"displayName": "Alan"})).await;
    hook.wait_for("ok", 6).await;
    emu.delete(&format!("/_emulator/users/{other}")).await;
    let bodies = hook.wait_for("ok", 7).await;
    let types: Vec<&Value> = bodies[6]["value"]
        .as_array()
        .expect("value")
        .iter()
        .map(|i| &i["changeType"])
        .collect();
    assert_eq!(types, [&json!("updated"), &json!("updated")]);

    // The expiry inside notifications can carry a non-Z offset (§5.3).
    let r = emu
        .post_json(
            "/_emulator/subscriptions/config",
            json!({"notification_offset_minutes": -480}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    emu.patch_json(
        &format!("/_emulator/users/{other}"),
        json!({"jobTitle": "x"}),
    )
    .await;
    let r = emu
        .post_json(&format!("/_emulator/users/{other}/restore"), json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let bodies = hook.wait_for("ok", 8).await;
    let shifted = bodies[7]["value"][0]["subscriptionExpirationDateTime"]
        .as_str()
        .expect("date");
    assert!(shifted.ends_with("-08:00"), "{shifted}");
    assert_eq!(
        shifted.parse::<jiff::Timestamp>().expect("parses"),
        expiry(&s["expirationDateTime"])
    );
}

#[tokio::test]
async fn failed_deliveries_are_retried_and_recorded() {
    let (emu, hook, token) = setup().await;
    subscribe(&emu, &token, subscription_body(&hook, "flaky", None)).await;
    subscribe(&emu, &token, subscription_body(&hook, "reject", None)).await;
    emu.create_user(json!({"displayName": "Flaky"})).await;
    let flaky = hook.wait_for("flaky", 3).await;
    assert_eq!(flaky[0], flaky[2], "the same batch is resent");
    hook.wait_for("reject", 1).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(hook.bodies("flaky").len(), 3, "no retry after success");
    assert_eq!(hook.bodies("reject").len(), 1, "4xx is not retried");
    let log = emu.get("/_emulator/notifications").await.json();
    let mut attempts: Vec<(String, u64, u64)> = log["value"]
        .as_array()
        .expect("log")
        .iter()
        .filter(|d| d["kind"] == "notification")
        .map(|d| {
            (
                d["url"]
                    .as_str()
                    .expect("url")
                    .rsplit('/')
                    .next()
                    .expect("path")
                    .to_owned(),
                d["attempt"].as_u64().expect("attempt"),
                d["status"].as_u64().expect("status"),
            )
        })
        .collect();
    attempts.sort();
    assert_eq!(
        attempts,
        [
            ("flaky".to_owned(), 1, 500),
            ("flaky".to_owned(), 2, 500),
            ("flaky".to_owned(), 3, 202),
            ("reject".to_owned(), 1, 400),
        ]
    );
    let r = emu.delete("/_emulator/notifications").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        emu.get("/_emulator/notifications").await.json()["value"],
        json!([])
    );
}

#[tokio::test]
async fn lifecycle_events_reach_the_lifecycle_url() {
    let (emu, hook, token) = setup().await;
    let s = subscribe(&emu, &token, subscription_body(&hook, "ok", Some("life"))).await;
    let id = s["id"].as_str().expect("id").to_owned();
    let fire = |event: &str| {
        let emu = &emu;
        let path = format!("/_emulator/subscriptions/{id}/lifecycle");
        let body = json!({ "event": event });
        async move { emu.post_json(&path, body).await }
    };
    let r = fire("reauthorizationRequired").await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let bodies = hook.wait_for("life", 1).await;
    assert_eq!(
        bodies[0],
        json!({"value": [{
            "subscriptionId": id,
            "subscriptionExpirationDateTime": s["expirationDateTime"],
            "tenantId": emu.tenant,
            "clientState": "s3cret",
            "lifecycleEvent": "reauthorizationRequired",
        }]})
    );
    fire("missed").await;
    let bodies = hook.wait_for("life", 2).await;
    assert_eq!(bodies[1]["value"][0]["lifecycleEvent"], "missed");
    assert!(
        hook.bodies("ok").is_empty(),
        "nothing on the notification URL"
    );

    let r = fire("subscriptionRemoved").await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let bodies = hook.wait_for("life", 3).await;
    assert_eq!(
        bodies[2]["value"][0]["lifecycleEvent"],
        "subscriptionRemoved"
    );
    let r = emu
        .graph(
            Method::GET,
            &format!("/v1.0/subscriptions/{id}"),
            &token,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    assert_eq!(fire("missed").await.status, StatusCode::NOT_FOUND);
    let log = emu.get("/_emulator/notifications").await.json();
    let kinds = log["value"]
        .as_array()
        .expect("log")
        .iter()
        .filter(|d| d["kind"] == "lifecycle")
        .count();
    assert_eq!(kinds, 3);

    // No lifecycle URL: nothing to send to.
    let plain = subscribe(&emu, &token, subscription_body(&hook, "ok", None)).await;
    let r = emu
        .post_json(
            &format!(
                "/_emulator/subscriptions/{}/lifecycle",
                plain["id"].as_str().expect("id")
            ),
            json!({"event": "missed"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    let r = emu
        .post_json(
            &format!(
                "/_emulator/subscriptions/{}/lifecycle",
                plain["id"].as_str().expect("id")
            ),
            json!({"event": "bogus"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
}

#[tokio::test]
async fn subscriptions_expire_by_the_emulator_clock() {
    let (emu, hook, token) = setup().await;
    let mut body = subscription_body(&hook, "ok", None);
    body["expirationDateTime"] = json!(in_minutes(60));
    let s = subscribe(&emu, &token, body).await;
    let id = s["id"].as_str().expect("id").to_owned();
    emu.advance_clock(2 * 3600).await;
    // A token dated in emulator time for the app that owns the subscription.
    let owner_app = jwt_claims(&token)["appid"]
        .as_str()
        .expect("appid")
        .to_owned();
    let mut assertion = Assertion::new(&emu, &owner_app);
    assertion.nbf = assertion.nbf.map(|n| n + 2 * 3600);
    assertion.exp += 2 * 3600;
    let r = emu.token_with(&owner_app, &assertion.sign(&ALICE)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let owner = r.json()["access_token"].as_str().expect("token").to_owned();

    let path = format!("/v1.0/subscriptions/{id}");
    let r = emu.graph(Method::GET, &path, &owner, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    let r = emu
        .graph(
            Method::PATCH,
            &path,
            &owner,
            Some(json!({"expirationDateTime": (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(5)).to_string()})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    let r = emu
        .graph(Method::GET, "/v1.0/subscriptions", &owner, None)
        .await;
    assert_eq!(r.json()["value"], json!([]));
    let subs = emu.get("/_emulator/subscriptions").await.json();
    assert_eq!(subs["value"][0]["id"], id);
    assert_eq!(subs["value"][0]["expired"], true);

    emu.create_user(json!({"displayName": "Too Late"})).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(hook.bodies("ok").is_empty(), "no deliveries after expiry");
}

#[tokio::test]
async fn contact_changes_are_delivered() {
    let (emu, hook, users_token) = setup().await;
    let app = emu.app(&["Contacts.Read"], true).await;
    let token = emu.access_token(&app).await;
    let user = emu.create_user(json!({"displayName": "Ada"})).await;
    let folder = emu.create_folder(&user, "Customers", None).await;

    let mut body = subscription_body(&hook, "ok", None);
    body["resource"] = json!(format!("/users/{user}/contacts"));
    body["changeType"] = json!("created,updated,deleted");
    // Longer than Outlook allows: shortened to 10,080 minutes (§5.1).
    body["expirationDateTime"] = json!(in_minutes(20_000));
    let r = emu
        .graph(
            Method::POST,
            "/v1.0/subscriptions",
            &users_token,
            Some(body.clone()),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "contacts need Contacts.Read: {}",
        r.text
    );
    let s = subscribe(&emu, &token, body.clone()).await;
    assert!((10_078..=10_080).contains(&minutes_from_now(expiry(&s["expirationDateTime"]))));
    assert_eq!(s["resource"], format!("/users/{user}/contacts"));
    let mut in_folder = subscription_body(&hook, "life", None);
    in_folder["resource"] = json!(format!("users/{user}/contactFolders/{folder}/contacts"));
    in_folder["changeType"] = json!("created,deleted");
    let fs = subscribe(&emu, &token, in_folder).await;
    let mut missing = body.clone();
    missing["resource"] = json!("/users/nobody@contoso.onmicrosoft.com/contacts");
    let r = emu
        .graph(Method::POST, "/v1.0/subscriptions", &token, Some(missing))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    assert_eq!(r.json()["error"]["code"], "ExtensionError");

    let contact = emu.create_contact(&user, json!({"givenName": "Zoë"})).await;
    let cid = contact["id"].as_str().expect("id");
    let bodies = hook.wait_for("ok", 1).await;
    let n = &bodies[0]["value"][0];
    assert_eq!(n["subscriptionId"], s["id"]);
    assert_eq!(n["changeType"], "created");
    assert_eq!(n["clientState"], "s3cret");
    assert_eq!(n["resource"], format!("Users/{user}/Contacts/{cid}"));
    assert_eq!(
        n["resourceData"],
        json!({
            "@odata.type": "#Microsoft.Graph.Contact",
            "@odata.id": format!("Users/{user}/Contacts/{cid}"),
            "@odata.etag": contact["@odata.etag"],
            "id": cid,
        })
    );
    assert!(hook.bodies("life").is_empty(), "not in the folder");

    // A move: updated for the mailbox, created in the folder it enters.
    let r = emu
        .patch_json(
            &format!("/_emulator/users/{user}/contacts/{cid}"),
            json!({"parentFolderId": folder}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let bodies = hook.wait_for("ok", 2).await;
    assert_eq!(bodies[1]["value"][0]["changeType"], "updated");
    let in_folder = hook.wait_for("life", 1).await;
    assert_eq!(in_folder[0]["value"][0]["changeType"], "created");
    assert_eq!(in_folder[0]["value"][0]["subscriptionId"], fs["id"]);

    // A write that changes nothing sends nothing; a delete reaches both.
    emu.patch_json(
        &format!("/_emulator/users/{user}/contacts/{cid}"),
        json!({"givenName": "Zoë"}),
    )
    .await;
    let r = emu
        .delete(&format!("/_emulator/users/{user}/contacts/{cid}"))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let bodies = hook.wait_for("ok", 3).await;
    assert_eq!(bodies.len(), 3, "{bodies:?}");
    assert_eq!(bodies[2]["value"][0]["changeType"], "deleted");
    let in_folder = hook.wait_for("life", 2).await;
    assert_eq!(in_folder[1]["value"][0]["changeType"], "deleted");

    // Renewal follows the Outlook maximum too.
    let r = emu
        .graph(
            Method::PATCH,
            &format!("/v1.0/subscriptions/{}", s["id"].as_str().expect("id")),
            &token,
            Some(json!({"expirationDateTime": in_minutes(30_000)})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!((10_078..=10_080).contains(&minutes_from_now(expiry(&r.json()["expirationDateTime"]))));
}
