//! Phonebooks for phones and address-book apps: per-extension sign-in, the Yealink XML, the vCard
//! download and read-only CardDAV, including the exact requests vdirsyncer makes.

use crate::TestApp;
use calcard::vcard::{VCard, VCardProperty};
use calcard::{Entry, Parser};
use quick_xml::NsReader;
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, ETAG, IF_NONE_MATCH, LOCATION, RETRY_AFTER};
use reqwest::{Client, Method, Response, StatusCode};
use std::collections::BTreeMap;
use switchboard_core::contacts::{Book, EntryOrigin, PhoneKind, PhoneNumber, PhonebookEntry};
use switchboard_core::ports::ExtensionStore;
use switchboard_core::users::SyncedFields;

const PW_201: &str = "erika-phonebook-secret-1";
const PW_202: &str = "max-phonebook-secret-2";
const CHALLENGE: &str = "Basic realm=\"Switchboard phonebook\"";

const DAV: &str = "{DAV:}";
const CARD: &str = "{urn:ietf:params:xml:ns:carddav}";

fn phone(kind: PhoneKind, raw: &str, e164: Option<&str>) -> PhoneNumber {
    PhoneNumber {
        kind,
        raw: raw.into(),
        e164: e164.map(Into::into),
    }
}

fn entry(book: Book, mailbox: &str, contact: &str, name: &str) -> PhonebookEntry {
    let (first, last) = name.split_once(' ').unwrap_or((name, ""));
    PhonebookEntry {
        book,
        mailbox_id: mailbox.into(),
        contact_id: contact.into(),
        folder_id: String::new(),
        display_name: name.into(),
        first_name: first.into(),
        last_name: last.into(),
        company: String::new(),
        department: String::new(),
        job_title: String::new(),
        emails: Vec::new(),
        phones: Vec::new(),
        origin: EntryOrigin::Outlook,
        updated_at: "2026-10-30T09:15:00Z".parse().unwrap(),
    }
}

fn personal(number: &str) -> Book {
    Book::Extension(number.into())
}

/// Extensions 201 (Erika), 202 (Max) and 203 (Jonas); 201 and 202 have phonebook passwords.
/// 201's personal book has two contacts, 202's one, the company book one.
async fn setup() -> TestApp {
    let app = TestApp::spawn().await;
    let now: jiff::Timestamp = "2026-11-01T08:00:00Z".parse().unwrap();
    for (number, first, last) in [
        ("201", "Erika", "Mustermann"),
        ("202", "Max", "Muster"),
        ("203", "Jonas", "Schmidt & Söhne"),
    ] {
        let fields = SyncedFields {
            first_name: first.into(),
            last_name: last.into(),
            display_name: format!("{first} {last}"),
            ..SyncedFields::default()
        };
        app.extensions
            .create_local_extension(number, &fields, "admin:test", now)
            .await
            .unwrap();
    }
    app.phonebooks.set_password("201", PW_201);
    app.phonebooks.set_password("202", PW_202);

    let mut anna = entry(
        personal("201"),
        "mbx-erika",
        "AAMkAD=anna/1+",
        "Anna Berger",
    );
    anna.company = "Berger & Söhne <GmbH>".into();
    anna.department = "Einkauf, Nord".into();
    anna.job_title = "Leiterin; Einkauf".into();
    anna.emails = vec!["anna@berger.example".into()];
    anna.phones = vec![
        phone(PhoneKind::Business, "030 1234 567", Some("+49301234567")),
        phone(PhoneKind::Mobile, "0171 5551234", Some("+491715551234")),
        phone(PhoneKind::Home, "ask for Anna, ext. 12", None),
    ];
    app.phonebooks.put_entry(anna);

    let mut bob = entry(personal("201"), "mbx-erika", "AAMkAD=bob/2+", "Bob O'Neil");
    bob.phones = vec![phone(
        PhoneKind::Other,
        "+1 (555) 010-9999",
        Some("+15550109999"),
    )];
    app.phonebooks.put_entry(bob);

    // No number: in the vCard download and CardDAV, not in the Yealink directory.
    let mut no_number = entry(
        personal("201"),
        "mbx-erika",
        "AAMkAD=carla/3+",
        "Carla Mail",
    );
    no_number.emails = vec!["carla@example.org".into()];
    app.phonebooks.put_entry(no_number);

    let mut maxs = entry(
        personal("202"),
        "mbx-max",
        "AAMkAD=max/1+",
        "Private Contact",
    );
    maxs.phones = vec![phone(PhoneKind::Mobile, "0160 999", Some("+49160999"))];
    app.phonebooks.put_entry(maxs);

    let mut reception = entry(
        Book::Company,
        "mbx-shared",
        "AAMkAD=reception+",
        "Reception",
    );
    reception.company = "Contoso".into();
    reception.phones = vec![phone(PhoneKind::Business, "+49 30 1000", Some("+49301000"))];
    app.phonebooks.put_entry(reception);
    app
}

fn client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn get(app: &TestApp, path: &str, credentials: Option<(&str, &str)>) -> Response {
    let mut request = client().get(app.url(path));
    if let Some((user, password)) = credentials {
        request = request.basic_auth(user, Some(password));
    }
    request.send().await.unwrap()
}

async fn dav(
    app: &TestApp,
    method: &str,
    path: &str,
    depth: Option<&str>,
    body: &str,
    credentials: (&str, &str),
) -> Response {
    let mut request = client()
        .request(
            Method::from_bytes(method.as_bytes()).unwrap(),
            app.url(path),
        )
        .basic_auth(credentials.0, Some(credentials.1))
        .header(CONTENT_TYPE, "application/xml; charset=UTF-8")
        .body(body.to_owned());
    if let Some(depth) = depth {
        request = request.header("Depth", depth);
    }
    request.send().await.unwrap()
}

const ERIKA: (&str, &str) = ("201", PW_201);

// --- sign-in ---

#[tokio::test]
async fn every_phonebook_route_needs_the_extension_password() {
    let app = setup().await;
    for path in [
        "/phonebook/201/yealink.xml",
        "/phonebook/201.vcf",
        "/carddav/",
        "/carddav/201/contacts/",
    ] {
        let none = get(&app, path, None).await;
        assert_eq!(none.status(), StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(none.headers()["www-authenticate"], CHALLENGE, "{path}");
        let wrong = get(&app, path, Some(("201", PW_202))).await;
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(wrong.headers()["www-authenticate"], CHALLENGE);
        let text = wrong.text().await.unwrap();
        assert!(
            text.contains("Wrong extension number or phonebook password"),
            "{text}"
        );
        // 203 exists but has no phonebook password; 299 does not exist.
        for user in ["203", "299"] {
            let r = get(&app, path, Some((user, "anything"))).await;
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path} as {user}");
        }
        let ok = get(&app, path, Some(ERIKA)).await;
        assert_eq!(ok.status(), StatusCode::OK, "{path}");
    }
    let garbage = client()
        .get(app.url("/phonebook/201.vcf"))
        .header(AUTHORIZATION, "Basic %%%")
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_extension_reads_only_its_own_book() {
    let app = setup().await;
    for path in [
        "/phonebook/202/yealink.xml",
        "/phonebook/202.vcf",
        "/carddav/202/",
        "/carddav/202/contacts/",
    ] {
        let r = get(&app, path, Some(ERIKA)).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path}");
        let text = r.text().await.unwrap();
        assert!(text.contains("Signed in as extension 201"), "{text}");
    }
    let propfind = dav(
        &app,
        "PROPFIND",
        "/carddav/202/contacts/",
        Some("1"),
        "",
        ERIKA,
    )
    .await;
    assert_eq!(propfind.status(), StatusCode::FORBIDDEN);
    // Max's contact is not reachable through Erika's address book either.
    let vcf = get(&app, "/phonebook/201.vcf", Some(ERIKA))
        .await
        .text()
        .await
        .unwrap();
    assert!(!vcf.contains("Private Contact"));
}

#[tokio::test]
async fn repeated_wrong_passwords_lock_the_client_out() {
    let app = setup().await;
    for _ in 0..10 {
        let r = get(&app, "/phonebook/201.vcf", Some(("201", "guess"))).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    // Even the right password waits now; another extension from the same address does not.
    let locked = get(&app, "/phonebook/201.vcf", Some(ERIKA)).await;
    assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = locked.headers()[RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 0 && retry <= 15 * 60, "{retry}");
    let other = get(&app, "/phonebook/202.vcf", Some(("202", PW_202))).await;
    assert_eq!(other.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_changed_password_works_at_once() {
    let app = setup().await;
    assert_eq!(
        get(&app, "/phonebook/201.vcf", Some(ERIKA)).await.status(),
        StatusCode::OK
    );
    app.phonebooks.set_password("201", "a-new-password");
    // The new password is checked against the store as soon as the cached one does not match.
    assert_eq!(
        get(&app, "/phonebook/201.vcf", Some(("201", "a-new-password")))
            .await
            .status(),
        StatusCode::OK
    );
}

// --- Yealink ---

#[tokio::test]
async fn yealink_directory_lists_personal_then_company_then_colleagues() {
    let app = setup().await;
    let r = get(&app, "/phonebook/201/yealink.xml", Some(ERIKA)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()[CONTENT_TYPE], "application/xml; charset=utf-8");
    let etag = r.headers()[ETAG].to_str().unwrap().to_owned();
    let body = r.text().await.unwrap();
    insta::assert_snapshot!("yealink_201", body);

    // Polling with the ETag costs a 304.
    let again = client()
        .get(app.url("/phonebook/201/yealink.xml"))
        .basic_auth("201", Some(PW_201))
        .header(IF_NONE_MATCH, &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
}

// --- vCard download ---

fn parse_cards(text: &str) -> Vec<VCard> {
    let mut parser = Parser::new(text);
    let mut cards = Vec::new();
    loop {
        match parser.entry() {
            Entry::VCard(card) => cards.push(card),
            Entry::Eof => break,
            other => panic!("unexpected {other:?} in {text}"),
        }
    }
    cards
}

fn texts(card: &VCard, property: &VCardProperty) -> Vec<String> {
    card.properties(property)
        .flat_map(|p| {
            p.values
                .iter()
                .filter_map(|v| v.as_text().map(str::to_owned))
        })
        .collect()
}

#[tokio::test]
async fn vcard_download_has_personal_and_company_entries_in_3_0_and_4_0() {
    let app = setup().await;
    let v3 = get(&app, "/phonebook/201.vcf", Some(ERIKA)).await;
    assert_eq!(v3.status(), StatusCode::OK);
    assert_eq!(v3.headers()[CONTENT_TYPE], "text/vcard; charset=utf-8");
    let v3 = v3.text().await.unwrap();
    assert!(
        v3.split_inclusive('\n').all(|l| l.ends_with("\r\n")),
        "CRLF line ends"
    );
    insta::assert_snapshot!("vcard_201_v3", v3.replace("\r\n", "\n"));
    let cards = parse_cards(&v3);
    let names: Vec<_> = cards
        .iter()
        .map(|c| texts(c, &VCardProperty::Fn).join(""))
        .collect();
    assert_eq!(
        names,
        ["Anna Berger", "Bob O'Neil", "Carla Mail", "Reception"]
    );
    assert_eq!(
        texts(&cards[0], &VCardProperty::Tel),
        ["+49301234567", "+491715551234", "ask for Anna, ext. 12"]
    );
    assert_eq!(
        texts(&cards[0], &VCardProperty::Org),
        ["Berger & Söhne <GmbH>", "Einkauf, Nord"]
    );
    assert_eq!(
        texts(&cards[0], &VCardProperty::Title),
        ["Leiterin; Einkauf"]
    );
    assert!(v3.matches("VERSION:3.0\r\n").count() == 4);

    let v4 = get(&app, "/phonebook/201.vcf?version=4", Some(ERIKA))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(v4.matches("VERSION:4.0\r\n").count(), 4);
    let cards4 = parse_cards(&v4);
    for (a, b) in cards.iter().zip(&cards4) {
        for property in [VCardProperty::Fn, VCardProperty::Tel, VCardProperty::Uid] {
            assert_eq!(texts(a, &property), texts(b, &property));
        }
    }

    let bad = get(&app, "/phonebook/201.vcf?version=2", Some(ERIKA)).await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let not_vcf = get(&app, "/phonebook/201.txt", Some(ERIKA)).await;
    assert_eq!(not_vcf.status(), StatusCode::NOT_FOUND);
}

// --- CardDAV: multistatus reading ---

#[derive(Debug, Default, Clone)]
struct Prop {
    status: u16,
    /// All text below the property (e.g. an href).
    text: String,
    /// Names of the elements below the property (e.g. the resource types).
    children: Vec<String>,
}

#[derive(Debug, Default, Clone)]
struct DavResponse {
    href: String,
    status: Option<u16>,
    props: BTreeMap<String, Prop>,
}

impl DavResponse {
    fn prop(&self, name: &str) -> &Prop {
        self.props
            .get(name)
            .unwrap_or_else(|| panic!("{name} missing from {self:?}"))
    }
}

#[derive(Debug, Default)]
struct Frame {
    name: String,
    text: String,
    children: Vec<String>,
}

/// Reads a multistatus the way a client does: namespaces resolved, prefixes ignored.
fn read_multistatus(xml: &str) -> (Vec<DavResponse>, Option<String>) {
    let mut reader = NsReader::from_str(xml);
    let mut stack: Vec<Frame> = Vec::new();
    let mut responses = Vec::new();
    let mut current = DavResponse::default();
    let mut pending: Vec<(String, Prop)> = Vec::new();
    let mut propstat_status = 0;
    let mut token = None;
    loop {
        let (ns, event) = reader.read_resolved_event().unwrap();
        let ns = match ns {
            ResolveResult::Bound(ns) => ns.as_ref().to_owned(),
            ResolveResult::Unbound => String::new(),
            ResolveResult::Unknown(p) => panic!("unknown prefix {p} in {xml}"),
        };
        let (start, empty) = match &event {
            Event::Start(e) => (Some(e.local_name().as_ref().to_owned()), false),
            Event::Empty(e) => (Some(e.local_name().as_ref().to_owned()), true),
            _ => (None, false),
        };
        if let Some(local) = start {
            stack.push(Frame {
                name: format!("{{{ns}}}{local}"),
                ..Frame::default()
            });
            if !empty {
                continue;
            }
        }
        match event {
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&t.xml10_content());
                }
                continue;
            }
            Event::GeneralRef(r) => {
                let s = match r.resolve_char_ref().unwrap() {
                    Some(c) => c.to_string(),
                    None => resolve_predefined_entity(&r).unwrap().to_owned(),
                };
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&s);
                }
                continue;
            }
            Event::Eof => break,
            Event::End(_) | Event::Empty(_) => {}
            _ => continue,
        }
        let frame = stack.pop().unwrap();
        let parent = stack.last().map(|f| f.name.clone()).unwrap_or_default();
        let code = || {
            frame
                .text
                .split_whitespace()
                .nth(1)
                .unwrap()
                .parse::<u16>()
                .unwrap()
        };
        match (frame.name.as_str(), parent.as_str()) {
            ("{DAV:}href", "{DAV:}response") => current.href = frame.text.clone(),
            ("{DAV:}status", "{DAV:}response") => current.status = Some(code()),
            ("{DAV:}status", "{DAV:}propstat") => propstat_status = code(),
            ("{DAV:}propstat", _) => {
                for (name, mut prop) in pending.drain(..) {
                    prop.status = propstat_status;
                    current.props.insert(name, prop);
                }
            }
            ("{DAV:}response", _) => responses.push(std::mem::take(&mut current)),
            ("{DAV:}sync-token", "{DAV:}multistatus") => token = Some(frame.text.clone()),
            (_, "{DAV:}prop") => pending.push((
                frame.name.clone(),
                Prop {
                    status: 0,
                    text: frame.text.clone(),
                    children: frame.children.clone(),
                },
            )),
            _ => {}
        }
        if let Some(parent) = stack.last_mut() {
            parent.text.push_str(&frame.text);
            parent.children.push(frame.name);
        }
    }
    (responses, token)
}

async fn multistatus(response: Response) -> (Vec<DavResponse>, Option<String>, String) {
    assert_eq!(response.status(), StatusCode::MULTI_STATUS);
    assert_eq!(
        response.headers()[CONTENT_TYPE],
        "application/xml; charset=utf-8"
    );
    let xml = response.text().await.unwrap();
    let (responses, token) = read_multistatus(&xml);
    (responses, token, xml)
}

// The bodies vdirsyncer 0.19 sends (vdirsyncer/storage/dav.py), byte for byte.
const VDIRSYNCER_PRINCIPAL: &str = r#"
        <propfind xmlns="DAV:">
            <prop>
                <current-user-principal />
            </prop>
        </propfind>
        "#;
const VDIRSYNCER_COLLECTIONS: &str = r#"
    <propfind xmlns="DAV:">
        <prop>
            <resourcetype />
        </prop>
    </propfind>
    "#;
const VDIRSYNCER_HOMESET: &str = r#"
    <propfind xmlns="DAV:" xmlns:c="urn:ietf:params:xml:ns:carddav">
        <prop>
            <c:addressbook-home-set />
        </prop>
    </propfind>
    "#;
const VDIRSYNCER_LIST: &str = r#"<?xml version="1.0" encoding="utf-8" ?>
            <propfind xmlns="DAV:">
                <prop>
                    <resourcetype/>
                    <getcontenttype/>
                    <getetag/>
                </prop>
            </propfind>
            "#;
fn vdirsyncer_multiget(hrefs: &[&str]) -> String {
    let hrefs: Vec<String> = hrefs.iter().map(|h| format!("<href>{h}</href>")).collect();
    format!(
        r#"<?xml version="1.0" encoding="utf-8" ?>
            <C:addressbook-multiget xmlns="DAV:"
                    xmlns:C="urn:ietf:params:xml:ns:carddav">
                <prop>
                    <getetag/>
                    <C:address-data/>
                </prop>
                {}
            </C:addressbook-multiget>"#,
        hrefs.join("\n")
    )
}

// --- CardDAV: what vdirsyncer does, step by step ---

#[tokio::test]
async fn vdirsyncer_discovery_and_sync_requests_are_answered() {
    let app = setup().await;

    // find_collections("") on the configured URL: nothing there is an address book …
    let (root1, _, xml) = multistatus(
        dav(
            &app,
            "PROPFIND",
            "/carddav/",
            Some("1"),
            VDIRSYNCER_COLLECTIONS,
            ERIKA,
        )
        .await,
    )
    .await;
    insta::assert_snapshot!("carddav_root_depth1", xml);
    assert_eq!(root1.len(), 2);
    assert!(root1.iter().all(|r| {
        !r.prop(&format!("{DAV}resourcetype"))
            .children
            .contains(&format!("{CARD}addressbook"))
    }));

    // … so it looks for the principal …
    let (root0, _, xml) = multistatus(
        dav(
            &app,
            "PROPFIND",
            "/carddav/",
            Some("0"),
            VDIRSYNCER_PRINCIPAL,
            ERIKA,
        )
        .await,
    )
    .await;
    insta::assert_snapshot!("carddav_root_depth0", xml);
    assert_eq!(root0.len(), 1);
    assert_eq!(root0[0].href, "/carddav/");
    let principal = root0[0].prop(&format!("{DAV}current-user-principal"));
    assert_eq!(
        (principal.status, principal.text.as_str()),
        (200, "/carddav/201/")
    );

    // … its address-book home …
    let (home, _, xml) = multistatus(
        dav(
            &app,
            "PROPFIND",
            "/carddav/201/",
            Some("0"),
            VDIRSYNCER_HOMESET,
            ERIKA,
        )
        .await,
    )
    .await;
    insta::assert_snapshot!("carddav_principal_depth0", xml);
    let home_set = home[0].prop(&format!("{CARD}addressbook-home-set"));
    assert_eq!(
        (home_set.status, home_set.text.as_str()),
        (200, "/carddav/201/")
    );

    // … and the collections in it.
    let (collections, _, xml) = multistatus(
        dav(
            &app,
            "PROPFIND",
            "/carddav/201/",
            Some("1"),
            VDIRSYNCER_COLLECTIONS,
            ERIKA,
        )
        .await,
    )
    .await;
    insta::assert_snapshot!("carddav_principal_depth1", xml);
    let books: Vec<_> = collections
        .iter()
        .filter(|r| {
            r.prop(&format!("{DAV}resourcetype"))
                .children
                .contains(&format!("{CARD}addressbook"))
        })
        .map(|r| r.href.as_str())
        .collect();
    assert_eq!(books, ["/carddav/201/contacts/"]);

    // The book itself, depth 0 (metadata) and depth 1 (the item list).
    let (book0, _, xml) = multistatus(
        dav(
            &app,
            "PROPFIND",
            "/carddav/201/contacts/",
            Some("0"),
            VDIRSYNCER_COLLECTIONS,
            ERIKA,
        )
        .await,
    )
    .await;
    insta::assert_snapshot!("carddav_book_depth0", xml);
    assert_eq!(book0.len(), 1);

    let (list, _, xml) = multistatus(
        dav(
            &app,
            "PROPFIND",
            "/carddav/201/contacts/",
            Some("1"),
            VDIRSYNCER_LIST,
            ERIKA,
        )
        .await,
    )
    .await;
    insta::assert_snapshot!("carddav_book_depth1", xml);
    // The collection, Erika's three contacts and the company's one.
    assert_eq!(list.len(), 5);
    let items: Vec<&DavResponse> = list.iter().skip(1).collect();
    for item in &items {
        assert!(item.href.starts_with("/carddav/201/contacts/") && item.href.ends_with(".vcf"));
        assert_eq!(
            item.prop(&format!("{DAV}getcontenttype")).text,
            "text/vcard; charset=utf-8"
        );
        assert!(item.prop(&format!("{DAV}getetag")).text.starts_with('"'));
        assert!(item.prop(&format!("{DAV}resourcetype")).children.is_empty());
    }

    // addressbook-multiget of every item, plus one that does not exist.
    let mut hrefs: Vec<&str> = items.iter().map(|i| i.href.as_str()).collect();
    hrefs.push("/carddav/201/contacts/00000000-0000-8000-8000-000000000000.vcf");
    let (got, _, xml) = multistatus(
        dav(
            &app,
            "REPORT",
            "/carddav/201/contacts/",
            None,
            &vdirsyncer_multiget(&hrefs),
            ERIKA,
        )
        .await,
    )
    .await;
    insta::assert_snapshot!("carddav_multiget", xml);
    assert_eq!(got.len(), 5);
    for (item, answer) in items.iter().zip(&got) {
        assert_eq!(answer.href, item.href);
        let etag = &answer.prop(&format!("{DAV}getetag")).text;
        assert_eq!(etag, &item.prop(&format!("{DAV}getetag")).text);
        let data = &answer.prop(&format!("{CARD}address-data")).text;
        // The same bytes as a GET of the item, CRLF included, with the same ETag.
        let single = get(&app, &item.href, Some(ERIKA)).await;
        assert_eq!(single.status(), StatusCode::OK);
        assert_eq!(single.headers()[ETAG].to_str().unwrap(), etag);
        assert_eq!(&single.text().await.unwrap(), data);
        assert!(data.starts_with("BEGIN:VCARD\r\nVERSION:3.0\r\n"));
    }
    assert_eq!(got[4].status, Some(404));
}

#[tokio::test]
async fn etag_and_ctag_change_only_with_content() {
    let app = setup().await;
    let snapshot = || async {
        let (list, _, _) = multistatus(
            dav(
                &app,
                "PROPFIND",
                "/carddav/201/contacts/",
                Some("1"),
                VDIRSYNCER_LIST,
                ERIKA,
            )
            .await,
        )
        .await;
        let etags: BTreeMap<String, String> = list
            .iter()
            .skip(1)
            .map(|r| {
                (
                    r.href.clone(),
                    r.prop(&format!("{DAV}getetag")).text.clone(),
                )
            })
            .collect();
        let (book, _, _) = multistatus(
            dav(
                &app,
                "PROPFIND",
                "/carddav/201/contacts/",
                Some("0"),
                "",
                ERIKA,
            )
            .await,
        )
        .await;
        let ctag = book[0]
            .prop("{http://calendarserver.org/ns/}getctag")
            .text
            .clone();
        let token = book[0].prop(&format!("{DAV}sync-token")).text.clone();
        (etags, ctag, token)
    };
    let first = snapshot().await;
    assert_eq!(snapshot().await, first, "nothing changed, nothing moves");

    // The same content written again changes nothing.
    let entries = app.phonebooks.entries();
    let bob = entries
        .iter()
        .find(|e| e.display_name == "Bob O'Neil")
        .unwrap()
        .clone();
    app.phonebooks.put_entry(bob.clone());
    assert_eq!(snapshot().await, first);

    // One entry changes: its ETag, the ctag and the sync token move; the others stay.
    let mut changed = bob;
    changed.job_title = "Plumber".into();
    app.phonebooks.put_entry(changed);
    let second = snapshot().await;
    assert_ne!(second.1, first.1, "ctag");
    assert_ne!(second.2, first.2, "sync token");
    let differing: Vec<_> = first
        .0
        .iter()
        .filter(|(href, etag)| second.0.get(*href) != Some(etag))
        .collect();
    assert_eq!(differing.len(), 1, "{first:?} → {second:?}");

    // A company entry changes every extension's ctag.
    let mut reception = entry(
        Book::Company,
        "mbx-shared",
        "AAMkAD=reception+",
        "Reception",
    );
    reception.company = "Contoso".into();
    app.phonebooks.put_entry(reception);
    assert_ne!(snapshot().await.1, second.1);
}

const SYNC_BODY: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<D:sync-collection xmlns:D="DAV:">
  <D:sync-token>TOKEN</D:sync-token>
  <D:sync-level>1</D:sync-level>
  <D:prop><D:getetag/></D:prop>
</D:sync-collection>"#;

#[tokio::test]
async fn sync_collection_sends_everything_then_nothing_then_asks_for_a_resync() {
    let app = setup().await;
    let sync = |token: String| {
        let body = SYNC_BODY.replace("TOKEN", &token);
        let app = &app;
        async move { dav(app, "REPORT", "/carddav/201/contacts/", None, &body, ERIKA).await }
    };
    let (all, token, _) = multistatus(sync(String::new()).await).await;
    assert_eq!(all.len(), 4);
    assert!(all.iter().all(|r| r.props.contains_key("{DAV:}getetag")));
    let token = token.unwrap();

    let (none, same, _) = multistatus(sync(token.clone()).await).await;
    assert!(none.is_empty());
    assert_eq!(same.as_deref(), Some(token.as_str()));

    app.phonebooks.remove_entry("mbx-erika", "AAMkAD=bob/2+");
    let stale = sync(token).await;
    assert_eq!(stale.status(), StatusCode::FORBIDDEN);
    let body = stale.text().await.unwrap();
    assert!(body.contains("valid-sync-token"), "{body}");
    let (again, _, _) = multistatus(sync(String::new()).await).await;
    assert_eq!(again.len(), 3);
}

#[tokio::test]
async fn addressbook_query_filters_on_text() {
    let app = setup().await;
    let query = |filter: &str| {
        format!(
            r#"<?xml version="1.0" encoding="utf-8"?>
<C:addressbook-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav">
  <D:prop><D:getetag/><C:address-data/></D:prop>
  <C:filter test="anyof">{filter}</C:filter>
</C:addressbook-query>"#
        )
    };
    let names = |responses: &[DavResponse]| -> Vec<String> {
        responses
            .iter()
            .map(|r| {
                let data = &r.prop(&format!("{CARD}address-data")).text;
                data.lines()
                    .find_map(|l| l.strip_prefix("FN:"))
                    .unwrap()
                    .trim()
                    .to_owned()
            })
            .collect()
    };
    let fn_filter = r#"<C:prop-filter name="FN"><C:text-match collation="i;unicode-casemap" match-type="contains">ber</C:text-match></C:prop-filter>"#;
    let (found, _, _) = multistatus(
        dav(
            &app,
            "REPORT",
            "/carddav/201/contacts/",
            Some("1"),
            &query(fn_filter),
            ERIKA,
        )
        .await,
    )
    .await;
    assert_eq!(names(&found), ["Anna Berger"]);

    let tel = r#"<C:prop-filter name="TEL"><C:text-match match-type="starts-with">+4930</C:text-match></C:prop-filter>"#;
    let (found, _, _) = multistatus(
        dav(
            &app,
            "REPORT",
            "/carddav/201/contacts/",
            Some("1"),
            &query(tel),
            ERIKA,
        )
        .await,
    )
    .await;
    assert_eq!(names(&found), ["Anna Berger", "Reception"]);

    let (all, _, _) = multistatus(
        dav(
            &app,
            "REPORT",
            "/carddav/201/contacts/",
            Some("1"),
            &query(""),
            ERIKA,
        )
        .await,
    )
    .await;
    assert_eq!(all.len(), 4);
}

#[tokio::test]
async fn carddav_is_read_only_and_speaks_plain_http_errors() {
    let app = setup().await;
    let options = client()
        .request(Method::OPTIONS, app.url("/carddav/"))
        .send()
        .await
        .unwrap();
    assert_eq!(options.status(), StatusCode::OK);
    assert_eq!(options.headers()["dav"], "1, 3, addressbook");

    let well_known = client()
        .request(
            Method::from_bytes(b"PROPFIND").unwrap(),
            app.url("/.well-known/carddav"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(well_known.status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(well_known.headers()[LOCATION], "/carddav/");

    for method in ["PUT", "DELETE", "MKCOL", "PROPPATCH"] {
        let r = dav(&app, method, "/carddav/201/contacts/x.vcf", None, "", ERIKA).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{method}");
        assert!(r.text().await.unwrap().contains("read-only"));
    }
    let unknown = dav(&app, "FROBNICATE", "/carddav/201/", None, "", ERIKA).await;
    assert_eq!(unknown.status(), StatusCode::METHOD_NOT_ALLOWED);

    let bad_xml = dav(
        &app,
        "PROPFIND",
        "/carddav/201/",
        Some("0"),
        "<propfind",
        ERIKA,
    )
    .await;
    assert_eq!(bad_xml.status(), StatusCode::BAD_REQUEST);
    let bad_depth = dav(&app, "PROPFIND", "/carddav/201/", Some("2"), "", ERIKA).await;
    assert_eq!(bad_depth.status(), StatusCode::BAD_REQUEST);
    let other_report = dav(
        &app,
        "REPORT",
        "/carddav/201/contacts/",
        None,
        r#"<x:expand-property xmlns:x="DAV:"/>"#,
        ERIKA,
    )
    .await;
    assert_eq!(other_report.status(), StatusCode::FORBIDDEN);
    assert!(
        other_report
            .text()
            .await
            .unwrap()
            .contains("supported-report")
    );

    let missing = get(
        &app,
        "/carddav/201/contacts/00000000-0000-8000-8000-000000000000.vcf",
        Some(ERIKA),
    )
    .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);

    // Unknown properties come back as 404 propstats, in their own namespace.
    let odd = r#"<D:propfind xmlns:D="DAV:" xmlns:Z="urn:example:z"><D:prop><D:displayname/><Z:color/></D:prop></D:propfind>"#;
    let (r, _, _) = multistatus(
        dav(
            &app,
            "PROPFIND",
            "/carddav/201/contacts/",
            Some("0"),
            odd,
            ERIKA,
        )
        .await,
    )
    .await;
    assert_eq!(r[0].prop("{DAV:}displayname").status, 200);
    assert_eq!(r[0].prop("{urn:example:z}color").status, 404);
}

// --- real clients ---

fn installed(program: &str) -> bool {
    std::process::Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs a client to completion off the async runtime (the server keeps serving meanwhile).
async fn run(program: &'static str, args: Vec<String>, stdin: &'static str) -> String {
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = std::process::Command::new(program)
            .args(&args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{program} {args:?} failed:\n{text}");
        text
    })
    .await
    .unwrap()
}

/// vdirsyncer discovers and syncs the address book (read-only), khard reads what it synced.
/// Skipped when the Debian packages are not installed (`.ci/run` installs them).
#[tokio::test]
async fn vdirsyncer_and_khard_read_the_address_book() {
    if !installed("vdirsyncer") || !installed("khard") {
        eprintln!("skipped: vdirsyncer and khard are not installed");
        return;
    }
    let app = setup().await;
    let dir = std::env::temp_dir().join(format!(
        "switchboard-carddav-{}-{}",
        std::process::id(),
        jiff::Timestamp::now().as_nanosecond()
    ));
    std::fs::create_dir_all(dir.join("status")).unwrap();
    std::fs::create_dir_all(dir.join("contacts")).unwrap();
    let d = dir.display();
    let vdirsyncer_conf = dir.join("vdirsyncer.conf");
    std::fs::write(
        &vdirsyncer_conf,
        format!(
            r#"[general]
status_path = "{d}/status/"

[pair phonebook]
a = "switchboard"
b = "local"
collections = ["from a"]

[storage switchboard]
type = "carddav"
url = "{base}/carddav/"
username = "201"
password = "{PW_201}"
read_only = true

[storage local]
type = "filesystem"
path = "{d}/contacts/"
fileext = ".vcf"
"#,
            base = app.base
        ),
    )
    .unwrap();
    let khard_conf = dir.join("khard.conf");
    std::fs::write(
        &khard_conf,
        format!(
            "[addressbooks]\n[[phonebook]]\npath = {d}/contacts/contacts/\n\n[general]\ndefault_action = list\n"
        ),
    )
    .unwrap();
    let conf = vdirsyncer_conf.display().to_string();
    let discovered = run(
        "vdirsyncer",
        vec![
            "-c".into(),
            conf.clone(),
            "discover".into(),
            "phonebook".into(),
        ],
        "y\ny\ny\n",
    )
    .await;
    eprintln!("vdirsyncer discover:\n{discovered}");
    let synced = run(
        "vdirsyncer",
        vec!["-c".into(), conf.clone(), "sync".into()],
        "",
    )
    .await;
    eprintln!("vdirsyncer sync:\n{synced}");
    let cards = std::fs::read_dir(dir.join("contacts/contacts"))
        .unwrap()
        .count();
    assert_eq!(cards, 4, "{synced}");

    let khard = khard_conf.display().to_string();
    let list = run("khard", vec!["-c".into(), khard.clone(), "list".into()], "").await;
    eprintln!("khard list:\n{list}");
    for name in ["Anna Berger", "Bob O'Neil", "Carla Mail", "Reception"] {
        assert!(list.contains(name), "{name} missing from:\n{list}");
    }
    let phones = run(
        "khard",
        vec!["-c".into(), khard, "phone".into(), "Anna".into()],
        "",
    )
    .await;
    eprintln!("khard phone Anna:\n{phones}");
    assert!(phones.contains("+49301234567"), "{phones}");
    assert!(phones.contains("+491715551234"), "{phones}");

    // A change is picked up by the next sync; a second sync without changes is quiet.
    app.phonebooks.remove_entry("mbx-erika", "AAMkAD=bob/2+");
    run(
        "vdirsyncer",
        vec!["-c".into(), conf.clone(), "sync".into()],
        "",
    )
    .await;
    let cards = std::fs::read_dir(dir.join("contacts/contacts"))
        .unwrap()
        .count();
    assert_eq!(cards, 3);
    let _ = std::fs::remove_dir_all(&dir);
}
