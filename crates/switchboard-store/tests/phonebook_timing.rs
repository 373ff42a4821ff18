//! How long contact sync's writes take: 100,000 entries (1,000 mailboxes of 100 contacts) written
//! in pages of 100, then the same pages again (nothing changed), then read back in keyset pages of
//! 1,000. Ignored by default (it takes a while); run with
//! `cargo test -p switchboard-store --test phonebook_timing -- --ignored --nocapture`
//! (with `SWITCHBOARD_TEST_POSTGRES` set to time PostgreSQL too).

#![allow(clippy::unwrap_used)]

use std::time::Instant;
use switchboard_core::contacts::{
    Book, EntryOrigin, FolderSyncState, PhoneKind, PhoneNumber, PhonebookEntry, PhonebookWrite,
};
use switchboard_core::ports::PhonebookStore;
use switchboard_store::testing::{engines_under_test, fresh_database};

const MAILBOXES: usize = 1_000;
const CONTACTS: usize = 100;

fn page(mailbox: usize, at: jiff::Timestamp) -> PhonebookWrite {
    let mailbox_id = format!("00000000-0000-0000-0000-{mailbox:012}");
    let book = Book::Extension(format!("{}", 1000 + mailbox));
    let upserts = (0..CONTACTS)
        .map(|c| PhonebookEntry {
            book: book.clone(),
            mailbox_id: mailbox_id.clone(),
            // As long as Graph's (immutable) contact ids: about 150 characters.
            contact_id: format!(
                "{}{mailbox:06}{c:04}=",
                "AAMkAGI2TG93AGVkLWM5N2ItNDZlNi04ZTM4LWE0MjJmNmY1Y2Q3NABGAAAAAAC".repeat(2)
            ),
            folder_id: String::new(),
            display_name: format!("Contact {c} of {mailbox}"),
            first_name: format!("Contact {c}"),
            last_name: format!("of {mailbox}"),
            company: "Contoso Ltd".into(),
            department: "Sales".into(),
            job_title: "Account manager".into(),
            emails: vec![format!("contact{c}.{mailbox}@example.com")],
            phones: vec![
                PhoneNumber {
                    kind: PhoneKind::Business,
                    raw: format!("020 7946 {c:04}"),
                    e164: Some(format!("+44207946{c:04}")),
                },
                PhoneNumber {
                    kind: PhoneKind::Mobile,
                    raw: format!("07700 9{mailbox:05}"),
                    e164: Some(format!("+4477009{mailbox:05}")),
                },
            ],
            origin: EntryOrigin::Outlook,
            updated_at: at,
        })
        .collect();
    PhonebookWrite {
        mailbox_id,
        book,
        upserts,
        removals: Vec::new(),
        folder: FolderSyncState {
            folder_id: String::new(),
            display_name: "Contacts".into(),
            parent_folder_id: None,
            link: Some(format!(
                "https://graph.microsoft.com/v1.0/delta?token={mailbox}"
            )),
            full_round: Some(1),
        },
        finish_round: Some(1),
    }
}

#[tokio::test]
#[ignore = "timing run: see the module documentation"]
async fn write_100_000_entries_in_pages_of_100() {
    for base in engines_under_test() {
        let db = fresh_database(base.as_deref()).await.unwrap();
        let store = db.open().await.unwrap();
        let t0 = jiff::Timestamp::from_second(1_780_000_000).unwrap();
        let pages: Vec<PhonebookWrite> = (0..MAILBOXES).map(|m| page(m, t0)).collect();

        let started = Instant::now();
        for write in &pages {
            store.apply_phonebook_write(write).await.unwrap();
        }
        let written = started.elapsed();

        let started = Instant::now();
        for write in &pages {
            store.apply_phonebook_write(write).await.unwrap();
        }
        let replayed = started.elapsed();

        let started = Instant::now();
        let mut total = 0;
        let mut last: Option<(String, String)> = None;
        loop {
            let after = last.as_ref().map(|(m, c)| (m.as_str(), c.as_str()));
            let page = store.phonebook_entries_page(after, 1000).await.unwrap();
            total += page.len();
            match page.last() {
                Some(e) if page.len() == 1000 => {
                    last = Some((e.mailbox_id.clone(), e.contact_id.clone()));
                }
                _ => break,
            }
        }
        let read = started.elapsed();
        assert_eq!(total, MAILBOXES * CONTACTS);
        assert_eq!(
            store
                .book_version(&Book::Extension("1000".into()))
                .await
                .unwrap(),
            1
        );
        eprintln!(
            "{}: wrote {} entries in pages of {CONTACTS}: {written:.2?} ({:.0} entries/s); \
             same pages again (no change): {replayed:.2?}; read back in pages of 1000: {read:.2?}",
            db.engine(),
            MAILBOXES * CONTACTS,
            (MAILBOXES * CONTACTS) as f64 / written.as_secs_f64(),
        );
        store.close().await;
        db.drop_database().await;
    }
}
