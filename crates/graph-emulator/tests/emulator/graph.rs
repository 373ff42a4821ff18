//! `GET /v1.0/organization` and Graph-wide behaviour (§6.1, §7).

use reqwest::StatusCode;
use serde_json::json;

use crate::common::*;

const GRAPH_JSON: &str = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";

fn assert_graph_headers(r: &Reply) {
    assert_eq!(r.header("content-type"), Some(GRAPH_JSON));
    assert_eq!(r.header("odata-version"), Some("4.0"));
    assert_eq!(r.header("cache-control"), Some("private"));
    assert_eq!(
        r.header("strict-transport-security"),
        Some("max-age=31536000")
    );
    assert!(
        r.header("x-ms-ags-diagnostic")
            .is_some_and(|v| v.contains("ServerInfo"))
    );
    assert!(r.header("date").is_some_and(|v| v.ends_with(" GMT")));
    let request_id = r.header("request-id").expect("request-id");
    assert!(uuid::Uuid::parse_str(request_id).is_ok());
}

fn assert_graph_error(r: &Reply, status: StatusCode, code: &str, message: &str) {
    assert_eq!(r.status, status, "{}", r.text);
    assert_graph_headers(r);
    let body = r.json();
    assert_eq!(body["error"]["code"], code, "{}", r.text);
    assert_eq!(body["error"]["message"], message, "{}", r.text);
    let inner = &body["error"]["innerError"];
    assert_eq!(
        inner["request-id"],
        r.header("request-id").unwrap_or_default()
    );
    let date = inner["date"].as_str().expect("innerError.date");
    // yyyy-mm-ddThh:mm:ss, no zone, no fractions.
    assert_eq!(date.len(), 19, "{date}");
    assert!(
        jiff::civil::DateTime::strptime("%Y-%m-%dT%H:%M:%S", date).is_ok(),
        "{date}"
    );
}

#[tokio::test]
async fn organization_with_a_read_role() {
    let emu = start().await;
    let app = emu.app(&["Directory.Read.All"], true).await;
    let token = emu.access_token(&app).await;
    let client_request_id = uuid::Uuid::new_v4().to_string();
    let r = emu
        .get_with(
            "/v1.0/organization",
            Some(&token),
            &[("client-request-id", &client_request_id)],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_graph_headers(&r);
    assert_eq!(
        r.header("client-request-id"),
        Some(client_request_id.as_str())
    );
    let body = r.json();
    assert_eq!(
        body["@odata.context"],
        format!("{}/v1.0/$metadata#organization", emu.base)
    );
    let org = &body["value"][0];
    assert_eq!(org["id"], emu.tenant);
    assert_eq!(org["displayName"], "Contoso");
    assert_eq!(org["countryLetterCode"], "US");
    assert_eq!(
        org["verifiedDomains"],
        json!([{
            "capabilities": "Email, OfficeCommunicationsOnline",
            "isDefault": true,
            "isInitial": true,
            "name": "contoso.onmicrosoft.com",
            "type": "Managed"
        }])
    );
}

#[tokio::test]
async fn organization_select_is_case_insensitive() {
    let emu = start().await;
    let app = emu.app(&["Organization.Read.All"], true).await;
    let token = emu.access_token(&app).await;
    let r = emu
        .get_with(
            "/v1.0/organization?$SELECT=DisplayName,id",
            Some(&token),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let body = r.json();
    assert_eq!(
        body["@odata.context"],
        format!("{}/v1.0/$metadata#organization(displayName,id)", emu.base)
    );
    assert_eq!(
        body["value"],
        json!([{ "displayName": "Contoso", "id": emu.tenant }])
    );

    let r = emu
        .get_with("/v1.0/organization?$select=nope", Some(&token), &[])
        .await;
    assert_graph_error(
        &r,
        StatusCode::BAD_REQUEST,
        "BadRequest",
        "Could not find a property named 'nope' on type 'microsoft.graph.organization'.",
    );
}

#[tokio::test]
async fn missing_garbage_and_expired_tokens_are_401() {
    let emu = start().await;
    let r = emu.get_with("/v1.0/organization", None, &[]).await;
    assert_graph_error(
        &r,
        StatusCode::UNAUTHORIZED,
        "InvalidAuthenticationToken",
        "Access token is empty.",
    );
    let challenge = r.header("www-authenticate").unwrap_or_default();
    assert!(
        challenge.starts_with("Bearer realm=\"\", authorization_uri=\""),
        "{challenge}"
    );
    assert!(
        challenge.ends_with("client_id=\"00000003-0000-0000-c000-000000000000\""),
        "{challenge}"
    );
    // Without a client-request-id, the echo equals request-id.
    assert_eq!(r.header("client-request-id"), r.header("request-id"));

    let r = emu
        .get_with("/v1.0/organization", Some("garbage"), &[])
        .await;
    assert_graph_error(
        &r,
        StatusCode::UNAUTHORIZED,
        "InvalidAuthenticationToken",
        "CompactToken parsing failed with error code: 80049217",
    );

    let app = emu.app(&["User.Read.All"], true).await;
    let token = emu.access_token(&app).await;
    let expires_in = 5400;
    emu.advance_clock(expires_in).await;
    let r = emu.get_with("/v1.0/organization", Some(&token), &[]).await;
    assert_graph_error(
        &r,
        StatusCode::UNAUTHORIZED,
        "InvalidAuthenticationToken",
        "Access token has expired or is not yet valid.",
    );
    assert!(r.header("www-authenticate").is_some());
}

#[tokio::test]
async fn token_without_roles_is_403() {
    let emu = start().await;
    let app = emu.app(&["Calendars.Read"], true).await;
    let token = emu.access_token(&app).await;
    let r = emu.get_with("/v1.0/organization", Some(&token), &[]).await;
    assert_graph_error(
        &r,
        StatusCode::FORBIDDEN,
        "Authorization_RequestDenied",
        "Insufficient privileges to complete the operation.",
    );

    let bare = emu.app(&[], true).await;
    let token = emu.access_token(&bare).await;
    let r = emu.get_with("/v1.0/organization", Some(&token), &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn path_segments_are_case_insensitive() {
    let emu = start().await;
    let app = emu.app(&["User.Read.All"], true).await;
    let token = emu.access_token(&app).await;
    for path in ["/V1.0/Organization", "/v1.0/ORGANIZATION/?$select=id"] {
        let r = emu.get_with(path, Some(&token), &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text);
    }
    let stats = emu.get("/_emulator/stats").await.json();
    assert_eq!(
        stats["routes"]["GET /v1.0/organization"]["200"], 2,
        "{stats}"
    );
}

#[tokio::test]
async fn unknown_segment_is_400_like_graph() {
    let emu = start().await;
    let app = emu.app(&["User.Read.All"], true).await;
    let token = emu.access_token(&app).await;
    let r = emu.get_with("/v1.0/frobnicate/x", Some(&token), &[]).await;
    assert_graph_error(
        &r,
        StatusCode::BAD_REQUEST,
        "BadRequest",
        "Resource not found for the segment 'frobnicate'.",
    );
}
