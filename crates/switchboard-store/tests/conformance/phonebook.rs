//! Phonebooks written page by page by contact sync, the mailbox and folder sync state, what the
//! API and CardDAV read back, and per-extension phonebook secrets.

use crate::extensions::fields;
use crate::{Ctx, ts};
use switchboard_core::contacts::{
    Book, EntryOrigin, FolderSyncState, MailboxSyncState, PhoneKind, PhoneNumber, PhonebookEntry,
    PhonebookQuery, PhonebookWrite,
};
use switchboard_store::Engine;

const T0: &str = "2026-06-01T08:00:00.123Z";
const T1: &str = "2026-06-02T09:30:00.456Z";

fn ext(number: &str) -> Book {
    Book::Extension(number.into())
}

/// A synced entry called `name` (first word first name, the rest last name) with one number.
fn entry(mailbox: &str, contact: &str, folder: &str, book: Book, name: &str) -> PhonebookEntry {
    let (first, last) = name.split_once(' ').unwrap_or((name, ""));
    PhonebookEntry {
        book,
        mailbox_id: mailbox.into(),
        contact_id: contact.into(),
        folder_id: folder.into(),
        display_name: name.into(),
        first_name: first.into(),
        last_name: last.into(),
        company: String::new(),
        department: String::new(),
        job_title: String::new(),
        emails: Vec::new(),
        phones: Vec::new(),
        origin: EntryOrigin::Outlook,
        updated_at: ts(T0),
    }
}

fn folder(id: &str, link: &str, full_round: Option<i64>) -> FolderSyncState {
    FolderSyncState {
        folder_id: id.into(),
        display_name: format!("Folder {id}"),
        parent_folder_id: None,
        link: Some(link.into()),
        full_round,
    }
}

/// A delta page of `folder` in `mailbox` (book from the first upsert, else the extension 100).
fn page(
    mailbox: &str,
    folder_state: FolderSyncState,
    upserts: Vec<PhonebookEntry>,
    removals: &[&str],
) -> PhonebookWrite {
    PhonebookWrite {
        mailbox_id: mailbox.into(),
        book: upserts.first().map_or(ext("100"), |e| e.book.clone()),
        upserts,
        removals: removals.iter().map(|s| (*s).to_owned()).collect(),
        folder: folder_state,
        finish_round: None,
    }
}

async fn apply(ctx: &Ctx<'_>, write: &PhonebookWrite) {
    ctx.books.apply_phonebook_write(write).await.unwrap();
}

fn everything() -> PhonebookQuery {
    PhonebookQuery {
        search: None,
        limit: 1000,
        offset: 0,
    }
}

async fn book(ctx: &Ctx<'_>, book: &Book) -> Vec<PhonebookEntry> {
    ctx.books.phonebook(book, &everything()).await.unwrap()
}

/// Contact ids of a book, in display order.
async fn ids(ctx: &Ctx<'_>, b: &Book) -> Vec<String> {
    book(ctx, b)
        .await
        .into_iter()
        .map(|e| e.contact_id)
        .collect()
}

/// Every entry of every book, walked in keyset pages of `size`.
async fn walk(ctx: &Ctx<'_>, size: u32) -> Vec<PhonebookEntry> {
    let mut out: Vec<PhonebookEntry> = Vec::new();
    loop {
        let after = out
            .last()
            .map(|e| (e.mailbox_id.clone(), e.contact_id.clone()));
        let page = ctx
            .books
            .phonebook_entries_page(after.as_ref().map(|(m, c)| (m.as_str(), c.as_str())), size)
            .await
            .unwrap();
        assert!(page.len() <= size as usize);
        let last = page.len() < size as usize;
        out.extend(page);
        if last {
            return out;
        }
    }
}

async fn version(ctx: &Ctx<'_>, b: &Book) -> i64 {
    ctx.books.book_version(b).await.unwrap()
}

/// A local entry (made on the PBX side) of `mailbox`, written behind the port.
async fn insert_local(ctx: &Ctx<'_>, mailbox: &str, contact: &str, folder: &str, b: &Book) {
    let mut conn = ctx.raw().await;
    sqlx::query(
        "INSERT INTO phonebook_entries \
                (mailbox_id, contact_id, book, folder_id, display_name, origin, updated_at) \
         VALUES ($1, $2, $3, $4, 'Local One', 'local', 0)",
    )
    .bind(mailbox)
    .bind(contact)
    .bind(b.as_key())
    .bind(folder)
    .execute(&mut conn)
    .await
    .unwrap();
}

/// Conformance case: every field of an entry and of its folder comes back as written.
pub async fn an_entry_round_trips_every_field(ctx: &Ctx<'_>) {
    assert_eq!(version(ctx, &ext("100")).await, 0, "never written");
    assert_eq!(ctx.books.load_mailbox_state("m1").await.unwrap(), None);
    let full = PhonebookEntry {
        book: ext("100"),
        mailbox_id: "m1".into(),
        contact_id: "AAMkAGI2TG93AAA=".into(),
        folder_id: "AQMkADAw".into(),
        display_name: "Zoë O'Brien-Łukasiewicz".into(),
        first_name: "Zoë".into(),
        last_name: "O'Brien-Łukasiewicz".into(),
        company: "Contoso \"Ltd\"".into(),
        department: "R&D".into(),
        job_title: "Head of 100% things".into(),
        emails: vec!["zoe@contoso.com".into(), "z.obrien@example.org".into()],
        phones: vec![
            PhoneNumber {
                kind: PhoneKind::Business,
                raw: "+44 20 7946 0958".into(),
                e164: Some("+442079460958".into()),
            },
            PhoneNumber {
                kind: PhoneKind::Home,
                raw: "020 7946 0000".into(),
                e164: Some("+442079460000".into()),
            },
            PhoneNumber {
                kind: PhoneKind::Mobile,
                raw: "07700 900123".into(),
                e164: Some("+447700900123".into()),
            },
            PhoneNumber {
                kind: PhoneKind::Other,
                raw: "ext. twelve".into(),
                e164: None,
            },
        ],
        origin: EntryOrigin::Outlook,
        updated_at: ts(T1),
    };
    let state = FolderSyncState {
        folder_id: "AQMkADAw".into(),
        display_name: "Kunden".into(),
        parent_folder_id: Some("AQMkROOT".into()),
        link: Some("https://graph.microsoft.com/v1.0/…/delta?$deltatoken=x".into()),
        full_round: Some(3),
    };
    apply(ctx, &page("m1", state.clone(), vec![full.clone()], &[])).await;

    assert_eq!(book(ctx, &ext("100")).await, std::slice::from_ref(&full));
    assert_eq!(walk(ctx, 10).await, std::slice::from_ref(&full));
    assert_eq!(ctx.books.count_phonebook(&ext("100")).await.unwrap(), 1);
    assert_eq!(ctx.books.count_phonebook(&Book::Company).await.unwrap(), 0);
    assert_eq!(version(ctx, &ext("100")).await, 1);
    assert_eq!(version(ctx, &ext("101")).await, 0);
    let loaded = ctx.books.load_mailbox_state("m1").await.unwrap().unwrap();
    assert_eq!(
        loaded,
        MailboxSyncState {
            mailbox_id: "m1".into(),
            book: "100".into(),
            folder_link: None,
            folders: vec![state],
            skipped: None,
            last_error: None,
            last_synced_at: None,
        }
    );

    // The company book, the default folder, no numbers at all.
    let company = PhonebookEntry {
        emails: Vec::new(),
        phones: Vec::new(),
        ..entry("shared", "c1", "", Book::Company, "Reception")
    };
    apply(
        ctx,
        &page("shared", folder("", "d1", None), vec![company.clone()], &[]),
    )
    .await;
    assert_eq!(book(ctx, &Book::Company).await, [company]);
    assert_eq!(version(ctx, &Book::Company).await, 1);
    let listed = ctx.books.list_mailboxes().await.unwrap();
    assert_eq!(
        listed,
        [
            ("m1".to_owned(), "100".to_owned(), None),
            ("shared".to_owned(), "company".to_owned(), None),
        ]
    );
}

/// Conformance case: the mailbox-level state is saved and loaded with the folders the pages
/// wrote, and saving it leaves those folders alone.
pub async fn mailbox_state_round_trips(ctx: &Ctx<'_>) {
    let skipped = MailboxSyncState {
        mailbox_id: "m-none".into(),
        book: "105".into(),
        folder_link: None,
        folders: Vec::new(),
        skipped: Some("no mailbox (plan without Exchange)".into()),
        last_error: Some("404 MailboxNotEnabledForRESTAPI".into()),
        last_synced_at: Some(ts(T0)),
    };
    ctx.books.save_mailbox_state(&skipped).await.unwrap();
    assert_eq!(
        ctx.books.load_mailbox_state("m-none").await.unwrap(),
        Some(skipped.clone())
    );

    apply(ctx, &page("m1", folder("b", "lb", None), Vec::new(), &[])).await;
    apply(
        ctx,
        &page("m1", folder("a", "la", Some(9)), Vec::new(), &[]),
    )
    .await;
    let state = MailboxSyncState {
        mailbox_id: "m1".into(),
        book: "100".into(),
        folder_link: Some("folders-delta".into()),
        // Ignored by the save: folder states belong to the pages.
        folders: vec![folder("zzz", "ignored", None)],
        skipped: None,
        last_error: None,
        last_synced_at: Some(ts(T1)),
    };
    ctx.books.save_mailbox_state(&state).await.unwrap();
    let loaded = ctx.books.load_mailbox_state("m1").await.unwrap().unwrap();
    assert_eq!(
        loaded,
        MailboxSyncState {
            folders: vec![folder("a", "la", Some(9)), folder("b", "lb", None)],
            ..state.clone()
        }
    );

    // Saving again overwrites every mailbox-level field, clearing the ones now `None`.
    let cleared = MailboxSyncState {
        folder_link: None,
        last_synced_at: None,
        last_error: Some("throttled".into()),
        ..state
    };
    ctx.books.save_mailbox_state(&cleared).await.unwrap();
    let loaded = ctx.books.load_mailbox_state("m1").await.unwrap().unwrap();
    assert_eq!(loaded.folder_link, None);
    assert_eq!(loaded.last_synced_at, None);
    assert_eq!(loaded.last_error.as_deref(), Some("throttled"));
    assert_eq!(loaded.folders.len(), 2);
    assert_eq!(
        ctx.books.list_mailboxes().await.unwrap(),
        [
            (
                "m-none".to_owned(),
                "105".to_owned(),
                skipped.skipped.clone()
            ),
            ("m1".to_owned(), "100".to_owned(), None),
        ]
    );
    // No entry was written: no version moved.
    assert_eq!(version(ctx, &ext("100")).await, 0);
}

/// Conformance case: the same page twice is the same as once, and an upsert equal to the stored
/// entry (even with a newer time) neither rewrites it nor bumps the book's version.
pub async fn replaying_a_page_changes_nothing(ctx: &Ctx<'_>) {
    let a = PhonebookEntry {
        emails: vec!["ada@contoso.com".into()],
        phones: vec![PhoneNumber {
            kind: PhoneKind::Mobile,
            raw: "07700 900001".into(),
            e164: Some("+447700900001".into()),
        }],
        ..entry("m1", "a", "", ext("100"), "Ada Lovelace")
    };
    let b = entry("m1", "b", "", ext("100"), "Bob Babbage");
    let write = page(
        "m1",
        folder("", "l1", None),
        vec![a.clone(), b.clone()],
        &["gone"],
    );
    apply(ctx, &write).await;
    let once = walk(ctx, 100).await;
    apply(ctx, &write).await;
    assert_eq!(walk(ctx, 100).await, once);
    assert_eq!(version(ctx, &ext("100")).await, 1, "bumped once");

    // Read again later: same content, newer time, next link.
    let later = PhonebookEntry {
        updated_at: ts(T1),
        ..a.clone()
    };
    apply(
        ctx,
        &page("m1", folder("", "l2", None), vec![later], &["gone"]),
    )
    .await;
    assert_eq!(
        walk(ctx, 100).await,
        once,
        "an unchanged entry keeps its time"
    );
    assert_eq!(version(ctx, &ext("100")).await, 1);
    let state = ctx.books.load_mailbox_state("m1").await.unwrap().unwrap();
    assert_eq!(
        state.folders[0].link.as_deref(),
        Some("l2"),
        "the link moved on"
    );

    // A real change (a second number) is written and bumps once, also when replayed.
    let mut changed = a.clone();
    changed.phones.push(PhoneNumber {
        kind: PhoneKind::Home,
        raw: "01632 960001".into(),
        e164: Some("+441632960001".into()),
    });
    changed.updated_at = ts(T1);
    let write = page("m1", folder("", "l3", None), vec![changed.clone()], &[]);
    apply(ctx, &write).await;
    apply(ctx, &write).await;
    assert_eq!(version(ctx, &ext("100")).await, 2);
    assert_eq!(book(ctx, &ext("100")).await, [changed, b]);

    // A removal of something already gone changes nothing either.
    apply(
        ctx,
        &page(
            "m1",
            folder("", "l4", None),
            Vec::new(),
            &["gone", "a-typo"],
        ),
    )
    .await;
    assert_eq!(version(ctx, &ext("100")).await, 2);
}

/// Conformance case: a whole-folder round removes the folder's synced entries it did not return,
/// and nothing else: not other folders, not other mailboxes, not local entries.
pub async fn a_whole_folder_round_removes_what_it_did_not_see(ctx: &Ctx<'_>) {
    let b100 = ext("100");
    let in_a = |id: &str, name: &str| entry("m1", id, "A", b100.clone(), name);
    apply(
        ctx,
        &page(
            "m1",
            folder("A", "a-delta-1", None),
            vec![in_a("a1", "Ann"), in_a("a2", "Ben"), in_a("a3", "Cid")],
            &[],
        ),
    )
    .await;
    apply(
        ctx,
        &page(
            "m1",
            folder("B", "b-delta", None),
            vec![entry("m1", "b1", "B", b100.clone(), "Dee")],
            &[],
        ),
    )
    .await;
    apply(
        ctx,
        &page(
            "m2",
            folder("A", "m2-delta", None),
            vec![entry("m2", "x1", "A", ext("200"), "Eve")],
            &[],
        ),
    )
    .await;
    insert_local(ctx, "m1", "local-1", "A", &b100).await;
    assert_eq!(version(ctx, &b100).await, 2);

    // Round 7 over folder A: the first page returns a1 unchanged and a contact of folder A that
    // is a local entry here (it must stay local).
    let mut not_ours = in_a("local-1", "Overwritten?");
    not_ours.updated_at = ts(T1);
    apply(
        ctx,
        &page(
            "m1",
            folder("A", "a-next-1", Some(7)),
            vec![in_a("a1", "Ann"), not_ours],
            &[],
        ),
    )
    .await;
    assert_eq!(version(ctx, &b100).await, 2, "nothing changed yet");
    let state = ctx.books.load_mailbox_state("m1").await.unwrap().unwrap();
    let a = state.folders.iter().find(|f| f.folder_id == "A").unwrap();
    assert_eq!(a.full_round, Some(7));

    // The last page returns a2 changed and a new a4, and ends the round.
    let mut last = page(
        "m1",
        folder("A", "a-delta-2", Some(7)),
        vec![in_a("a2", "Ben Changed"), in_a("a4", "Fay")],
        &[],
    );
    last.finish_round = Some(7);
    apply(ctx, &last).await;

    assert_eq!(
        ids(ctx, &b100).await,
        ["a1", "a2", "b1", "a4", "local-1"],
        "a3 was not seen; B and the local entry stay"
    );
    let local = book(ctx, &b100)
        .await
        .into_iter()
        .find(|e| e.contact_id == "local-1")
        .unwrap();
    assert_eq!(local.origin, EntryOrigin::Local);
    assert_eq!(local.display_name, "Local One");
    assert_eq!(
        ids(ctx, &ext("200")).await,
        ["x1"],
        "another mailbox's folder A"
    );
    assert_eq!(version(ctx, &b100).await, 3, "one bump for the last page");
    let state = ctx.books.load_mailbox_state("m1").await.unwrap().unwrap();
    let a = state.folders.iter().find(|f| f.folder_id == "A").unwrap();
    assert_eq!(a.full_round, None, "the round is over");
    assert_eq!(a.link.as_deref(), Some("a-delta-2"));

    // Replaying the last page changes nothing; a delta page keeps the round numbers, so the
    // next round still only removes what it does not see.
    apply(ctx, &last).await;
    assert_eq!(version(ctx, &b100).await, 3);
    apply(
        ctx,
        &page(
            "m1",
            folder("A", "a-delta-3", None),
            vec![in_a("a5", "Gus")],
            &[],
        ),
    )
    .await;
    let mut round8 = page(
        "m1",
        folder("A", "a-delta-4", Some(8)),
        vec![in_a("a1", "Ann"), in_a("a5", "Gus")],
        &[],
    );
    round8.finish_round = Some(8);
    apply(ctx, &round8).await;
    assert_eq!(ids(ctx, &b100).await, ["a1", "b1", "a5", "local-1"]);

    // A round that returns nothing empties the folder of synced entries.
    let mut empty = page("m1", folder("A", "a-delta-5", None), Vec::new(), &[]);
    empty.finish_round = Some(9);
    apply(ctx, &empty).await;
    assert_eq!(ids(ctx, &b100).await, ["b1", "local-1"]);
}

/// Conformance case: an upsert moves an entry to another folder or book (bumping both books),
/// and a late removal from the old folder does not remove the moved entry.
pub async fn entries_move_between_folders_and_books(ctx: &Ctx<'_>) {
    let c_in = |folder: &str, b: Book| entry("m1", "c", folder, b, "Cat Moves");
    apply(
        ctx,
        &page(
            "m1",
            folder("A", "a1", None),
            vec![c_in("A", ext("100"))],
            &[],
        ),
    )
    .await;
    apply(
        ctx,
        &page(
            "m1",
            folder("B", "b1", None),
            vec![c_in("B", ext("100"))],
            &[],
        ),
    )
    .await;
    assert_eq!(book(ctx, &ext("100")).await, [c_in("B", ext("100"))]);
    assert_eq!(version(ctx, &ext("100")).await, 2, "a move is a change");

    // Folder A's delta reports the contact removed (moved out) after B's page was applied.
    apply(
        ctx,
        &page("m1", folder("A", "a2", None), Vec::new(), &["c"]),
    )
    .await;
    assert_eq!(book(ctx, &ext("100")).await, [c_in("B", ext("100"))]);
    assert_eq!(version(ctx, &ext("100")).await, 2);

    // The user's number changed: the entry moves to the new book, both versions move.
    let mut to_101 = page(
        "m1",
        folder("B", "b2", None),
        vec![c_in("B", ext("101"))],
        &[],
    );
    to_101.book = ext("101");
    apply(ctx, &to_101).await;
    assert_eq!(book(ctx, &ext("100")).await, []);
    assert_eq!(book(ctx, &ext("101")).await, [c_in("B", ext("101"))]);
    assert_eq!(version(ctx, &ext("100")).await, 3);
    assert_eq!(version(ctx, &ext("101")).await, 1);
    let listed = ctx.books.list_mailboxes().await.unwrap();
    assert_eq!(listed, [("m1".to_owned(), "101".to_owned(), None)]);

    // A removal from the folder it is in does remove it; an id upserted and removed by the
    // same page is kept.
    apply(
        ctx,
        &page("m1", folder("B", "b3", None), Vec::new(), &["c"]),
    )
    .await;
    assert_eq!(book(ctx, &ext("101")).await, []);
    assert_eq!(version(ctx, &ext("101")).await, 2);
    let mut both = page(
        "m1",
        folder("B", "b4", None),
        vec![c_in("B", ext("101"))],
        &["c"],
    );
    both.book = ext("101");
    apply(ctx, &both).await;
    assert_eq!(ids(ctx, &ext("101")).await, ["c"]);

    // An upsert naming another mailbox is refused before anything is written.
    let mut wrong = page(
        "m1",
        folder("B", "b5", None),
        vec![entry("m2", "d", "B", ext("101"), "Dan")],
        &[],
    );
    wrong.book = ext("101");
    assert!(ctx.books.apply_phonebook_write(&wrong).await.is_err());
    let state = ctx.books.load_mailbox_state("m1").await.unwrap().unwrap();
    let b = state.folders.iter().find(|f| f.folder_id == "B").unwrap();
    assert_eq!(b.link.as_deref(), Some("b4"));
    assert_eq!(ctx.books.load_mailbox_state("m2").await.unwrap(), None);
}

/// Conformance case: removing a folder or a mailbox removes its synced entries and state, keeps
/// local entries and bumps the books that lost entries.
pub async fn remove_folder_and_mailbox(ctx: &Ctx<'_>) {
    let b = ext("100");
    apply(
        ctx,
        &page(
            "m1",
            folder("A", "la", None),
            vec![
                entry("m1", "a1", "A", b.clone(), "Ann"),
                entry("m1", "a2", "A", b.clone(), "Ben"),
            ],
            &[],
        ),
    )
    .await;
    apply(
        ctx,
        &page(
            "m1",
            folder("B", "lb", None),
            vec![entry("m1", "b1", "B", b.clone(), "Cid")],
            &[],
        ),
    )
    .await;
    apply(
        ctx,
        &page(
            "shared",
            folder("", "ls", None),
            vec![entry("shared", "s1", "", Book::Company, "Desk")],
            &[],
        ),
    )
    .await;
    insert_local(ctx, "m1", "local-1", "A", &b).await;
    assert_eq!(version(ctx, &b).await, 2);

    assert_eq!(ctx.books.remove_folder("m1", "A").await.unwrap(), 2);
    assert_eq!(ids(ctx, &b).await, ["b1", "local-1"]);
    assert_eq!(version(ctx, &b).await, 3);
    let state = ctx.books.load_mailbox_state("m1").await.unwrap().unwrap();
    let folders: Vec<&str> = state.folders.iter().map(|f| f.folder_id.as_str()).collect();
    assert_eq!(folders, ["B"]);
    // Again, or an unknown folder: nothing to do, no bump.
    assert_eq!(ctx.books.remove_folder("m1", "A").await.unwrap(), 0);
    assert_eq!(ctx.books.remove_folder("nobody", "A").await.unwrap(), 0);
    assert_eq!(version(ctx, &b).await, 3);

    assert_eq!(ctx.books.remove_mailbox("m1").await.unwrap(), 1);
    assert_eq!(ids(ctx, &b).await, ["local-1"], "local entries are kept");
    assert_eq!(version(ctx, &b).await, 4);
    assert_eq!(ctx.books.load_mailbox_state("m1").await.unwrap(), None);
    assert_eq!(
        ctx.books.list_mailboxes().await.unwrap(),
        [("shared".to_owned(), "company".to_owned(), None)]
    );
    assert_eq!(ids(ctx, &Book::Company).await, ["s1"]);
    assert_eq!(version(ctx, &Book::Company).await, 1);
    assert_eq!(ctx.books.remove_mailbox("m1").await.unwrap(), 0);
    assert_eq!(version(ctx, &b).await, 4);

    // The mailbox can be synced again from scratch.
    apply(
        ctx,
        &page(
            "m1",
            folder("A", "la2", None),
            vec![entry("m1", "a1", "A", b.clone(), "Ann")],
            &[],
        ),
    )
    .await;
    assert_eq!(ids(ctx, &b).await, ["a1", "local-1"]);
}

/// Conformance case: searching a book by names, company, emails and numbers (every word,
/// case-insensitive, wildcards literal), in display order, with limit and offset.
pub async fn search_and_paging_of_a_book(ctx: &Ctx<'_>) {
    let b = ext("100");
    let mut emile = entry("m1", "e", "", b.clone(), "Émile Zola");
    emile.company = "Les Éditions".into();
    emile.emails = vec!["E.Zola@Example.FR".into()];
    emile.phones = vec![PhoneNumber {
        kind: PhoneKind::Business,
        raw: "01 42 68 53 00".into(),
        e164: Some("+33142685300".into()),
    }];
    let mut ada = entry("m1", "a", "", b.clone(), "Ada Lovelace");
    ada.company = "Analytical 100% Engines".into();
    ada.department = "Mathematics".into();
    let mut ada2 = entry("m1", "a0", "", b.clone(), "Ada Lovelace");
    ada2.job_title = "Countess".into();
    let bob = entry("m1", "b", "", b.clone(), "bob lowercase");
    let other = entry("m2", "o", "", ext("200"), "Ada Elsewhere");
    apply(
        ctx,
        &page(
            "m1",
            folder("", "l", None),
            vec![emile, ada, ada2, bob],
            &[],
        ),
    )
    .await;
    apply(ctx, &page("m2", folder("", "l", None), vec![other], &[])).await;

    let search = async |q: &str| -> Vec<String> {
        let query = PhonebookQuery {
            search: Some(q.into()),
            limit: 100,
            offset: 0,
        };
        let found = ctx.books.phonebook(&b, &query).await.unwrap();
        found.into_iter().map(|e| e.contact_id).collect()
    };
    // Display name (bytewise, so "É" sorts after "b"), then contact id.
    assert_eq!(ids(ctx, &b).await, ["a", "a0", "b", "e"]);
    assert_eq!(search("").await, ["a", "a0", "b", "e"]);
    assert_eq!(search("   ").await, ["a", "a0", "b", "e"]);
    assert_eq!(search("ada").await, ["a", "a0"], "not the other book's Ada");
    assert_eq!(search("LOVELACE ada").await, ["a", "a0"]);
    assert_eq!(search("ada engines").await, ["a"], "every word must match");
    assert_eq!(search("émile").await, ["e"]);
    assert_eq!(search("ÉMILE").await, ["e"], "non-ASCII case folds too");
    assert_eq!(search("éditions").await, ["e"]);
    assert_eq!(search("zola@example.fr").await, ["e"]);
    assert_eq!(search("+3314268").await, ["e"], "E.164");
    assert_eq!(search("42 68").await, ["e"], "the number as written");
    assert_eq!(
        search("0142685300").await,
        ["e"],
        "the digits of the number"
    );
    assert_eq!(search("100%").await, ["a"]);
    assert_eq!(search("l%e").await, Vec::<String>::new(), "% is literal");
    assert_eq!(search("l_v").await, Vec::<String>::new(), "_ is literal");
    assert_eq!(
        search("zola éditions").await,
        ["e"],
        "words may match different fields"
    );
    assert_eq!(
        search("mathematics").await,
        Vec::<String>::new(),
        "department is not searched"
    );
    assert_eq!(
        search("countess").await,
        Vec::<String>::new(),
        "job title is not searched"
    );

    let paged = |limit: u32, offset: u32| PhonebookQuery {
        search: None,
        limit,
        offset,
    };
    let page_ids = async |q: PhonebookQuery| -> Vec<String> {
        let found = ctx.books.phonebook(&b, &q).await.unwrap();
        found.into_iter().map(|e| e.contact_id).collect()
    };
    assert_eq!(page_ids(paged(2, 0)).await, ["a", "a0"]);
    assert_eq!(page_ids(paged(2, 2)).await, ["b", "e"]);
    assert_eq!(page_ids(paged(2, 4)).await, Vec::<String>::new());
    assert_eq!(page_ids(paged(0, 0)).await, Vec::<String>::new());
    let ada_page = PhonebookQuery {
        search: Some("ada".into()),
        limit: 1,
        offset: 1,
    };
    assert_eq!(page_ids(ada_page).await, ["a0"]);
    assert_eq!(ctx.books.count_phonebook(&b).await.unwrap(), 4);
    assert_eq!(ctx.books.count_phonebook(&ext("200")).await.unwrap(), 1);
    assert_eq!(ctx.books.count_phonebook(&ext("999")).await.unwrap(), 0);
}

/// Conformance case: keyset pages over every book see every entry exactly once, in
/// (mailbox, contact) order, whatever the page size.
pub async fn keyset_pages_cover_every_entry_once(ctx: &Ctx<'_>) {
    assert_eq!(walk(ctx, 10).await, []);
    let mut expected = Vec::new();
    for (m, mailbox) in ["m-b", "m-a", "M-c"].into_iter().enumerate() {
        let b = if m == 0 {
            Book::Company
        } else {
            ext(&format!("10{m}"))
        };
        let entries: Vec<PhonebookEntry> = (0..250)
            .map(|i| {
                entry(
                    mailbox,
                    &format!("c{i:03}"),
                    "",
                    b.clone(),
                    &format!("Person {i}"),
                )
            })
            .collect();
        for chunk in entries.chunks(100) {
            let mut write = page(mailbox, folder("", "l", None), chunk.to_vec(), &[]);
            write.book = b.clone();
            apply(ctx, &write).await;
        }
        expected.extend(entries);
    }
    insert_local(ctx, "m-a", "c100x", "", &ext("102")).await;
    // Bytewise order on both engines: "M-c" < "m-a" < "m-b".
    expected.sort_by(|a, b| (&a.mailbox_id, &a.contact_id).cmp(&(&b.mailbox_id, &b.contact_id)));
    for size in [1, 7, 100, 750, 1000] {
        let walked = walk(ctx, size).await;
        assert_eq!(walked.len(), 751, "page size {size}");
        let keys: Vec<(&str, &str)> = walked
            .iter()
            .map(|e| (e.mailbox_id.as_str(), e.contact_id.as_str()))
            .collect();
        let mut sorted = keys.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(keys, sorted, "ordered, no repeats (page size {size})");
        let synced: Vec<PhonebookEntry> = walked
            .into_iter()
            .filter(|e| e.origin == EntryOrigin::Outlook)
            .collect();
        assert_eq!(synced, expected);
    }
    let first = ctx.books.phonebook_entries_page(None, 2).await.unwrap();
    assert_eq!(
        (first[0].mailbox_id.as_str(), first[0].contact_id.as_str()),
        ("M-c", "c000")
    );
    let after_last = ctx
        .books
        .phonebook_entries_page(Some(("m-b", "c249")), 10)
        .await
        .unwrap();
    assert_eq!(after_last, []);
    let from_gap = ctx
        .books
        .phonebook_entries_page(Some(("m-a", "c1000")), 2)
        .await
        .unwrap();
    let keys: Vec<&str> = from_gap.iter().map(|e| e.contact_id.as_str()).collect();
    assert_eq!(
        keys,
        ["c100x", "c101"],
        "a key that is not stored works too"
    );
}

/// Conformance case: an extension's phonebook secret (a SHA-256) is set, replaced, read and
/// revoked; an unknown extension has none and gets none.
pub async fn phonebook_secrets(ctx: &Ctx<'_>) {
    let h1 = "a".repeat(64);
    let h2 = format!("{}{}", "0123456789abcdef".repeat(3), "fedcba9876543210");
    assert!(
        !ctx.books
            .set_phonebook_secret("200", Some(&h1))
            .await
            .unwrap()
    );
    assert!(!ctx.books.set_phonebook_secret("200", None).await.unwrap());
    assert_eq!(ctx.books.phonebook_secret("200").await.unwrap(), None);

    ctx.ext
        .create_local_extension("200", &fields("Ada"), "admin:alice", ts(T0))
        .await
        .unwrap();
    assert_eq!(ctx.books.phonebook_secret("200").await.unwrap(), None);
    assert!(
        ctx.books
            .set_phonebook_secret("200", Some(&h1))
            .await
            .unwrap()
    );
    assert_eq!(
        ctx.books.phonebook_secret("200").await.unwrap(),
        Some(h1.clone())
    );
    assert!(
        ctx.books
            .set_phonebook_secret("200", Some(&h2))
            .await
            .unwrap()
    );
    assert_eq!(
        ctx.books.phonebook_secret("200").await.unwrap(),
        Some(h2.clone())
    );
    // Not a lower-case hex SHA-256 (a password passed by mistake): refused, nothing changes.
    let err = ctx
        .books
        .set_phonebook_secret("200", Some("hunter2"))
        .await
        .unwrap_err();
    assert!(!err.to_string().contains("hunter2"));
    assert!(
        ctx.books
            .set_phonebook_secret("200", Some(&h1.to_uppercase()))
            .await
            .is_err()
    );
    assert_eq!(
        ctx.books.phonebook_secret("200").await.unwrap(),
        Some(h2.clone())
    );

    assert!(ctx.books.set_phonebook_secret("200", None).await.unwrap());
    assert_eq!(ctx.books.phonebook_secret("200").await.unwrap(), None);
    assert!(
        ctx.books.set_phonebook_secret("200", None).await.unwrap(),
        "already revoked"
    );

    // Deleting the extension takes its secret with it.
    assert!(
        ctx.books
            .set_phonebook_secret("200", Some(&h1))
            .await
            .unwrap()
    );
    assert!(
        ctx.ext
            .delete_extension("200", "admin:alice", ts(T1))
            .await
            .unwrap()
    );
    assert_eq!(ctx.books.phonebook_secret("200").await.unwrap(), None);
    ctx.ext
        .create_local_extension("200", &fields("Ada"), "admin:alice", ts(T1))
        .await
        .unwrap();
    assert_eq!(ctx.books.phonebook_secret("200").await.unwrap(), None);
}

/// Makes inserting the contact `boom` fail inside the database, like a disk or constraint error
/// in the middle of a page would.
async fn fail_inserts_of_boom(ctx: &Ctx<'_>) {
    let mut conn = ctx.raw().await;
    let sql = match ctx.engine() {
        Engine::Sqlite => {
            "CREATE TRIGGER phonebook_boom BEFORE INSERT ON phonebook_entries \
             WHEN NEW.contact_id = 'boom' BEGIN SELECT RAISE(ABORT, 'boom'); END;"
        }
        Engine::Postgres => {
            "CREATE FUNCTION phonebook_boom() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN IF NEW.contact_id = 'boom' THEN RAISE EXCEPTION 'boom'; END IF; \
             RETURN NEW; END $$; \
             CREATE TRIGGER phonebook_boom BEFORE INSERT ON phonebook_entries \
             FOR EACH ROW EXECUTE FUNCTION phonebook_boom();"
        }
    };
    sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
}

/// Conformance case: a page that fails midway (after its removals, in its inserts) leaves
/// nothing of itself: no entry, no removal, no folder link, no finished round, no version, no
/// new mailbox.
pub async fn a_failed_write_leaves_nothing_half_written(ctx: &Ctx<'_>) {
    let b = ext("100");
    let in_a = |id: &str, name: &str| entry("m1", id, "A", b.clone(), name);
    apply(
        ctx,
        &page(
            "m1",
            folder("A", "l1", Some(4)),
            vec![in_a("x", "Xan"), in_a("y", "Yul")],
            &[],
        ),
    )
    .await;
    let before = walk(ctx, 100).await;
    let state_before = ctx.books.load_mailbox_state("m1").await.unwrap();
    assert_eq!(version(ctx, &b).await, 1);
    fail_inserts_of_boom(ctx).await;

    // Removes x, changes y, adds z and boom (which fails), ends the round (would remove nothing
    // else), moves the link on.
    let mut failing = page(
        "m1",
        folder("A", "l2", Some(4)),
        vec![
            in_a("y", "Yul Changed"),
            in_a("z", "Zed"),
            in_a("boom", "Boom"),
        ],
        &["x"],
    );
    failing.finish_round = Some(4);
    assert!(ctx.books.apply_phonebook_write(&failing).await.is_err());
    assert_eq!(walk(ctx, 100).await, before);
    assert_eq!(
        ctx.books.load_mailbox_state("m1").await.unwrap(),
        state_before
    );
    assert_eq!(version(ctx, &b).await, 1);

    // The first page of a new mailbox failing leaves no trace of the mailbox.
    let first = page(
        "m2",
        folder("", "m2-l1", None),
        vec![entry("m2", "boom", "", ext("200"), "Boom")],
        &[],
    );
    assert!(ctx.books.apply_phonebook_write(&first).await.is_err());
    assert_eq!(ctx.books.load_mailbox_state("m2").await.unwrap(), None);
    assert_eq!(version(ctx, &ext("200")).await, 0);
    assert_eq!(ctx.books.list_mailboxes().await.unwrap().len(), 1);

    // Without the failing contact the same page goes through.
    failing.upserts.pop();
    apply(ctx, &failing).await;
    assert_eq!(ids(ctx, &b).await, ["y", "z"]);
    assert_eq!(version(ctx, &b).await, 2);
    let state = ctx.books.load_mailbox_state("m1").await.unwrap().unwrap();
    assert_eq!(state.folders[0].link.as_deref(), Some("l2"));
    assert_eq!(state.folders[0].full_round, None);
}
