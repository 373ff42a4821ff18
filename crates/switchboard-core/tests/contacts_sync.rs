#![allow(clippy::unwrap_used)] // test code: a panic is the failure report
//! Contact sync runs against in-memory ports: an Outlook model with a change log, a phonebook
//! store with the SQL store's rules, extensions and a clock.

mod contacts_fakes;

use contacts_fakes::{World, contact};
use proptest::prelude::*;
use std::collections::BTreeSet;
use switchboard_core::contacts::*;
use switchboard_core::users::{RunCounts, RunMode, RunRequest, Scope};

const ADA: &str = "11111111-1111-4111-8111-111111111111";
const BOB: &str = "22222222-2222-4222-8222-222222222222";
const CAROL: &str = "33333333-3333-4333-8333-333333333333";
const SHARED: &str = "contacts@contoso.com";

fn run() -> RunRequest {
    RunRequest {
        full: false,
        dry_run: false,
        actor: "sync:contacts".into(),
    }
}

fn full() -> RunRequest {
    RunRequest {
        full: true,
        ..run()
    }
}

fn dry() -> RunRequest {
    RunRequest {
        dry_run: true,
        ..run()
    }
}

fn personal(n: &str) -> Book {
    Book::Extension(n.into())
}

/// Ada (GB) with nested folders, Bob (DE) with a few contacts, Carol without a mailbox.
fn world(page_size: usize) -> World {
    let w = World::new(page_size);
    w.extensions.add("101", Some(ADA), "Ada Lovelace", "GB");
    w.extensions.add("102", Some(BOB), "Bob Berlin", "DE");
    w.extensions.add("103", Some(CAROL), "Carol Nomail", "");
    w.extensions.add("200", None, "Reception", "");
    let o = &w.outlook;
    o.add_mailbox(ADA);
    o.add_folder(ADA, "fa", "Suppliers", None);
    o.add_folder(ADA, "fb", "Plumbers", Some("fa"));
    o.add_folder(ADA, "fc", "Emergency", Some("fb"));
    o.add_folder(ADA, "fd", "Empty", None);
    o.put_contact(ADA, "", contact("a1", "Anne Default", "020 7946 0001"));
    o.put_contact(ADA, "", contact("a2", "Art Default", "07700 900002"));
    o.put_contact(ADA, "fa", contact("a3", "Acme Supplies", "+49 30 1234567"));
    o.put_contact(ADA, "fb", contact("a4", "Pipe & Co", "020 7946 0004"));
    o.put_contact(ADA, "fb", contact("a5", "Drip Ltd", "020 7946 0005"));
    o.put_contact(ADA, "fc", contact("a6", "Night Plumber", "020 7946 0006"));
    o.put_contact(ADA, "fc", contact("a7", "No Number", "ask"));
    o.add_mailbox(BOB);
    o.put_contact(BOB, "", contact("b1", "Mutti", "030 7654321"));
    o.put_contact(BOB, "", contact("b2", "Ada at work", "+44 20 7946 0001"));
    o.add_folder(BOB, "bf", "Work", None);
    o.put_contact(BOB, "bf", contact("b3", "Kollege", "0171 1234567"));
    w
}

fn in_scope() -> Vec<(&'static str, Book, &'static str)> {
    vec![(ADA, personal("101"), "GB"), (BOB, personal("102"), "DE")]
}

fn assert_synced(w: &World, mailboxes: &[(&str, Book, &str)]) {
    let want = w.expected(mailboxes);
    let got = w.synced();
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "which entries are stored"
    );
    assert_eq!(got, want, "the stored entries");
    w.assert_index_agrees();
    let ids: Vec<&str> = mailboxes.iter().map(|(m, _, _)| *m).collect();
    w.assert_rounds_ended(&ids);
}

fn counts(created: u64, updated: u64, removed: u64, skipped: u64) -> RunCounts {
    RunCounts {
        created,
        updated,
        removed,
        skipped,
        ..RunCounts::default()
    }
}

#[tokio::test]
async fn first_run_fills_each_phonebook_from_every_folder() {
    let w = world(2);
    let out = w.sync.run(run()).await.unwrap();
    assert_synced(&w, &in_scope());
    assert_eq!(out.run.kind, "contacts");
    assert_eq!(out.run.mode, RunMode::Delta);
    assert_eq!(out.run.counts, counts(10, 0, 0, 1));
    assert_eq!(out.run.processed, 3);
    assert!(out.run.error.is_none());
    // Nested folders are in Ada's book, with their numbers normalised in her region.
    let book = w.synced();
    let a6 = &book[&(ADA.to_owned(), "a6".to_owned())];
    assert_eq!(a6.folder_id, "fc");
    assert_eq!(a6.book, personal("101"));
    assert_eq!(a6.phones[0].e164.as_deref(), Some("+442079460006"));
    // Bob's national numbers are German.
    let b1 = &book[&(BOB.to_owned(), "b1".to_owned())];
    assert_eq!(b1.phones[0].e164.as_deref(), Some("+49307654321"));
    // Caller ID: the callee's own book first.
    let hit = w.index.lookup("+442079460001", Some("102")).unwrap();
    assert_eq!(
        (hit.name.as_str(), hit.source),
        ("Ada at work", LookupSource::Phonebook)
    );
    let hit = w.index.lookup("020 7946 0006", Some("101")).unwrap();
    assert_eq!(hit.name, "Night Plumber");
    // The run is recorded.
    let runs = w.extensions.runs.lock().unwrap().clone();
    assert_eq!(runs.len(), 1);
    assert!(runs[0].finished_at.is_some());
    assert_eq!(runs[0].counts, out.run.counts);
    let status = w.sync.status().await.unwrap();
    assert_eq!(status.last_run.unwrap().id, out.run.id);
    assert!(status.running.is_none());
}

#[tokio::test]
async fn a_second_run_without_changes_writes_nothing() {
    let w = world(2);
    w.sync.run(run()).await.unwrap();
    w.store.reset_counters();
    w.outlook.take_reads();
    let out = w.sync.run(run()).await.unwrap();
    assert_eq!(out.run.counts, counts(0, 0, 0, 1));
    let s = w.store.state.lock().unwrap();
    assert_eq!(s.writes, 0, "no page, folder or mailbox written");
    drop(s);
    // One folder-tree read per mailbox, one contacts read per folder, one read for Carol.
    let (reads, _) = w.outlook.take_reads();
    let mut per: Vec<String> = reads
        .iter()
        .filter(|r| r.mailbox() != CAROL)
        .map(|r| match r {
            MailboxRead::FolderDelta { mailbox, link } => {
                assert!(link.is_some(), "the tree goes on from its deltaLink");
                format!("{mailbox} tree")
            }
            MailboxRead::ContactsDelta {
                mailbox,
                folder,
                link,
            } => {
                assert!(link.is_some(), "every folder goes on from its deltaLink");
                format!("{mailbox} {folder}")
            }
        })
        .collect();
    per.sort();
    let mut want: Vec<String> = [
        format!("{ADA} tree"),
        format!("{ADA} "),
        format!("{ADA} fa"),
        format!("{ADA} fb"),
        format!("{ADA} fc"),
        format!("{ADA} fd"),
        format!("{BOB} tree"),
        format!("{BOB} "),
        format!("{BOB} bf"),
    ]
    .into();
    want.sort();
    assert_eq!(per, want);
    assert_synced(&w, &in_scope());
}

#[tokio::test]
async fn changes_moves_and_deletions_are_reflected_exactly() {
    let w = world(2);
    w.sync.run(run()).await.unwrap();
    let o = &w.outlook;
    // Added, changed, deleted, moved (to a nested folder and to the default folder).
    o.put_contact(ADA, "fb", contact("a8", "New Plumber", "020 7946 0008"));
    o.put_contact(ADA, "", contact("a1", "Anne Renamed", "020 7946 0011"));
    o.delete_contact(ADA, "a2");
    o.put_contact(ADA, "fc", contact("a3", "Acme Supplies", "+49 30 1234567"));
    o.put_contact(ADA, "", contact("a5", "Drip Ltd", "020 7946 0005"));
    o.rename_folder(ADA, "fa", "Vendors");
    o.put_contact(BOB, "bf", contact("b1", "Mutti", "030 7654321"));
    let out = w.sync.run(run()).await.unwrap();
    assert_synced(&w, &in_scope());
    // a8 created; a1 changed; a3, a5, b1 moved; a2 removed.
    assert_eq!(out.run.counts, counts(1, 4, 1, 1));
    assert_eq!(w.index.lookup("07700 900002", Some("101")), None);
    assert_eq!(
        w.index.lookup("020 7946 0011", Some("101")).unwrap().name,
        "Anne Renamed"
    );
    // The renamed folder's name is kept.
    let state = w.store.state.lock().unwrap();
    let fa = &state.folders[&(ADA.to_owned(), "fa".to_owned())];
    assert_eq!(fa.display_name, "Vendors");
}

#[tokio::test]
async fn a_deleted_folder_takes_its_entries_along() {
    let w = world(2);
    w.sync.run(run()).await.unwrap();
    // fb holds fc: both go, with a4, a5, a6, a7.
    w.outlook.delete_folder(ADA, "fb");
    let out = w.sync.run(run()).await.unwrap();
    assert_synced(&w, &in_scope());
    assert_eq!(out.run.counts, counts(0, 0, 4, 1));
    let state = w.store.state.lock().unwrap();
    let folders: BTreeSet<&str> = state
        .folders
        .keys()
        .filter(|(m, _)| m == ADA)
        .map(|(_, f)| f.as_str())
        .collect();
    assert_eq!(folders, ["", "fa", "fd"].into());
}

#[tokio::test]
async fn a_user_without_a_mailbox_is_skipped_with_the_reason() {
    let w = world(3);
    let out = w.sync.run(run()).await.unwrap();
    assert_eq!(out.run.counts.skipped, 1);
    assert!(out.run.error.is_none());
    let skipped = w.sync.skipped().await.unwrap();
    assert_eq!(
        skipped,
        vec![SkippedMailbox {
            mailbox_id: CAROL.into(),
            extension: Some("103".into()),
            name: "Carol Nomail".into(),
            reason: "no mailbox (plan without Exchange)".into(),
        }]
    );
    // Skipping again writes nothing; once the mailbox exists it is synced.
    w.store.reset_counters();
    w.sync.run(run()).await.unwrap();
    assert_eq!(w.store.state.lock().unwrap().writes, 0);
    w.outlook.add_mailbox(CAROL);
    w.outlook
        .put_contact(CAROL, "", contact("c1", "Carol's Friend", "020 7946 0100"));
    let out = w.sync.run(run()).await.unwrap();
    assert_eq!(out.run.counts, counts(1, 0, 0, 0));
    assert!(w.sync.skipped().await.unwrap().is_empty());
    let mut scope = in_scope();
    scope.push((CAROL, personal("103"), "GB"));
    assert_synced(&w, &scope);
}

#[tokio::test]
async fn leaving_the_scope_removes_the_book_but_not_local_entries() {
    let w = world(2);
    w.sync.run(run()).await.unwrap();
    let mut local = phone::entry_from_contact(
        &contact("l1", "Local Pizza", "020 7946 0999"),
        personal("101"),
        "local",
        "",
        "GB",
        jiff::Timestamp::UNIX_EPOCH,
    );
    local.origin = EntryOrigin::Local;
    // Whoever makes a local entry indexes it.
    w.index.upsert(&local);
    w.store.insert_local(local);
    w.extensions.set_config(&ContactSyncConfig {
        default_region: "GB".into(),
        scope: Scope::AllExcept([ADA.to_owned()].into()),
        ..ContactSyncConfig::default()
    });
    let out = w.sync.run(run()).await.unwrap();
    assert_eq!(out.run.counts, counts(0, 0, 7, 1));
    assert_synced(&w, &[(BOB, personal("102"), "DE")]);
    {
        let state = w.store.state.lock().unwrap();
        assert!(!state.mailboxes.contains_key(ADA));
        let local = ("local".to_owned(), "l1".to_owned());
        assert!(state.entries.contains_key(&local));
    }
    assert_eq!(w.index.lookup("020 7946 0006", Some("101")), None);
    // A deleted extension goes the same way.
    w.extensions.remove("102");
    w.sync.run(run()).await.unwrap();
    assert_synced(&w, &[]);
}

#[tokio::test]
async fn group_scope_and_company_mailboxes() {
    let w = world(2);
    let group = "44444444-4444-4444-8444-444444444444";
    w.directory
        .groups
        .lock()
        .unwrap()
        .insert(group.into(), vec![BOB.into()]);
    w.outlook.add_mailbox(SHARED);
    w.outlook
        .put_contact(SHARED, "", contact("s1", "Taxi", "020 7946 0500"));
    w.extensions.set_config(&ContactSyncConfig {
        default_region: "GB".into(),
        scope: Scope::Groups([group.to_owned()].into()),
        company_mailboxes: vec![SHARED.into()],
        ..ContactSyncConfig::default()
    });
    let out = w.sync.run(run()).await.unwrap();
    assert_eq!(out.run.counts.created, 4);
    assert_synced(
        &w,
        &[(BOB, personal("102"), "DE"), (SHARED, Book::Company, "GB")],
    );
    let hit = w.index.lookup("020 7946 0500", Some("101")).unwrap();
    assert_eq!(
        (hit.name.as_str(), hit.source),
        ("Taxi", LookupSource::Company)
    );
    // Taken out of the settings: the company book empties.
    w.extensions.set_config(&ContactSyncConfig {
        default_region: "GB".into(),
        scope: Scope::Groups([group.to_owned()].into()),
        ..ContactSyncConfig::default()
    });
    w.sync.run(run()).await.unwrap();
    assert_synced(&w, &[(BOB, personal("102"), "DE")]);
    assert_eq!(w.index.lookup("020 7946 0500", None), None);
}

#[tokio::test]
async fn expired_tokens_restart_the_rounds_in_the_same_run() {
    let w = world(2);
    w.sync.run(run()).await.unwrap();
    w.outlook.expire_tokens();
    w.outlook.delete_contact(ADA, "a4");
    w.outlook.delete_folder(ADA, "fd");
    w.outlook
        .put_contact(BOB, "bf", contact("b4", "Neu", "0171 7654321"));
    let out = w.sync.run(run()).await.unwrap();
    assert!(out.run.error.is_none());
    assert_eq!(out.run.counts, counts(1, 0, 1, 1));
    assert_synced(&w, &in_scope());
    // The next run goes on from the new tokens.
    w.store.reset_counters();
    w.sync.run(run()).await.unwrap();
    assert_eq!(w.store.state.lock().unwrap().writes, 0);
}

#[tokio::test]
async fn a_full_run_repairs_what_deltas_missed() {
    let w = world(2);
    w.sync.run(run()).await.unwrap();
    w.outlook.vanish_contact(ADA, "a5");
    w.sync.run(run()).await.unwrap();
    assert!(w.synced().contains_key(&(ADA.to_owned(), "a5".to_owned())));
    let out = w.sync.run(full()).await.unwrap();
    assert_eq!(out.run.mode, RunMode::Full);
    assert_eq!(out.run.counts, counts(0, 0, 1, 1));
    assert_synced(&w, &in_scope());
    let status = w.sync.status().await.unwrap();
    assert_eq!(status.last_full_sync, Some(out.run.started_at));
}

#[tokio::test]
async fn a_failing_mailbox_is_recorded_and_the_others_go_on() {
    let w = world(2);
    w.sync.run(run()).await.unwrap();
    w.outlook.add_folder(ADA, "fe", "New", None);
    w.outlook
        .put_contact(ADA, "fe", contact("a9", "Fresh", "020 7946 0009"));
    w.outlook
        .put_contact(BOB, "", contact("b9", "Nachbar", "030 1111111"));
    // Ada's tree and default folder are read, then her first other folder fails.
    w.outlook.fail_read(ADA, 3);
    let err = w.sync.run(run()).await.unwrap_err();
    let message = err.to_string();
    assert!(
        message.starts_with("1 of 3 mailboxes could not be synced"),
        "{message}"
    );
    assert!(
        message.contains(ADA) && message.contains("unavailable"),
        "{message}"
    );
    let runs = w.extensions.runs.lock().unwrap().clone();
    assert_eq!(
        runs.last().unwrap().error.as_deref(),
        Some(message.as_str())
    );
    assert!(
        w.store.state.lock().unwrap().mailboxes[ADA]
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("unavailable"))
    );
    assert!(w.synced().contains_key(&(BOB.to_owned(), "b9".to_owned())));
    // The next run picks up what Ada's failed run left, the new folder included.
    w.sync.run(run()).await.unwrap();
    assert_synced(&w, &in_scope());
    assert_eq!(
        w.store.state.lock().unwrap().mailboxes[ADA].last_error,
        None
    );
}

#[tokio::test]
async fn a_dry_run_counts_and_writes_nothing() {
    let w = world(2);
    let out = w.sync.run(dry()).await.unwrap();
    assert_eq!(out.run.counts, counts(10, 0, 0, 1));
    assert_eq!(w.store.state.lock().unwrap().writes, 0);
    assert!(w.extensions.runs.lock().unwrap().is_empty());
    assert_eq!(w.index.len(), 0);
    w.sync.run(run()).await.unwrap();
    w.outlook.delete_contact(ADA, "a1");
    w.outlook.delete_folder(ADA, "fc");
    w.outlook.vanish_contact(BOB, "b3");
    w.store.reset_counters();
    let out = w.sync.run(dry()).await.unwrap();
    assert_eq!(out.run.counts, counts(0, 0, 3, 1));
    let out = w
        .sync
        .run(RunRequest {
            full: true,
            ..dry()
        })
        .await
        .unwrap();
    assert_eq!(out.run.counts, counts(0, 0, 4, 1));
    assert_eq!(w.store.state.lock().unwrap().writes, 0);
}

#[tokio::test]
async fn a_run_for_some_mailboxes_reads_only_those() {
    let w = world(2);
    w.sync.run(run()).await.unwrap();
    w.outlook
        .put_contact(BOB, "", contact("b9", "Nachbar", "030 1111111"));
    w.outlook
        .put_contact(ADA, "", contact("a9", "Not yet", "020 7946 0909"));
    w.outlook.take_reads();
    let out = w.sync.run_for_mailboxes(&[BOB.to_owned()]).await.unwrap();
    assert_eq!(out.run.counts, counts(1, 0, 0, 0));
    let (reads, _) = w.outlook.take_reads();
    assert!(reads.iter().all(|r| r.mailbox() == BOB));
    assert!(!w.synced().contains_key(&(ADA.to_owned(), "a9".to_owned())));
    w.assert_index_agrees();
}

#[tokio::test]
async fn the_index_is_rebuilt_from_the_store() {
    let w = world(2);
    w.sync.run(run()).await.unwrap();
    let sync = w.restarted();
    // A stale mailbox in the index goes.
    let stale = phone::entry_from_contact(
        &contact("x", "Stale", "020 7946 0777"),
        Book::Company,
        "gone",
        "",
        "GB",
        jiff::Timestamp::UNIX_EPOCH,
    );
    w.index.upsert(&stale);
    let n = sync.rebuild_index().await.unwrap();
    assert_eq!(n, 9, "every entry with a readable number");
    assert_eq!(w.index.lookup("020 7946 0777", None), None);
    w.assert_index_agrees();
}

#[tokio::test]
async fn many_mailboxes_go_in_waves_with_reads_batched_across_mailboxes() {
    let w = contacts_fakes::World::new(50);
    let n = WAVE + 30;
    for i in 0..n {
        let user = format!("00000000-0000-4000-8000-{i:012}");
        w.extensions.add(
            &format!("{}", 1000 + i),
            Some(&user),
            &format!("User {i}"),
            "GB",
        );
        w.outlook.add_mailbox(&user);
        w.outlook.put_contact(
            &user,
            "",
            contact(
                &format!("c{i}"),
                &format!("Friend {i}"),
                &format!("020 7946 {i:04}"),
            ),
        );
    }
    let out = w.sync.run(run()).await.unwrap();
    assert_eq!(out.run.counts.created, n as u64);
    assert_eq!(out.run.processed, n as u64);
    let (_, calls) = w.outlook.take_reads();
    assert!(calls.iter().all(|&c| c <= 200), "{calls:?}");
    assert!(calls.iter().any(|&c| c >= 2 * WAVE), "{calls:?}");
    assert_eq!(w.index.len(), n);
    w.assert_index_agrees();
}

#[tokio::test]
async fn invalid_settings_are_refused() {
    let w = world(2);
    let bad = ContactSyncConfig {
        default_region: "XX".into(),
        ..ContactSyncConfig::default()
    };
    let err = w.sync.save_config(&bad).await.unwrap_err();
    assert!(err.to_string().contains("default_region"), "{err}");
    let good = ContactSyncConfig {
        default_region: "DE".into(),
        ..ContactSyncConfig::default()
    };
    w.sync.save_config(&good).await.unwrap();
    assert_eq!(w.sync.config().await.unwrap().default_region, "DE");
    assert_eq!(w.index.default_region(), "DE");
}

/// Some changes between runs, for the crash tests.
fn change(w: &World) {
    let o = &w.outlook;
    o.put_contact(ADA, "fb", contact("a8", "New Plumber", "020 7946 0008"));
    o.put_contact(ADA, "", contact("a1", "Anne Renamed", "020 7946 0011"));
    o.delete_contact(ADA, "a2");
    o.put_contact(ADA, "fc", contact("a3", "Acme Supplies", "+49 30 1234567"));
    o.delete_folder(ADA, "fd");
    o.add_folder(ADA, "fe", "New", Some("fa"));
    o.put_contact(ADA, "fe", contact("a9", "Fresh", "020 7946 0009"));
    o.put_contact(BOB, "", contact("b3", "Kollege", "0171 1234567"));
    o.delete_contact(BOB, "b2");
}

/// Runs with the store failing at its `fail_at`th write, then runs again as a restarted
/// process: the end state is what an uninterrupted run gives, and stable. Returns whether the
/// failure happened.
async fn crash_then_rerun(page_size: usize, fail_at: usize, first: bool, full_rerun: bool) -> bool {
    let w = world(page_size);
    if !first {
        w.sync.run(run()).await.unwrap();
        change(&w);
    }
    let request = if full_rerun { full() } else { run() };
    w.store.fail_at(fail_at);
    let crashed = w.sync.run(request.clone()).await;
    w.store.state.lock().unwrap().fail_at = None;
    let sync = w.restarted();
    sync.rebuild_index().await.unwrap();
    sync.run(request).await.unwrap();
    assert_synced(&w, &in_scope());
    w.store.reset_counters();
    sync.run(run()).await.unwrap();
    assert_eq!(w.store.state.lock().unwrap().writes, 0, "a settled state");
    crashed.is_err()
}

#[tokio::test]
async fn a_crash_on_every_write_of_a_first_run_is_repaired_by_the_next() {
    let mut n = 1;
    while crash_then_rerun(2, n, true, false).await {
        n += 1;
    }
    assert!(n > 10, "a first run writes many times: {n}");
    for n in 1..30 {
        crash_then_rerun(1, n, false, false).await;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn a_crash_anywhere_ends_in_the_same_state(
        page_size in 1usize..4,
        fail_at in 1usize..40,
        first in any::<bool>(),
        full_rerun in any::<bool>(),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let crashed = rt.block_on(crash_then_rerun(page_size, fail_at, first, full_rerun));
        prop_assert!(crashed || fail_at > 10);
    }
}

/// Holds every read until let go.
#[derive(Debug)]
struct Gated {
    inner: std::sync::Arc<contacts_fakes::FakeOutlook>,
    gate: tokio::sync::Semaphore,
}

#[async_trait::async_trait]
impl switchboard_core::ports::MailboxSource for Gated {
    async fn read(
        &self,
        reads: Vec<MailboxRead>,
    ) -> Vec<Result<MailboxAnswer, switchboard_core::ports::MailboxError>> {
        self.gate.acquire().await.unwrap().forget();
        self.inner.read(reads).await
    }
}

#[tokio::test]
async fn one_run_at_a_time() {
    use std::sync::Arc;
    let w = world(2);
    let gated = Arc::new(Gated {
        inner: w.outlook.clone(),
        gate: tokio::sync::Semaphore::new(0),
    });
    let sync = Arc::new(ContactSync::new(
        w.extensions.clone(),
        w.store.clone(),
        gated.clone(),
        w.directory.clone(),
        w.index.clone(),
        Arc::new(contacts_fakes::TickingClock::default()),
        switchboard_core::users::FreshnessMode::Polling,
    ));
    let first = tokio::spawn({
        let sync = sync.clone();
        async move { sync.run(run()).await }
    });
    while !sync.is_running() {
        tokio::task::yield_now().await;
    }
    assert!(matches!(
        sync.run(run()).await,
        Err(ContactSyncError::AlreadyRunning)
    ));
    assert!(matches!(
        sync.run_for_mailboxes(&[ADA.to_owned()]).await,
        Err(ContactSyncError::AlreadyRunning)
    ));
    let status = sync.status().await.unwrap();
    assert!(status.running.is_some());
    gated.gate.add_permits(1_000);
    first.await.unwrap().unwrap();
    assert!(!sync.is_running());
    assert!(sync.status().await.unwrap().running.is_none());
    assert_synced(&w, &in_scope());
}

#[derive(Debug, Clone)]
enum Step {
    Put {
        mailbox: bool,
        folder: u8,
        contact: u8,
        name: u8,
    },
    Delete {
        mailbox: bool,
        contact: u8,
    },
    AddFolder {
        folder: u8,
        parent: u8,
    },
    DeleteFolder {
        folder: u8,
    },
    Expire,
    Sync {
        full: bool,
        crash_at: Option<usize>,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (any::<bool>(), 0u8..5, 0u8..8, 0u8..4)
            .prop_map(|(mailbox, folder, contact, name)| Step::Put { mailbox, folder, contact, name }),
        2 => (any::<bool>(), 0u8..8).prop_map(|(mailbox, contact)| Step::Delete { mailbox, contact }),
        1 => (1u8..5, 0u8..5).prop_map(|(folder, parent)| Step::AddFolder { folder, parent }),
        1 => (1u8..5).prop_map(|folder| Step::DeleteFolder { folder }),
        1 => Just(Step::Expire),
        3 => (any::<bool>(), proptest::option::weighted(0.3, 1usize..12))
            .prop_map(|(full, crash_at)| Step::Sync { full, crash_at }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Whatever happens in Outlook, and whenever a run crashes, the next complete run leaves
    /// the store and the index exactly as Outlook is.
    #[test]
    fn any_history_ends_in_step(page_size in 1usize..4, steps in proptest::collection::vec(step(), 1..25)) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let w = World::new(page_size);
            w.extensions.add("101", Some(ADA), "Ada", "GB");
            w.extensions.add("102", Some(BOB), "Bob", "DE");
            w.outlook.add_mailbox(ADA);
            w.outlook.add_mailbox(BOB);
            let scope = in_scope();
            let folder_id = |f: u8| if f == 0 { String::new() } else { format!("f{f}") };
            let mailbox = |m: bool| if m { ADA } else { BOB };
            for s in steps {
                match s {
                    Step::Put { mailbox: m, folder, contact: c, name } => {
                        let f = folder_id(folder);
                        let live = w.outlook.folder_ids(mailbox(m));
                        if f.is_empty() || live.contains(&f) {
                            w.outlook.put_contact(
                                mailbox(m),
                                &f,
                                contact(&format!("c{c}"), &format!("Name {name}"), &format!("020 7946 {c}{name:03}")),
                            );
                        }
                    }
                    Step::Delete { mailbox: m, contact: c } => {
                        let id = format!("c{c}");
                        if w.outlook.contents(mailbox(m)).iter().any(|(_, x)| x.id == id) {
                            w.outlook.delete_contact(mailbox(m), &id);
                        }
                    }
                    Step::AddFolder { folder, parent } => {
                        let f = folder_id(folder);
                        let p = folder_id(parent);
                        let live = w.outlook.folder_ids(ADA);
                        if !live.contains(&f) && f != p && (p.is_empty() || live.contains(&p)) {
                            w.outlook.add_folder(ADA, &f, &f, (!p.is_empty()).then_some(p.as_str()));
                        }
                    }
                    Step::DeleteFolder { folder } => {
                        let f = folder_id(folder);
                        if w.outlook.folder_ids(ADA).contains(&f) {
                            w.outlook.delete_folder(ADA, &f);
                        }
                    }
                    Step::Expire => w.outlook.expire_tokens(),
                    Step::Sync { full: f, crash_at } => {
                        let request = if f { full() } else { run() };
                        let preview = match crash_at {
                            Some(n) => {
                                w.store.fail_at(n);
                                let _ = w.sync.run(request.clone()).await;
                                w.store.state.lock().unwrap().fail_at = None;
                                None
                            }
                            None => {
                                w.store.reset_counters();
                                let dry = RunRequest { dry_run: true, ..request.clone() };
                                let counts = w.sync.run(dry).await.unwrap().run.counts;
                                assert_eq!(w.store.state.lock().unwrap().writes, 0, "a dry run writes nothing");
                                Some(counts)
                            }
                        };
                        let done = w.sync.run(request).await.unwrap();
                        assert_synced(&w, &scope);
                        if let Some(preview) = preview {
                            assert_eq!(preview, done.run.counts, "the dry run counted what the run did");
                        }
                    }
                }
            }
            w.sync.run(run()).await.unwrap();
            assert_synced(&w, &scope);
        });
    }
}
