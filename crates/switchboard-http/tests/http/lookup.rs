//! Caller-ID lookup (`GET /api/v1/lookup`), the phonebook API
//! (`GET /api/v1/extensions/{number}/phonebook`) and the API token cache that keeps the
//! database off the lookup's path.

use crate::*;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;
use switchboard_core::contacts::{
    Book, EntryOrigin, IndexedExtension, PhoneKind, PhoneNumber, PhonebookEntry, phone,
};

/// A phonebook entry as contact sync would store it (numbers read with region GB).
pub fn entry(
    book: Book,
    mailbox: &str,
    id: &str,
    name: &str,
    phones: &[(PhoneKind, &str)],
) -> PhonebookEntry {
    let (first, last) = name.split_once(' ').unwrap_or((name, ""));
    PhonebookEntry {
        book,
        mailbox_id: mailbox.into(),
        contact_id: id.into(),
        folder_id: String::new(),
        display_name: name.into(),
        first_name: first.into(),
        last_name: last.into(),
        company: "Contoso".into(),
        department: String::new(),
        job_title: String::new(),
        emails: vec![format!("{}@example.com", first.to_lowercase())],
        phones: phones
            .iter()
            .map(|(kind, raw)| PhoneNumber {
                kind: *kind,
                raw: (*raw).into(),
                e164: phone::normalise(raw, "GB"),
            })
            .collect(),
        origin: EntryOrigin::Outlook,
        updated_at: "2026-11-01T08:00:00Z".parse().unwrap(),
    }
}

fn ext(number: &str, name: &str, numbers: &[&str]) -> IndexedExtension {
    IndexedExtension {
        number: number.into(),
        display_name: name.into(),
        region: String::new(),
        numbers: numbers.iter().map(|n| (*n).into()).collect(),
    }
}

/// 101 and 102 are extensions (102's mobile is +44 7700 900102); 101's own phonebook has a
/// dentist on +44 20 7946 0000, which the company phonebook calls "Reception"; the company
/// phonebook alone knows +44 20 7946 0999.
fn seed(app: &TestApp) {
    let index = &app.phonebook_index;
    index.set_extensions(vec![
        ext("101", "Ada Lovelace", &["+44 20 7946 0101"]),
        ext("102", "Alan Turing", &["07700 900102"]),
    ]);
    let own = entry(
        Book::Extension("101".into()),
        "mbx-101",
        "c1",
        "Dr Dentist",
        &[(PhoneKind::Business, "020 7946 0000")],
    );
    // 101 also keeps a contact for a colleague's mobile: the callee's book wins.
    let colleague = entry(
        Book::Extension("101".into()),
        "mbx-101",
        "c2",
        "Alan (mobile)",
        &[(PhoneKind::Mobile, "+44 7700 900102")],
    );
    let reception = entry(
        Book::Company,
        "mbx-company",
        "k1",
        "Reception",
        &[(PhoneKind::Business, "+44 20 7946 0000")],
    );
    let front_desk = entry(
        Book::Company,
        "mbx-company",
        "k2",
        "Front Desk",
        &[(PhoneKind::Business, "+44 (0)20 7946 0999")],
    );
    for e in [&own, &colleague, &reception, &front_desk] {
        index.upsert(e);
        app.phonebooks.put_entry(e.clone());
    }
}

async fn lookup(app: &TestApp, query: &str) -> (StatusCode, Value) {
    let r = app
        .api(Method::GET, &format!("/api/v1/lookup?{query}"))
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap())
}

#[tokio::test]
async fn lookup_prefers_the_callees_book_then_extensions_then_company() {
    let app = TestApp::spawn().await;
    seed(&app);

    let (s, body) = lookup(&app, "number=%2B442079460000&extension=101").await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"e164": "+442079460000", "name": "Dr Dentist", "source": "phonebook", "owner_extension": "101"})
    );
    // Another callee (or none) does not see 101's book: the company phonebook answers.
    for query in [
        "number=%2B442079460000&extension=102",
        "number=%2B442079460000",
    ] {
        let (s, body) = lookup(&app, query).await;
        assert_eq!(s, StatusCode::OK, "{query}");
        assert_eq!(body["name"], "Reception", "{query}");
        assert_eq!(body["source"], "company");
        assert!(body.get("owner_extension").is_none());
    }
    // An extension's own number beats the company phonebook, and the callee's book beats both.
    let (_, body) = lookup(&app, "number=07700900102").await;
    assert_eq!(
        body,
        json!({"e164": "+447700900102", "name": "Alan Turing", "source": "extension", "extension": "102"})
    );
    let (_, body) = lookup(&app, "number=07700900102&extension=101").await;
    assert_eq!(body["name"], "Alan (mobile)");
    assert_eq!(body["source"], "phonebook");
    // An internal call: the extension number itself.
    let (_, body) = lookup(&app, "number=101").await;
    assert_eq!(body["source"], "extension");
    assert_eq!(body["name"], "Ada Lovelace");
}

#[tokio::test]
async fn lookup_reads_any_format() {
    let app = TestApp::spawn().await;
    seed(&app);
    for number in [
        "+44 20 7946 0999",
        "+442079460999",
        "0044 20 7946 0999",
        "00442079460999",
        "020 7946 0999",
        "(020) 7946-0999",
        "020-7946-0999",
        "020.7946.0999",
        "+44 (0)20 7946 0999",
        " 02079460999 ",
    ] {
        let r = app
            .api(Method::GET, "/api/v1/lookup")
            .query(&[("number", number)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{number:?}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["name"], "Front Desk", "{number:?}");
        assert_eq!(body["e164"], "+442079460999", "{number:?}");
    }
    // PBX scripts often leave the + unescaped; form-style + between groups still means a space.
    for raw in [
        "number=+442079460999",
        "number=+44+20+7946+0999",
        "number=%2B44%2020%207946%200999",
    ] {
        let (s, body) = lookup(&app, raw).await;
        assert_eq!(s, StatusCode::OK, "{raw}: {body}");
        assert_eq!(body["name"], "Front Desk", "{raw}");
    }
}

#[tokio::test]
async fn unknown_numbers_are_404_and_unreadable_ones_400() {
    let app = TestApp::spawn().await;
    seed(&app);
    let (s, body) = lookup(&app, "number=020%207946%201234&extension=101").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "not_found");
    assert_eq!(body["e164"], "+442079461234");
    assert!(body["message"].as_str().unwrap().contains("extension 101"));

    for query in ["", "number=", "number=%20%20", "extension=101"] {
        let (s, body) = lookup(&app, query).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{query:?}");
        assert_eq!(body["error"], "missing_number", "{query:?}");
        assert!(body["message"].as_str().unwrap().contains("number"));
    }
    for query in [
        "number=hello",
        "number=12",
        &format!("number={}", "1".repeat(80)),
        "number=%ff",
    ] {
        let (s, body) = lookup(&app, query).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{query:?}");
        assert_eq!(body["error"], "invalid_number", "{query:?}");
        let message = body["message"].as_str().unwrap();
        assert!(
            message.contains("+44 20 7946 0000") && message.contains("national"),
            "{message}"
        );
    }
    // Authentication comes first.
    let r = Client::new()
        .get(app.url("/api/v1/lookup?number=101"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn lookups_with_a_token_do_not_touch_the_database() {
    let app = TestApp::spawn().await;
    seed(&app);
    let (s, _) = lookup(&app, "number=101").await;
    assert_eq!(s, StatusCode::OK);
    let after_first = app.store.token_lookups();
    assert_eq!(
        after_first, 1,
        "the first request verifies the token in the store"
    );

    // The database goes away: lookups go on from memory.
    app.store.fail_token_lookups(true);
    for _ in 0..50 {
        let (s, body) = lookup(&app, "number=%2B442079460999").await;
        assert_eq!(s, StatusCode::OK, "{body}");
    }
    assert_eq!(app.store.token_lookups(), after_first);
    // A token the cache does not know needs the store, which is down: a 500 that says nothing.
    let r = Client::new()
        .get(app.url("/api/v1/lookup?number=101"))
        .bearer_auth("sb_some-other-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(!r.text().await.unwrap().contains("test database"));
}

#[tokio::test]
async fn a_revoked_token_stops_working_within_the_cache_ttl() {
    let app = TestApp::spawn_with(HttpConfig {
        api_token_cache_ttl: Duration::from_millis(400),
        ..HttpConfig::default()
    })
    .await;
    let get = |token: String| {
        let url = app.url("/api/v1/lookup?number=101");
        async move {
            Client::new()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    app.phonebook_index
        .set_extensions(vec![ext("101", "Ada Lovelace", &[])]);
    assert_eq!(get(app.token.clone()).await, StatusCode::OK);
    assert!(app.store.revoke_api_token(&auth::hash_token(&app.token)));
    // Still trusted from memory until the entry is older than the TTL …
    assert_eq!(get(app.token.clone()).await, StatusCode::OK);
    assert_eq!(app.store.token_lookups(), 1);
    tokio::time::sleep(Duration::from_millis(500)).await;
    // … then the store is asked again and says no.
    assert_eq!(get(app.token.clone()).await, StatusCode::UNAUTHORIZED);
    assert_eq!(get(app.token.clone()).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.store.token_lookups(),
        3,
        "unknown tokens are not cached"
    );

    // A token created a moment after a failed attempt works at once.
    let fresh = auth::new_api_token();
    assert_eq!(get(fresh.clone()).await, StatusCode::UNAUTHORIZED);
    app.store
        .create_api_token(&switchboard_core::auth::ApiTokenRecord {
            token_hash: auth::hash_token(&fresh),
            name: "pbx".into(),
            username: USER.into(),
            created_at: "2026-11-01T08:00:00Z".parse().unwrap(),
        })
        .await
        .unwrap();
    assert_eq!(get(fresh).await, StatusCode::OK);
}

// ---------------------------------------------------------------------------------------------
// GET /api/v1/extensions/{number}/phonebook
// ---------------------------------------------------------------------------------------------

async fn create_extension(app: &TestApp, number: &str) {
    let r = app
        .api(Method::POST, "/api/v1/extensions")
        .json(&json!({"number": number, "display_name": format!("Extension {number}")}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
}

/// Extension 150 with 120 contacts ("Contact 000" … "Contact 119"), one with an unreadable
/// number, and one contact in 151's book.
async fn phonebook_app() -> TestApp {
    let app = TestApp::spawn().await;
    create_extension(&app, "150").await;
    create_extension(&app, "151").await;
    for i in 0..120 {
        let number = format!("020 7946 {i:04}");
        app.phonebooks.put_entry(entry(
            Book::Extension("150".into()),
            "mbx-150",
            &format!("c{i:03}"),
            &format!("Contact {i:03}"),
            &[(PhoneKind::Business, &number)],
        ));
    }
    app.phonebooks.put_entry(entry(
        Book::Extension("150".into()),
        "mbx-150",
        "odd",
        "Zed Oddnumber",
        &[
            (PhoneKind::Mobile, "07700 900123"),
            (PhoneKind::Home, "call reception"),
        ],
    ));
    app.phonebooks.put_entry(entry(
        Book::Extension("151".into()),
        "mbx-151",
        "x",
        "Someone Else",
        &[(PhoneKind::Business, "020 7946 5555")],
    ));
    app
}

#[tokio::test]
async fn phonebook_api_lists_searches_and_pages() {
    let app = phonebook_app().await;
    let page = get_json(&app, "/api/v1/extensions/150/phonebook").await;
    let page = page.as_array().unwrap();
    assert_eq!(page.len(), 100, "the default page size");
    assert_eq!(page[0]["display_name"], "Contact 000");
    assert_eq!(page[0]["id"], "c000");
    assert_eq!(page[0]["company"], "Contoso");
    assert_eq!(page[0]["emails"], json!(["contact@example.com"]));
    assert_eq!(
        page[0]["phones"],
        json!([{"type": "business", "raw": "020 7946 0000", "e164": "+442079460000"}])
    );

    let rest = get_json(
        &app,
        "/api/v1/extensions/150/phonebook?limit=500&offset=100",
    )
    .await;
    let rest = rest.as_array().unwrap();
    assert_eq!(rest.len(), 21);
    let odd = rest.last().unwrap();
    assert_eq!(odd["display_name"], "Zed Oddnumber");
    assert_eq!(
        odd["phones"],
        json!([
            {"type": "mobile", "raw": "07700 900123", "e164": "+447700900123"},
            {"type": "home", "raw": "call reception", "e164": null}
        ])
    );

    // Search is the store's (names, company, emails, numbers); only this extension's book.
    let found = get_json(&app, "/api/v1/extensions/150/phonebook?q=zed").await;
    assert_eq!(found.as_array().unwrap().len(), 1);
    let found = get_json(&app, "/api/v1/extensions/150/phonebook?q=%2B447700900123").await;
    assert_eq!(found[0]["id"], "odd");
    let none = get_json(&app, "/api/v1/extensions/150/phonebook?q=Someone").await;
    assert_eq!(none, json!([]));

    // The OpenAPI schema names exactly the fields an entry has.
    let doc = get_json(&app, "/api/v1/openapi.json").await;
    let keys = |v: &Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    let schemas = &doc["components"]["schemas"];
    assert_eq!(keys(&schemas["PhonebookEntry"]["properties"]), keys(odd));
    assert_eq!(
        keys(&schemas["PhoneNumber"]["properties"]),
        keys(&odd["phones"][0])
    );
}

#[tokio::test]
async fn phonebook_api_checks_auth_extension_and_limits() {
    let app = phonebook_app().await;
    let r = Client::new()
        .get(app.url("/api/v1/extensions/150/phonebook"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    let r = app
        .api(Method::GET, "/api/v1/extensions/999/phonebook")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let body: Value = r.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("no extension 999"));

    for (query, wanted) in [
        ("limit=501", "between 1 and 500"),
        ("limit=0", "between 1 and 500"),
        ("limit=lots", "query string is not valid"),
        ("offset=-1", "query string is not valid"),
    ] {
        let r = app
            .api(
                Method::GET,
                &format!("/api/v1/extensions/150/phonebook?{query}"),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{query}");
        let body: Value = r.json().await.unwrap();
        assert!(
            body["error"].as_str().unwrap().contains(wanted),
            "{query}: {body}"
        );
    }
    let long = "x".repeat(201);
    let r = app
        .api(Method::GET, "/api/v1/extensions/150/phonebook")
        .query(&[("q", long.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // A console session reads it too (GET needs no CSRF header).
    let browser = app.browser();
    app.login(&browser).await;
    let r = browser
        .get(app.url("/api/v1/extensions/150/phonebook?limit=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn lookup_schemas_match_the_answers() {
    let app = TestApp::spawn().await;
    seed(&app);
    let doc = get_json(&app, "/api/v1/openapi.json").await;
    let props = |name: &str| {
        let mut k: Vec<String> = doc["components"]["schemas"][name]["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        k.sort();
        k
    };
    let (_, hit) = lookup(&app, "number=07700900102").await;
    for k in hit.as_object().unwrap().keys() {
        assert!(props("LookupHit").contains(k), "{k}");
    }
    let (_, miss) = lookup(&app, "number=02079461234").await;
    let mut miss_keys: Vec<String> = miss.as_object().unwrap().keys().cloned().collect();
    miss_keys.sort();
    assert_eq!(miss_keys, props("LookupError"));
}
