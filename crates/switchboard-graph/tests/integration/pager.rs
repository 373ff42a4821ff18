//! Paging over a stub Graph host (tokens from the emulator): nextLink followed verbatim, one page
//! at a time, empty intermediate pages, deltaLink surfaced, links to other hosts refused.

use crate::common::*;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use switchboard_core::office365::SigningAlgorithm;
use switchboard_graph::{GraphClient, GraphConfig, GraphError, GraphRequest, TokenProvider};
use url::Url;

/// What the stub saw: `$skiptoken`, a bearer token?, `client-request-id`, `Prefer`.
type Seen = (String, bool, Option<String>, Option<String>);

#[derive(Clone, Default)]
struct Stub {
    base: Arc<Mutex<String>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

async fn things(
    State(stub): State<Stub>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Json<Value> {
    let base = stub.base.lock().expect("lock").clone();
    let header = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let token = q.get("$skiptoken").cloned().unwrap_or_default();
    stub.seen.lock().expect("lock").push((
        token.clone(),
        header("authorization").is_some_and(|a| a.starts_with("Bearer ")),
        header("client-request-id"),
        header("prefer"),
    ));
    Json(match token.as_str() {
        "" => json!({
            "@odata.context": format!("{base}/v1.0/$metadata#things"),
            "value": [{"id": "1"}, {"id": "2", "unknownProperty": true}],
            "@odata.nextLink": format!("{base}/v1.0/things?$skiptoken=p2%2Bx")
        }),
        // Percent-encoding in a nextLink arrives as sent.
        "p2+x" => {
            json!({"value": [], "@odata.nextLink": format!("{base}/v1.0/things?$skiptoken=p3")})
        }
        "p3" => json!({
            "value": [{"id": "3"}],
            "@odata.deltaLink": format!("{base}/v1.0/things/delta?$deltatoken=d1")
        }),
        _ => {
            json!({"value": [], "@odata.nextLink": "http://203.0.113.9/v1.0/things?$skiptoken=steal"})
        }
    })
}

#[derive(Debug, Deserialize)]
struct Thing {
    id: String,
}

#[tokio::test]
async fn pages_follow_next_links_and_surface_the_delta_link() {
    let h = Harness::start().await;
    let generated = generate().await;
    let app = h
        .register_app(&[&generated.certificate_pem], &ROLES, true)
        .await;
    let owned = Owned::new(
        h.emulator.tenant_id(),
        &app,
        SigningAlgorithm::Rs256,
        &generated,
    );

    let stub = Stub::default();
    let router = Router::new()
        .route("/v1.0/things", get(things))
        .with_state(stub.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    *stub.base.lock().expect("lock") = base.clone();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });

    let config = GraphConfig {
        retry: fast_retry(),
        ..GraphConfig::with_urls(Url::parse(&base).expect("url"), h.base())
    };
    let client = GraphClient::new(
        TokenProvider::new(config, h.clock()).expect("tokens"),
        owned.credential(),
    );
    let first = GraphRequest::get("/things").header(
        axum::http::HeaderName::from_static("prefer"),
        axum::http::HeaderValue::from_static("odata.maxpagesize=2"),
    );
    let mut pager = client.pages_of::<Thing>(first);
    let mut sizes = Vec::new();
    let mut ids = Vec::new();
    while let Some(page) = pager.next_page().await.expect("page") {
        sizes.push(page.items.len());
        ids.extend(page.items.into_iter().map(|t| t.id));
        if !pager.is_done() {
            assert!(
                pager.delta_link().is_none(),
                "the delta link comes with the last page"
            );
        }
    }
    assert_eq!(sizes, [2, 0, 1]);
    assert_eq!(ids, ["1", "2", "3"]);
    assert_eq!(pager.pages_fetched(), 3);
    assert_eq!(
        pager.delta_link(),
        Some(format!("{base}/v1.0/things/delta?$deltatoken=d1").as_str())
    );
    assert!(pager.next_page().await.expect("done").is_none());

    let seen = stub.seen.lock().expect("lock").clone();
    assert_eq!(
        seen.iter().map(|s| s.0.as_str()).collect::<Vec<_>>(),
        ["", "p2+x", "p3"]
    );
    for (_, bearer, request_id, prefer) in &seen {
        assert!(bearer);
        assert!(
            request_id
                .as_deref()
                .is_some_and(|id| uuid::Uuid::parse_str(id).is_ok())
        );
        assert_eq!(prefer.as_deref(), Some("odata.maxpagesize=2"));
    }
    // One token served all pages.
    assert_eq!(h.token_requests(200).await, 1);

    // A nextLink to another host is refused before the token goes anywhere.
    let mut evil = client.pages::<Thing>(format!("{base}/v1.0/things?$skiptoken=other"));
    assert!(evil.next_page().await.expect("first page").is_some());
    match evil.next_page().await {
        Err(GraphError::InvalidRequest(m)) => assert!(m.contains("203.0.113.9"), "{m}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    server.abort();
}
