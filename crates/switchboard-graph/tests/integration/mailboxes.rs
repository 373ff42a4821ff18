//! The core's MailboxSource over a stub Graph `$batch` host (tokens from the emulator): batch
//! sizes, the per-mailbox and global limits, answers matched by id, inner throttling, 424,
//! error mapping, links and parsing.

use crate::batch_stub::*;
use crate::common::fast_retry;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchboard_core::contacts::{
    ContactChange, DEFAULT_FOLDER, FolderChange, MailboxAnswer, MailboxContact, MailboxRead,
};
use switchboard_core::ports::{DirectoryError, MailboxError, MailboxSource as _};
use switchboard_graph::mailboxes::{MAX_BATCH_ITEMS, MAX_PER_MAILBOX};
use switchboard_graph::{GraphConfig, GraphMailboxes, RetryPolicy, TokenProvider};

pub fn contacts(mailbox: &str, folder: &str) -> MailboxRead {
    MailboxRead::ContactsDelta {
        mailbox: mailbox.into(),
        folder: folder.into(),
        link: None,
    }
}

pub fn folders(mailbox: &str) -> MailboxRead {
    MailboxRead::FolderDelta {
        mailbox: mailbox.into(),
        link: None,
    }
}

/// The id of the one contact or folder the default answer has.
pub fn only_id(answer: &MailboxAnswer) -> String {
    match answer {
        MailboxAnswer::Contacts(page) => match page.changes.as_slice() {
            [ContactChange::Upsert(c)] => c.id.clone(),
            other => panic!("{other:?}"),
        },
        MailboxAnswer::Folders(page) => match page.changes.as_slice() {
            [FolderChange::Upsert(f)] => f.id.clone(),
            other => panic!("{other:?}"),
        },
    }
}

pub fn expected_id(read: &MailboxRead) -> String {
    match read {
        MailboxRead::FolderDelta { mailbox, .. } => format!("{mailbox}-folder"),
        MailboxRead::ContactsDelta {
            mailbox, folder, ..
        } if folder == DEFAULT_FOLDER => format!("{mailbox}/default"),
        MailboxRead::ContactsDelta {
            mailbox, folder, ..
        } => format!("{mailbox}/{folder}"),
    }
}

#[tokio::test]
async fn forty_five_reads_go_in_three_batches() {
    let s = setup(Arc::new(default_answer), Duration::from_millis(50)).await;
    let reads: Vec<MailboxRead> = (0..45)
        .map(|i| match i % 3 {
            0 => folders(&format!("m{i}")),
            1 => contacts(&format!("m{i}"), DEFAULT_FOLDER),
            _ => contacts(&format!("m{i}"), &format!("f{i}")),
        })
        .collect();
    let results = s.mailboxes.read(reads.clone()).await;
    assert_eq!(results.len(), 45);
    for (read, result) in reads.iter().zip(&results) {
        let answer = result.as_ref().expect("read");
        assert_eq!(only_id(answer), expected_id(read));
    }
    let batches = s.stub.batches();
    let mut sizes: Vec<usize> = batches.iter().map(Vec::len).collect();
    sizes.sort_unstable();
    assert_eq!(sizes, [5, MAX_BATCH_ITEMS, MAX_BATCH_ITEMS]);
    // Sent side by side (the default allows 4).
    assert!((2..=3).contains(&s.stub.max_concurrent_batches()));
    let items: Vec<&Item> = batches.iter().flatten().collect();
    let url = |m: &str| {
        items
            .iter()
            .find(|i| i.mailbox == m)
            .map(|i| i.url.clone())
            .expect("item")
    };
    assert_eq!(
        url("m0"),
        "/users/m0/contactFolders/delta?$select=displayName,parentFolderId"
    );
    assert!(
        url("m1").starts_with("/users/m1/contacts/delta?$select=displayName,givenName,"),
        "{}",
        url("m1")
    );
    assert!(
        url("m2").starts_with("/users/m2/contactFolders/f2/contacts/delta?$select="),
        "{}",
        url("m2")
    );
    for item in items {
        let prefer = item.prefer.as_deref().unwrap_or_default();
        assert!(prefer.contains("odata.maxpagesize=200"), "{prefer}");
        assert!(prefer.contains("IdType=\"ImmutableId\""), "{prefer}");
    }
}

#[tokio::test]
async fn answers_out_of_order_are_matched_by_id() {
    let s = setup(Arc::new(default_answer), Duration::ZERO).await;
    let reads = vec![
        contacts("a", DEFAULT_FOLDER),
        folders("b"),
        contacts("c", "team"),
        folders("a"),
        contacts("d", "x"),
    ];
    let results = s.mailboxes.read(reads.clone()).await;
    let batches = s.stub.batches();
    assert_eq!(batches.len(), 1);
    for (read, result) in reads.iter().zip(&results) {
        let answer = result.as_ref().expect("read");
        assert_eq!(only_id(answer), expected_id(read));
        match (read, answer) {
            (MailboxRead::FolderDelta { .. }, MailboxAnswer::Folders(page)) => {
                assert!(page.delta_link.is_some() && page.next.is_none());
            }
            (MailboxRead::ContactsDelta { mailbox, .. }, MailboxAnswer::Contacts(page)) => {
                assert_eq!(
                    page.next.as_deref(),
                    Some(
                        format!(
                            "{}/v1.0/users/{mailbox}/contacts/delta?$skiptoken=2",
                            s.base
                        )
                        .as_str()
                    )
                );
            }
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn one_mailbox_never_has_more_than_three_reads_in_flight() {
    let s = setup(Arc::new(default_answer), Duration::from_millis(40)).await;
    let mut reads: Vec<MailboxRead> = (0..10)
        .map(|i| contacts("busy", &format!("f{i}")))
        .collect();
    reads.extend((0..10).map(|i| folders(&format!("other{i}"))));
    let results = s.mailboxes.read(reads.clone()).await;
    for (read, result) in reads.iter().zip(&results) {
        assert_eq!(only_id(result.as_ref().expect("read")), expected_id(read));
    }
    for batch in s.stub.batches() {
        let busy = batch.iter().filter(|i| i.mailbox == "busy").count();
        assert!(
            busy <= MAX_PER_MAILBOX,
            "{busy} reads of one mailbox in a batch"
        );
    }
    assert_eq!(s.stub.items_for("busy"), 10);
    assert_eq!(s.stub.max_in_flight("busy"), MAX_PER_MAILBOX);

    // Two callers sharing the adapter share the limit too.
    let s = setup(Arc::new(default_answer), Duration::from_millis(40)).await;
    let first: Vec<MailboxRead> = (0..6)
        .map(|i| contacts("shared", &format!("a{i}")))
        .collect();
    let second: Vec<MailboxRead> = (0..6)
        .map(|i| contacts("shared", &format!("b{i}")))
        .collect();
    let other = s.mailboxes.clone();
    let (a, b) = tokio::join!(s.mailboxes.read(first), other.read(second));
    assert!(a.iter().chain(&b).all(Result::is_ok));
    assert_eq!(s.stub.items_for("shared"), 12);
    assert_eq!(s.stub.max_in_flight("shared"), MAX_PER_MAILBOX);
}

#[tokio::test]
async fn batches_in_flight_are_bounded() {
    let s = setup(Arc::new(default_answer), Duration::from_millis(30)).await;
    let reads: Vec<MailboxRead> = (0..200).map(|i| folders(&format!("m{i}"))).collect();
    let results = s.mailboxes.read(reads).await;
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(s.stub.batches().len(), 10);
    let most = s.stub.max_concurrent_batches();
    assert!((2..=4).contains(&most), "{most} batches at once");

    let s = setup(Arc::new(default_answer), Duration::from_millis(10)).await;
    let one = s.mailboxes.clone().with_max_batches_in_flight(1);
    assert_eq!(one.max_batches_in_flight(), 1);
    let reads: Vec<MailboxRead> = (0..60).map(|i| folders(&format!("m{i}"))).collect();
    assert!(one.read(reads).await.iter().all(Result::is_ok));
    assert_eq!(s.stub.batches().len(), 3);
    assert_eq!(s.stub.max_concurrent_batches(), 1);
}

#[tokio::test]
async fn an_inner_429_is_retried_after_its_retry_after() {
    let responder: Responder = Arc::new(|base, item, times| {
        if item.mailbox == "slow" && times == 0 {
            json!({"status": 429, "headers": {"Retry-After": "0.2", "Content-Type": "application/json"},
                   "body": {"error": {"code": "ApplicationThrottled", "message": "Application is over its MailboxConcurrency limit."}}})
        } else {
            default_answer(base, item, times)
        }
    });
    let s = setup(responder, Duration::ZERO).await;
    let reads = vec![folders("a"), contacts("slow", DEFAULT_FOLDER), folders("b")];
    let started = Instant::now();
    let results = s.mailboxes.read(reads.clone()).await;
    let elapsed = started.elapsed();
    for (read, result) in reads.iter().zip(&results) {
        assert_eq!(only_id(result.as_ref().expect("read")), expected_id(read));
    }
    assert!(elapsed >= Duration::from_millis(200), "{elapsed:?}");
    let batches = s.stub.batches();
    assert_eq!(batches.len(), 2);
    assert_eq!(batches[0].len(), 3);
    // Only the throttled item went again.
    assert_eq!(batches[1].len(), 1);
    assert_eq!(batches[1][0].mailbox, "slow");
}

#[tokio::test]
async fn a_424_goes_again_and_the_retry_budget_ends_in_an_error() {
    let responder: Responder = Arc::new(|base, item, times| match item.mailbox.as_str() {
        "dependent" if times == 0 => {
            json!({"status": 424, "body": {"error": {"code": "FailedDependency", "message": "x"}}})
        }
        "down" => json!({"status": 503, "headers": {"Retry-After": "0.01"},
                         "body": {"error": {"code": "serviceNotAvailable", "message": "Service unavailable."}}}),
        _ => default_answer(base, item, times),
    });
    let retry = RetryPolicy {
        max_attempts: 3,
        ..fast_retry()
    };
    let s = setup_with(responder, Duration::ZERO, retry).await;
    let results = s
        .mailboxes
        .read(vec![folders("dependent"), folders("down"), folders("fine")])
        .await;
    assert_eq!(
        only_id(results[0].as_ref().expect("after the 424")),
        "dependent-folder"
    );
    match &results[1] {
        Err(MailboxError::Graph(DirectoryError::Unavailable(m))) => {
            assert!(
                m.contains("3 attempts") && m.contains("serviceNotAvailable"),
                "{m}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(results[2].is_ok());
    assert_eq!(s.stub.items_for("dependent"), 2);
    assert_eq!(s.stub.items_for("down"), 3);
    assert_eq!(s.stub.items_for("fine"), 1);
}

#[tokio::test]
async fn inner_errors_map_to_mailbox_errors() {
    let responder: Responder = Arc::new(|base, item, times| match item.mailbox.as_str() {
        "unlicensed" => error_answer(
            404,
            "MailboxNotEnabledForRESTAPI",
            "REST API is not yet supported for this mailbox.",
        ),
        "onprem" => error_answer(
            404,
            "ResourceNotFound",
            "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
        ),
        "gone" => error_answer(
            404,
            "ErrorItemNotFound",
            "The specified object was not found in the store.",
        ),
        "expired" => error_answer(
            410,
            "syncStateNotFound",
            "The sync state is no longer available.",
        ),
        "expired400" => error_answer(400, "syncStateNotFound", "Sync state not found."),
        "denied" => error_answer(
            403,
            "ErrorAccessDenied",
            "Access is denied. Check credentials and try again.",
        ),
        "bad" => error_answer(
            400,
            "ErrorInvalidUrlQuery",
            "The query parameter is invalid.",
        ),
        _ => default_answer(base, item, times),
    });
    let s = setup(responder, Duration::ZERO).await;
    let link = format!(
        "{}/v1.0/users/expired/contacts/delta?$deltatoken=old",
        "BASE"
    );
    let reads = vec![
        contacts("unlicensed", DEFAULT_FOLDER),
        folders("onprem"),
        contacts("gone", "deleted-folder"),
        MailboxRead::ContactsDelta {
            mailbox: "expired".into(),
            folder: DEFAULT_FOLDER.into(),
            link: Some(link.replace("BASE", &s.base)),
        },
        contacts("expired400", "f"),
        contacts("denied", DEFAULT_FOLDER),
        contacts("bad", DEFAULT_FOLDER),
        folders("ok"),
    ];
    let results = s.mailboxes.read(reads).await;
    assert_eq!(results[0], Err(MailboxError::NoMailbox));
    assert_eq!(results[1], Err(MailboxError::NoMailbox));
    assert_eq!(results[2], Err(MailboxError::FolderGone));
    assert_eq!(results[3], Err(MailboxError::DeltaExpired));
    assert_eq!(results[4], Err(MailboxError::DeltaExpired));
    match &results[5] {
        Err(MailboxError::Graph(DirectoryError::Denied(m))) => {
            assert!(
                m.contains("403 ErrorAccessDenied") && m.contains("Access is denied"),
                "{m}"
            );
            assert!(m.contains("[request-id rid-1]"), "{m}");
        }
        other => panic!("{other:?}"),
    }
    match &results[6] {
        Err(MailboxError::Graph(DirectoryError::Protocol(m))) => {
            assert!(
                m.contains("ErrorInvalidUrlQuery") && m.contains("The query parameter is invalid"),
                "{m}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(results[7].is_ok());
    // One batch, nothing retried.
    assert_eq!(s.stub.batches().len(), 1);
}

#[tokio::test]
async fn links_are_followed_on_the_graph_host_only() {
    let s = setup(Arc::new(default_answer), Duration::ZERO).await;
    let first = s.mailboxes.read(vec![contacts("a", DEFAULT_FOLDER)]).await;
    let MailboxAnswer::Contacts(page) = first[0].as_ref().expect("first page") else {
        panic!("not contacts");
    };
    let next = page.next.clone().expect("nextLink");
    let results = s
        .mailboxes
        .read(vec![
            MailboxRead::ContactsDelta {
                mailbox: "a".into(),
                folder: DEFAULT_FOLDER.into(),
                link: Some(next),
            },
            MailboxRead::ContactsDelta {
                mailbox: "b".into(),
                folder: DEFAULT_FOLDER.into(),
                link: Some(
                    "http://203.0.113.9/v1.0/users/b/contacts/delta?$deltatoken=steal".into(),
                ),
            },
            MailboxRead::FolderDelta {
                mailbox: "c".into(),
                link: Some(format!(
                    "{}/v1.0/users/c/contactFolders/delta?$deltatoken=a%2Bb",
                    s.base
                )),
            },
        ])
        .await;
    assert!(results[0].is_ok());
    match &results[1] {
        Err(MailboxError::Graph(DirectoryError::Protocol(m))) => {
            assert!(m.contains("203.0.113.9"), "{m}")
        }
        other => panic!("{other:?}"),
    }
    assert!(results[2].is_ok());
    let urls: Vec<String> = s
        .stub
        .batches()
        .iter()
        .flatten()
        .map(|i| i.url.clone())
        .collect();
    assert!(
        urls.contains(&"/users/a/contacts/delta?$skiptoken=2".to_owned()),
        "{urls:?}"
    );
    assert!(
        urls.contains(&"/users/c/contactFolders/delta?$deltatoken=a%2Bb".to_owned()),
        "{urls:?}"
    );
    // The refused link never left.
    assert_eq!(s.stub.items_for("b"), 0);
}

#[tokio::test]
async fn removed_items_and_every_phone_field_are_parsed() {
    let responder: Responder = Arc::new(|base, item, _| {
        if item.url.contains("/contactFolders/delta") {
            return json!({"status": 200, "body": {"value": [
                {"@odata.type": "#microsoft.graph.contactFolder", "id": "f1", "displayName": "Suppliers", "parentFolderId": "root"},
                {"@odata.type": "#microsoft.graph.contactFolder", "id": "f2", "@removed": {"reason": "deleted"}}
            ], "@odata.deltaLink": format!("{base}/v1.0/users/rich/contactFolders/delta?$deltatoken=z")}});
        }
        json!({"status": 200, "body": {"value": [
            {"@odata.etag": "W/\"EQAAABYAAA\"", "id": "c1", "parentFolderId": "p", "displayName": "Adele Vance",
             "givenName": "Adele", "surname": "Vance", "companyName": "Contoso", "department": "Retail",
             "jobTitle": "Buyer", "emailAddresses": [{"name": "Adele", "address": "adele@contoso.com"}, {"name": "Home", "address": "adele@example.org"}],
             "businessPhones": ["+1 425 555 0109", "+1 425 555 0110"], "homePhones": ["+1 206 555 0111"],
             "mobilePhone": "+1 425 555 0112", "middleName": null, "categories": [], "homeAddress": {}},
            {"@odata.type": "#microsoft.graph.contact", "id": "c2", "@removed": {"reason": "deleted"}}
        ], "@odata.deltaLink": format!("{base}/v1.0/users/rich/contacts/delta?$deltatoken=z")}})
    });
    let s = setup(responder, Duration::ZERO).await;
    let results = s
        .mailboxes
        .read(vec![folders("rich"), contacts("rich", DEFAULT_FOLDER)])
        .await;
    let Ok(MailboxAnswer::Folders(folders)) = &results[0] else {
        panic!("{:?}", results[0]);
    };
    assert_eq!(folders.changes.len(), 2);
    assert_eq!(
        folders.changes[1],
        FolderChange::Removed { id: "f2".into() }
    );
    let Ok(MailboxAnswer::Contacts(page)) = &results[1] else {
        panic!("{:?}", results[1]);
    };
    assert_eq!(
        page.changes,
        [
            ContactChange::Upsert(MailboxContact {
                id: "c1".into(),
                parent_folder_id: Some("p".into()),
                display_name: Some("Adele Vance".into()),
                given_name: Some("Adele".into()),
                surname: Some("Vance".into()),
                company_name: Some("Contoso".into()),
                department: Some("Retail".into()),
                job_title: Some("Buyer".into()),
                email_addresses: vec!["adele@contoso.com".into(), "adele@example.org".into()],
                business_phones: vec!["+1 425 555 0109".into(), "+1 425 555 0110".into()],
                home_phones: vec!["+1 206 555 0111".into()],
                mobile_phone: Some("+1 425 555 0112".into()),
            }),
            ContactChange::Removed { id: "c2".into() },
        ]
    );
    assert!(page.delta_link.is_some() && page.next.is_none());
}

#[tokio::test]
async fn batch_level_failures_reach_every_read() {
    let s = setup(Arc::new(default_answer), Duration::ZERO).await;
    *s.stub.outer_status.lock().expect("lock") = Some(403);
    let results = s.mailboxes.read(vec![folders("a"), folders("b")]).await;
    for result in &results {
        match result {
            Err(MailboxError::Graph(DirectoryError::Denied(m))) => {
                assert!(m.contains("Insufficient privileges"), "{m}")
            }
            other => panic!("{other:?}"),
        }
    }

    // Not connected: nothing is sent, every read says so.
    let unconnected = GraphMailboxes::new(
        TokenProvider::new(GraphConfig::default(), s._h.clock()).expect("tokens"),
        Arc::new(NoConnection),
    );
    let results = unconnected.read(vec![folders("a"), folders("b")]).await;
    assert_eq!(results.len(), 2);
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Err(MailboxError::Graph(DirectoryError::NotConnected(_)))))
    );
    assert!(unconnected.read(Vec::new()).await.is_empty());
}
