//! Extensions written by user-sync batches, and what the API and a sync run read back.

use crate::{Ctx, ts};
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use switchboard_core::ports::StoreError;
use switchboard_core::users::{
    AZURE_AD_GROUP, Action, DirectoryUser, DisableReason, Extension, ExtensionQuery,
    ExtensionRecord, FieldChange, Origin, RemovalPolicy, SkipReason, SyncedFields, UserSyncBatch,
    UserSyncSettings, apply, plan_full_sync,
};

pub const T0: &str = "2026-05-01T10:00:00.123Z";
pub const T1: &str = "2026-05-02T11:00:00.456Z";
pub const T2: &str = "2026-05-03T12:00:00Z";

/// Fields for a person called `first` (email `first@contoso.com`).
pub fn fields(first: &str) -> SyncedFields {
    let lower = first.to_lowercase();
    SyncedFields {
        first_name: first.into(),
        last_name: "Lovelace".into(),
        display_name: format!("{first} Lovelace"),
        email: format!("{lower}@contoso.com"),
        upn: format!("{lower}@contoso.onmicrosoft.com"),
        mobile: "+44 7700 900123".into(),
        business_phone: "+44 20 7946 0000".into(),
        job_title: "Engineer".into(),
        department: "R&D".into(),
        office: "London".into(),
        usage_location: "GB".into(),
    }
}

pub fn batch_at(at: &str, actions: Vec<Action>) -> UserSyncBatch {
    UserSyncBatch {
        run_id: format!("run-{at}"),
        actor: "sync:users".into(),
        at: ts(at),
        actions,
        department_groups: false,
    }
}

pub fn create(user: &str, number: &str, first: &str) -> Action {
    Action::Create {
        user_id: user.into(),
        number: number.into(),
        fields: Box::new(fields(first)),
        enabled: true,
    }
}

pub fn change(field: &'static str, before: &str, after: &str) -> FieldChange {
    FieldChange {
        field,
        before: before.into(),
        after: after.into(),
    }
}

fn update(user: &str, number: &str, changes: Vec<FieldChange>) -> Action {
    Action::Update {
        user_id: user.into(),
        number: number.into(),
        changes,
    }
}

fn set_enabled(number: &str, enabled: bool, reason: Option<DisableReason>) -> Action {
    Action::SetEnabled {
        number: number.into(),
        enabled,
        reason,
    }
}

fn delete(number: &str) -> Action {
    Action::Delete {
        number: number.into(),
        reason: DisableReason::RemovedFromTenant,
    }
}

fn skip(user: &str) -> Action {
    Action::Skip {
        user_id: user.into(),
        label: user.into(),
        reason: SkipReason::Guest,
    }
}

pub async fn apply_ok(ctx: &Ctx<'_>, at: &str, actions: Vec<Action>) {
    ctx.ext
        .apply_user_batch(&batch_at(at, actions))
        .await
        .unwrap();
}

pub async fn all(ctx: &Ctx<'_>) -> Vec<ExtensionRecord> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = ctx
            .ext
            .list_extensions(&ExtensionQuery {
                after: after.clone(),
                limit: 1000,
                ..Default::default()
            })
            .await
            .unwrap();
        let Some(last) = page.last() else {
            return out;
        };
        after = Some(last.number.clone());
        out.extend(page);
    }
}

pub async fn get(ctx: &Ctx<'_>, number: &str) -> ExtensionRecord {
    ctx.ext
        .get_extension(number)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("extension {number} should exist"))
}

/// Every audit entry as (action, number, detail), oldest first.
pub async fn audit_trail(ctx: &Ctx<'_>) -> Vec<(String, String, serde_json::Value)> {
    let mut entries = ctx.ext.audit_log(None, 100_000).await.unwrap();
    entries.reverse();
    entries
        .into_iter()
        .map(|e| (e.action, e.number.unwrap_or_default(), e.detail))
        .collect()
}

async fn raw_count(ctx: &Ctx<'_>, sql: &'static str) -> i64 {
    let mut raw = ctx.raw().await;
    sqlx::query_scalar(sql).fetch_one(&mut raw).await.unwrap()
}

// --- create, read ---------------------------------------------------------------------------

pub async fn batch_create_then_read(ctx: &Ctx<'_>) {
    assert_eq!(ctx.ext.count_extensions().await.unwrap(), 0);
    let mut disabled = create("u-grace", "101", "Grace");
    if let Action::Create { enabled, .. } = &mut disabled {
        *enabled = false;
    }
    apply_ok(
        ctx,
        T0,
        vec![create("u-ada", "100", "Ada"), skip("u-guest"), disabled],
    )
    .await;

    let listed = all(ctx).await;
    assert_eq!(listed.len(), 2);
    let ada = &listed[0];
    assert_eq!(
        *ada,
        ExtensionRecord {
            number: "100".into(),
            origin: Origin::AzureAd,
            graph_user_id: Some("u-ada".into()),
            fields: fields("Ada"),
            enabled: true,
            excluded: false,
            groups: vec![AZURE_AD_GROUP.to_owned()],
            created_at: ts(T0),
            updated_at: ts(T0),
            synced_at: Some(ts(T0)),
        }
    );
    assert_eq!(listed[1].number, "101");
    assert!(!listed[1].enabled);
    assert_eq!(listed[1].groups, [AZURE_AD_GROUP]);
    assert_eq!(get(ctx, "100").await, *ada);
    assert_eq!(get(ctx, "101").await, listed[1]);
    assert_eq!(ctx.ext.get_extension("102").await.unwrap(), None);
    assert_eq!(ctx.ext.count_extensions().await.unwrap(), 2);

    // One audit row per change, newest first; the Skip wrote nothing.
    let log = ctx.ext.audit_log(None, 10).await.unwrap();
    assert_eq!(log.len(), 2);
    assert!(log[0].id > log[1].id);
    let e = &log[1];
    assert_eq!(e.action, "create");
    assert_eq!(e.actor, "sync:users");
    assert_eq!(e.at, ts(T0));
    assert_eq!(e.number.as_deref(), Some("100"));
    assert_eq!(e.graph_user_id.as_deref(), Some("u-ada"));
    assert_eq!(
        e.detail,
        json!({ "fields": fields("Ada"), "enabled": true }),
        "create records the values it wrote"
    );
    assert_eq!(log[0].number.as_deref(), Some("101"));
    assert_eq!(log[0].detail["enabled"], json!(false));

    assert_eq!(
        synced_pairs(ctx).await,
        [
            ("u-ada".to_owned(), "100".to_owned()),
            ("u-grace".to_owned(), "101".to_owned())
        ]
    );
    let found = ctx
        .ext
        .extensions_for_users(&["u-grace".into(), "u-nobody".into()])
        .await
        .unwrap();
    assert_eq!(found, [listed[1].planning_view()]);
    let snapshot = ctx.ext.planning_snapshot().await.unwrap();
    assert_eq!(snapshot.used_numbers, ["100", "101"]);
    assert!(snapshot.adoptable.is_empty());
    assert!(snapshot.remembered.is_empty());
}

pub async fn empty_batches_write_nothing(ctx: &Ctx<'_>) {
    apply_ok(ctx, T0, vec![]).await;
    apply_ok(ctx, T0, vec![skip("a"), skip("b")]).await;
    assert_eq!(ctx.ext.count_extensions().await.unwrap(), 0);
    assert!(ctx.ext.audit_log(None, 10).await.unwrap().is_empty());
}

// --- update, enable/disable, delete -------------------------------------------------------------

pub async fn update_changes_only_the_named_fields(ctx: &Ctx<'_>) {
    apply_ok(
        ctx,
        T0,
        vec![create("u-ada", "100", "Ada"), create("u-bob", "101", "Bob")],
    )
    .await;
    apply_ok(
        ctx,
        T1,
        vec![update(
            "u-ada",
            "100",
            vec![
                change("display_name", "Ada Lovelace", "Ada King"),
                change("mobile", "+44 7700 900123", ""),
            ],
        )],
    )
    .await;

    let ada = get(ctx, "100").await;
    let mut expected = fields("Ada");
    expected.display_name = "Ada King".into();
    expected.mobile = String::new();
    assert_eq!(ada.fields, expected);
    assert_eq!(ada.created_at, ts(T0));
    assert_eq!(ada.updated_at, ts(T1));
    assert_eq!(ada.synced_at, Some(ts(T1)));
    assert_eq!(ada.groups, [AZURE_AD_GROUP]);
    let bob = get(ctx, "101").await;
    assert_eq!(bob.fields, fields("Bob"), "other extensions are untouched");
    assert_eq!(bob.updated_at, ts(T0));

    let log = ctx.ext.audit_log(Some("100"), 10).await.unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].action, "update");
    assert_eq!(log[0].at, ts(T1));
    assert_eq!(
        log[0].detail,
        json!({ "changes": [
            { "field": "display_name", "before": "Ada Lovelace", "after": "Ada King" },
            { "field": "mobile", "before": "+44 7700 900123", "after": "" },
        ]})
    );

    // The audit records what was stored before, and a change already made is not made again.
    apply_ok(
        ctx,
        T2,
        vec![update(
            "u-ada",
            "100",
            vec![
                change("display_name", "stale", "Ada King"),
                change("office", "stale", "Paris"),
            ],
        )],
    )
    .await;
    let log = ctx.ext.audit_log(Some("100"), 1).await.unwrap();
    assert_eq!(
        log[0].detail,
        json!({ "changes": [{ "field": "office", "before": "London", "after": "Paris" }] })
    );
    assert_eq!(get(ctx, "100").await.fields.office, "Paris");

    // The usage location round-trips like every other synced field.
    apply_ok(
        ctx,
        T2,
        vec![update(
            "u-ada",
            "100",
            vec![change("usage_location", "GB", "DE")],
        )],
    )
    .await;
    assert_eq!(get(ctx, "100").await.fields.usage_location, "DE");
    let listed = ctx
        .ext
        .extensions_for_users(&["u-ada".to_owned()])
        .await
        .unwrap();
    assert_eq!(listed[0].fields.usage_location, "DE");
    assert_eq!(get(ctx, "101").await.fields.usage_location, "GB");
}

pub async fn disable_and_enable(ctx: &Ctx<'_>) {
    apply_ok(ctx, T0, vec![create("u-ada", "100", "Ada")]).await;
    apply_ok(
        ctx,
        T1,
        vec![set_enabled(
            "100",
            false,
            Some(DisableReason::AccountDisabled),
        )],
    )
    .await;
    let ada = get(ctx, "100").await;
    assert!(!ada.enabled);
    assert_eq!(ada.updated_at, ts(T1));
    assert_eq!(ada.fields, fields("Ada"));
    // Already disabled: nothing to do, nothing audited.
    apply_ok(
        ctx,
        T1,
        vec![set_enabled("100", false, Some(DisableReason::LeftScope))],
    )
    .await;
    apply_ok(ctx, T2, vec![set_enabled("100", true, None)]).await;
    assert!(get(ctx, "100").await.enabled);

    assert_eq!(
        audit_trail(ctx).await,
        [
            (
                "create".into(),
                "100".into(),
                json!({ "fields": fields("Ada"), "enabled": true })
            ),
            (
                "disable".into(),
                "100".into(),
                json!({ "reason": "account_disabled" })
            ),
            ("enable".into(), "100".into(), json!({})),
        ]
    );
}

pub async fn delete_leaves_a_tombstone_and_recreating_removes_it(ctx: &Ctx<'_>) {
    apply_ok(
        ctx,
        T0,
        vec![create("u-ada", "100", "Ada"), create("u-bob", "101", "Bob")],
    )
    .await;
    apply_ok(ctx, T1, vec![delete("100"), delete("999")]).await;

    assert_eq!(ctx.ext.get_extension("100").await.unwrap(), None);
    assert_eq!(ctx.ext.count_extensions().await.unwrap(), 1);
    assert_eq!(
        raw_count(
            ctx,
            "SELECT COUNT(*) FROM extension_groups WHERE number = '100'"
        )
        .await,
        0,
        "the groups go with the extension"
    );
    let snapshot = ctx.ext.planning_snapshot().await.unwrap();
    assert_eq!(snapshot.used_numbers, ["101"]);
    assert_eq!(
        snapshot.remembered,
        HashMap::from([("u-ada".to_owned(), "100".to_owned())])
    );
    assert_eq!(
        synced_pairs(ctx).await,
        [("u-bob".to_owned(), "101".to_owned())]
    );
    let log = ctx.ext.audit_log(None, 1).await.unwrap();
    assert_eq!(log[0].action, "delete");
    assert_eq!(log[0].number.as_deref(), Some("100"));
    assert_eq!(log[0].graph_user_id.as_deref(), Some("u-ada"));
    assert_eq!(log[0].detail, json!({ "reason": "removed_from_tenant" }));
    assert_eq!(
        ctx.ext.audit_log(None, 100).await.unwrap().len(),
        3,
        "deleting a missing number is not a change"
    );

    // The user comes back and gets the remembered number: the tombstone is gone.
    apply_ok(ctx, T2, vec![create("u-ada", "100", "Ada")]).await;
    let ada = get(ctx, "100").await;
    assert_eq!(ada.graph_user_id.as_deref(), Some("u-ada"));
    assert_eq!(ada.created_at, ts(T2));
    assert_eq!(ada.groups, [AZURE_AD_GROUP]);
    assert!(
        ctx.ext
            .planning_snapshot()
            .await
            .unwrap()
            .remembered
            .is_empty()
    );
    assert_eq!(
        raw_count(ctx, "SELECT COUNT(*) FROM extension_tombstones").await,
        0
    );
}

pub async fn adopt_turns_a_local_extension_into_a_synced_one(ctx: &Ctx<'_>) {
    let mut local = fields("Ada");
    local.display_name = "Reception".into();
    local.mobile = String::new();
    ctx.ext
        .create_local_extension("200", &local, "admin:alice", ts(T0))
        .await
        .unwrap();
    let snapshot = ctx.ext.planning_snapshot().await.unwrap();
    assert_eq!(snapshot.adoptable.len(), 1);
    assert_eq!(snapshot.adoptable[0].number, "200");
    assert_eq!(snapshot.adoptable[0].origin, Origin::Local);

    let changes = local.changes_to(&fields("Ada"));
    assert_eq!(changes.len(), 2);
    apply_ok(
        ctx,
        T1,
        vec![Action::Adopt {
            user_id: "u-ada".into(),
            number: "200".into(),
            changes,
            enabled: true,
        }],
    )
    .await;

    let ada = get(ctx, "200").await;
    assert_eq!(ada.origin, Origin::AzureAd);
    assert_eq!(ada.graph_user_id.as_deref(), Some("u-ada"));
    assert_eq!(ada.fields, fields("Ada"));
    assert_eq!(ada.groups, [AZURE_AD_GROUP]);
    assert_eq!(
        ada.created_at,
        ts(T0),
        "the number and its history are kept"
    );
    assert_eq!(ada.updated_at, ts(T1));
    assert_eq!(ada.synced_at, Some(ts(T1)));
    assert_eq!(ctx.ext.count_extensions().await.unwrap(), 1);
    let snapshot = ctx.ext.planning_snapshot().await.unwrap();
    assert!(snapshot.adoptable.is_empty());
    assert_eq!(snapshot.used_numbers, ["200"]);
    assert_eq!(
        synced_pairs(ctx).await,
        [("u-ada".to_owned(), "200".to_owned())]
    );

    let log = ctx.ext.audit_log(Some("200"), 10).await.unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].action, "adopt");
    assert_eq!(log[0].actor, "sync:users");
    assert_eq!(log[0].graph_user_id.as_deref(), Some("u-ada"));
    assert_eq!(
        log[0].detail,
        json!({
            "origin": { "before": "local", "after": "azure_ad" },
            "changes": [
                { "field": "display_name", "before": "Reception", "after": "Ada Lovelace" },
                { "field": "mobile", "before": "", "after": "+44 7700 900123" },
            ],
        })
    );
    assert_eq!(log[1].action, "local_create");
}

// --- idempotence and atomicity ------------------------------------------------------------------

pub async fn the_same_batch_twice_is_the_same_as_once(ctx: &Ctx<'_>) {
    ctx.ext
        .create_local_extension("300", &fields("Carol"), "admin:alice", ts(T0))
        .await
        .unwrap();
    apply_ok(
        ctx,
        T0,
        vec![
            create("u-old", "110", "Old"),
            create("u-dan", "111", "Dan"),
            create("u-eve", "112", "Eve"),
        ],
    )
    .await;

    // What a plan holds: per user one Create or Adopt, or an Update and a SetEnabled.
    let mut carol = fields("Carol");
    carol.job_title = "CTO".into();
    let batch = batch_at(
        T1,
        vec![
            create("u-ada", "100", "Ada"),
            update(
                "u-eve",
                "112",
                vec![change("job_title", "Engineer", "Lead")],
            ),
            set_enabled("112", false, Some(DisableReason::AccountDisabled)),
            Action::Adopt {
                user_id: "u-carol".into(),
                number: "300".into(),
                changes: fields("Carol").changes_to(&carol),
                enabled: true,
            },
            delete("110"),
            update("u-dan", "111", vec![change("office", "London", "Leeds")]),
            skip("u-guest"),
        ],
    );
    ctx.ext.apply_user_batch(&batch).await.unwrap();
    let once = (
        all(ctx).await,
        ctx.ext.audit_log(None, 1000).await.unwrap(),
        ctx.ext.planning_snapshot().await.unwrap(),
    );
    assert_eq!(get(ctx, "100").await.fields, fields("Ada"));
    assert_eq!(get(ctx, "112").await.fields.job_title, "Lead");
    assert!(!get(ctx, "112").await.enabled);
    assert_eq!(
        get(ctx, "300").await.graph_user_id.as_deref(),
        Some("u-carol")
    );
    assert_eq!(get(ctx, "111").await.fields.office, "Leeds");
    assert_eq!(
        once.2.remembered.get("u-old").map(String::as_str),
        Some("110")
    );

    ctx.ext.apply_user_batch(&batch).await.unwrap();
    let twice = (
        all(ctx).await,
        ctx.ext.audit_log(None, 1000).await.unwrap(),
        ctx.ext.planning_snapshot().await.unwrap(),
    );
    assert_eq!(twice.0, once.0, "same extensions");
    assert_eq!(twice.1, once.1, "no new audit entries");
    assert_eq!(twice.2.used_numbers, once.2.used_numbers);
    assert_eq!(twice.2.remembered, once.2.remembered);
    assert_eq!(twice.2.adoptable, once.2.adoptable);
}

pub async fn a_conflicting_create_rolls_back_the_whole_batch(ctx: &Ctx<'_>) {
    apply_ok(
        ctx,
        T0,
        vec![
            create("u-ada", "100", "Ada"),
            create("u-bob", "101", "Bob"),
            create("u-gone", "102", "Gone"),
        ],
    )
    .await;
    apply_ok(ctx, T0, vec![delete("102")]).await;
    for number in ["200", "201"] {
        ctx.ext
            .create_local_extension(number, &fields("Local"), "admin:alice", ts(T0))
            .await
            .unwrap();
    }
    let before = (
        all(ctx).await,
        ctx.ext.audit_log(None, 1000).await.unwrap(),
        ctx.ext.planning_snapshot().await.unwrap().remembered,
    );

    // Each of these batches does some good work first, then hits a conflict.
    let good = || {
        vec![
            create("u-new", "150", "New"),
            create("u-gone", "102", "Gone"), // removes the tombstone
            update("u-ada", "100", vec![change("office", "London", "Paris")]),
            set_enabled("101", false, None),
            delete("201"),
        ]
    };
    let conflicts: Vec<(Action, &str)> = vec![
        (create("u-zed", "100", "Zed"), "100"),
        (create("u-ada", "151", "Ada"), "u-ada"),
        (create("u-zed", "200", "Zed"), "200"),
        (
            update("u-zed", "101", vec![change("office", "x", "y")]),
            "101",
        ),
        (
            Action::Adopt {
                user_id: "u-zed".into(),
                number: "101".into(),
                changes: vec![],
                enabled: true,
            },
            "101",
        ),
    ];
    for (conflict, named) in conflicts {
        let mut actions = good();
        actions.push(conflict.clone());
        let err = ctx
            .ext
            .apply_user_batch(&batch_at(T1, actions))
            .await
            .expect_err("the batch conflicts");
        match &err {
            StoreError::Conflict(what) => {
                assert!(what.contains(named), "{what:?} for {conflict:?}")
            }
            other => panic!("expected Conflict for {conflict:?}, got {other:?}"),
        }
        let after = (
            all(ctx).await,
            ctx.ext.audit_log(None, 1000).await.unwrap(),
            ctx.ext.planning_snapshot().await.unwrap().remembered,
        );
        assert_eq!(after, before, "nothing of the batch is kept ({conflict:?})");
    }
    assert_eq!(ctx.ext.get_extension("150").await.unwrap(), None);

    // The store is usable afterwards (no lock or transaction left behind).
    apply_ok(ctx, T2, good()).await;
    assert!(ctx.ext.get_extension("150").await.unwrap().is_some());
    assert_eq!(get(ctx, "100").await.fields.office, "Paris");
    assert!(!get(ctx, "101").await.enabled);
    assert_eq!(ctx.ext.get_extension("201").await.unwrap(), None);
    assert_eq!(get(ctx, "200").await.origin, Origin::Local);
    assert!(
        ctx.ext
            .planning_snapshot()
            .await
            .unwrap()
            .remembered
            .is_empty()
    );
}

/// Excluded from sync means the sync leaves it alone, even when the plan was made before.
pub async fn sync_leaves_excluded_extensions_alone(ctx: &Ctx<'_>) {
    apply_ok(ctx, T0, vec![create("u-ada", "100", "Ada")]).await;
    assert!(
        ctx.ext
            .set_excluded("100", true, "admin:alice", ts(T0))
            .await
            .unwrap()
    );
    let before = get(ctx, "100").await;
    let audited = ctx.ext.audit_log(None, 100).await.unwrap().len();
    for action in [
        update("u-ada", "100", vec![change("office", "London", "Paris")]),
        set_enabled("100", false, Some(DisableReason::LeftScope)),
        delete("100"),
        create("u-ada", "100", "Changed"),
    ] {
        apply_ok(ctx, T1, vec![action]).await;
    }
    assert_eq!(get(ctx, "100").await, before);
    assert_eq!(ctx.ext.audit_log(None, 100).await.unwrap().len(), audited);
}

pub async fn stale_actions_on_missing_extensions_do_nothing(ctx: &Ctx<'_>) {
    apply_ok(
        ctx,
        T1,
        vec![
            update("u-ada", "100", vec![change("office", "London", "Paris")]),
            set_enabled("100", false, None),
            delete("100"),
            Action::Adopt {
                user_id: "u-ada".into(),
                number: "100".into(),
                changes: vec![],
                enabled: true,
            },
        ],
    )
    .await;
    assert_eq!(ctx.ext.count_extensions().await.unwrap(), 0);
    assert!(ctx.ext.audit_log(None, 10).await.unwrap().is_empty());
}

// --- reads -----------------------------------------------------------------------------------------

pub async fn list_filters_and_pages(ctx: &Ctx<'_>) {
    let mut actions = Vec::new();
    for (i, first) in ["Ada", "Bob", "Carol", "Dan", "Eve", "Frank"]
        .iter()
        .enumerate()
    {
        actions.push(create(&format!("u-{i}"), &format!("10{i}"), first));
    }
    apply_ok(ctx, T0, actions).await;
    let mut sale = fields("Sale");
    sale.display_name = "Sale 50% off".into();
    sale.email = "sale@contoso.com".into();
    ctx.ext
        .create_local_extension("2000", &sale, "admin:alice", ts(T0))
        .await
        .unwrap();
    let mut other = fields("Other");
    other.display_name = "Sale 500".into();
    other.email = "under_score@contoso.com".into();
    ctx.ext
        .create_local_extension("2001", &other, "admin:alice", ts(T0))
        .await
        .unwrap();
    ctx.ext
        .create_local_extension("99", &fields("Zoe"), "admin:alice", ts(T0))
        .await
        .unwrap();

    let numbers = |records: Vec<ExtensionRecord>| -> Vec<String> {
        records.into_iter().map(|r| r.number).collect()
    };
    let query = |q: Option<&str>, group: Option<&str>| ExtensionQuery {
        q: q.map(str::to_owned),
        group: group.map(str::to_owned),
        limit: 100,
        ..Default::default()
    };
    let list = |query: ExtensionQuery| async move {
        numbers(ctx.ext.list_extensions(&query).await.unwrap())
    };

    // Ordered by number, numerically (shorter first, then as text).
    assert_eq!(
        list(query(None, None)).await,
        [
            "99", "100", "101", "102", "103", "104", "105", "2000", "2001"
        ]
    );
    // Group filter.
    assert_eq!(
        list(query(None, Some(AZURE_AD_GROUP))).await,
        ["100", "101", "102", "103", "104", "105"]
    );
    assert!(list(query(None, Some("azure ad"))).await.is_empty());
    assert!(list(query(None, Some("Nobody"))).await.is_empty());
    // Case-insensitive substring of number, names, email, UPN.
    assert_eq!(list(query(Some("cAROL"), None)).await, ["102"]);
    assert_eq!(list(query(Some("LOVELACE"), None)).await.len(), 9);
    assert_eq!(list(query(Some("frank@contoso.com"), None)).await, ["105"]);
    assert_eq!(
        list(query(Some("EVE@CONTOSO.ONMICROSOFT"), None)).await,
        ["104"]
    );
    assert_eq!(list(query(Some("200"), None)).await, ["2000", "2001"]);
    assert_eq!(list(query(Some("9"), None)).await, ["99"]);
    // Wildcards are literal.
    assert_eq!(list(query(Some("50%"), None)).await, ["2000"]);
    assert_eq!(list(query(Some("sale 50"), None)).await, ["2000", "2001"]);
    assert_eq!(list(query(Some("under_"), None)).await, ["2001"]);
    assert!(list(query(Some("_"), None)).await.len() == 1);
    assert!(list(query(Some("%"), None)).await.len() == 1);
    assert!(list(query(Some("\\"), None)).await.is_empty());
    assert_eq!(
        list(query(Some(""), None)).await.len(),
        9,
        "empty q: no filter"
    );
    // Filters combine.
    assert_eq!(
        list(query(Some("a"), Some(AZURE_AD_GROUP))).await,
        ["100", "101", "102", "103", "104", "105"],
        "every synced one has an 'a' (Lovelace)"
    );
    assert_eq!(
        list(query(Some("carol"), Some(AZURE_AD_GROUP))).await,
        ["102"]
    );
    let mut q = query(Some("sale"), None);
    q.after = Some("2000".into());
    assert_eq!(list(q).await, ["2001"]);

    // Keyset paging walks everything exactly once, for every page size.
    let everything = list(query(None, None)).await;
    assert_eq!(
        everything.first().map(String::as_str),
        Some("99"),
        "numeric order: 99 before 100"
    );
    let mut numeric = everything.clone();
    numeric.sort_by_key(|n| n.parse::<u64>().unwrap());
    assert_eq!(
        everything, numeric,
        "extensions are listed in numeric order"
    );
    for limit in [1, 2, 4, 9, 10] {
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = numbers(
                ctx.ext
                    .list_extensions(&ExtensionQuery {
                        after: after.clone(),
                        limit,
                        ..Default::default()
                    })
                    .await
                    .unwrap(),
            );
            assert!(page.len() <= limit as usize);
            let Some(last) = page.last() else { break };
            after = Some(last.clone());
            seen.extend(page);
        }
        assert_eq!(seen, everything, "page size {limit}");
    }
    // Paging within a group.
    let mut q = query(None, Some(AZURE_AD_GROUP));
    q.after = Some("103".into());
    q.limit = 1;
    assert_eq!(list(q).await, ["104"]);
    // The limit is clamped to 1..=1000.
    let mut q = query(None, None);
    q.limit = 0;
    assert_eq!(list(q).await, ["99"]);

    // Groups come with the records, local extensions have none.
    let local = get(ctx, "99").await;
    assert!(local.groups.is_empty());
    assert_eq!(local.origin, Origin::Local);
    assert_eq!(local.synced_at, None);
}

pub async fn extensions_for_more_than_500_users(ctx: &Ctx<'_>) {
    let actions = (0..1200)
        .map(|i| create(&format!("user-{i:04}"), &format!("{}", 10_000 + i), "P"))
        .collect();
    apply_ok(ctx, T0, actions).await;

    // 1,100 ids: every even user of 0..2000 (half unknown), plus repeats.
    let mut ids: Vec<String> = (0..2000)
        .step_by(2)
        .map(|i| format!("user-{i:04}"))
        .collect();
    ids.extend((0..100).map(|i| format!("user-{i:04}")));
    assert_eq!(ids.len(), 1100);
    let found = ctx.ext.extensions_for_users(&ids).await.unwrap();
    let expected: Vec<String> = (0..1200)
        .filter(|i| i % 2 == 0 || *i < 100)
        .map(|i| format!("{}", 10_000 + i))
        .collect();
    let mut got: Vec<String> = found.iter().map(|e| e.number.clone()).collect();
    got.sort();
    assert_eq!(got, expected, "each known user once, unknown ones left out");
    for e in &found {
        let i: usize = e.number.parse::<usize>().unwrap() - 10_000;
        assert_eq!(
            e.graph_user_id.as_deref(),
            Some(format!("user-{i:04}").as_str())
        );
        assert_eq!(e.origin, Origin::AzureAd);
    }
    assert!(ctx.ext.extensions_for_users(&[]).await.unwrap().is_empty());

    // Keyset pages: every pair once, ordered by user id, the same pairs as the whole list.
    let mut paged: Vec<(String, String)> = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = ctx
            .ext
            .synced_user_ids_page(after.as_deref(), 500)
            .await
            .unwrap();
        assert!(page.len() <= 500);
        let Some((last, _)) = page.last() else { break };
        after = Some(last.clone());
        paged.extend(page);
    }
    assert_eq!(paged.len(), 1200);
    assert!(
        paged.windows(2).all(|w| w[0].0 < w[1].0),
        "ordered by user id"
    );
    let expected: Vec<(String, String)> = (0..1200)
        .map(|i| (format!("user-{i:04}"), format!("{}", 10_000 + i)))
        .collect();
    assert_eq!(paged, expected, "exactly the synced pairs");
    assert!(
        ctx.ext
            .synced_user_ids_page(Some("user-1199"), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

/// 1,000 actions in one batch: correct on every engine; the time is printed, not asserted.
pub async fn a_batch_of_a_thousand(ctx: &Ctx<'_>) {
    let creates: Vec<Action> = (0..1000)
        .map(|i| create(&format!("user-{i:04}"), &format!("{}", 1000 + i), "P"))
        .collect();
    let batch = batch_at(T0, creates);
    let started = std::time::Instant::now();
    ctx.ext.apply_user_batch(&batch).await.unwrap();
    let created = started.elapsed();

    let updates: Vec<Action> = (0..1000)
        .map(|i| {
            if i % 4 == 3 {
                set_enabled(
                    &format!("{}", 1000 + i),
                    false,
                    Some(DisableReason::AccountDisabled),
                )
            } else {
                update(
                    &format!("user-{i:04}"),
                    &format!("{}", 1000 + i),
                    vec![change("display_name", "P Lovelace", &format!("Person {i}"))],
                )
            }
        })
        .collect();
    let started = std::time::Instant::now();
    ctx.ext
        .apply_user_batch(&batch_at(T1, updates))
        .await
        .unwrap();
    let updated = started.elapsed();
    let started = std::time::Instant::now();
    ctx.ext.apply_user_batch(&batch).await.unwrap();
    let again = started.elapsed();
    eprintln!(
        "    1,000-action batch on {}: creates {created:?}, updates {updated:?}, \
         creates again (1,000 no-op checks, 1,000 field reverts) {again:?}",
        ctx.engine()
    );

    assert_eq!(ctx.ext.count_extensions().await.unwrap(), 1000);
    let listed = all(ctx).await;
    assert_eq!(listed.len(), 1000);
    for (i, e) in listed.iter().enumerate() {
        assert_eq!(e.number, format!("{}", 1000 + i));
        assert_eq!(e.graph_user_id, Some(format!("user-{i:04}")));
        assert_eq!(
            e.fields,
            fields("P"),
            "the second create put the fields back"
        );
        assert!(e.enabled, "and enabled them again");
        assert_eq!(e.groups, [AZURE_AD_GROUP]);
    }
    // 1,000 creates + 750 updates + 250 disables + 750 reverts + 250 enables.
    assert_eq!(ctx.ext.audit_log(None, 5000).await.unwrap().len(), 3000);
    // The page size is capped at 1,000.
    ctx.ext
        .create_local_extension("9999", &fields("Extra"), "admin:alice", ts(T2))
        .await
        .unwrap();
    let page = ctx
        .ext
        .list_extensions(&ExtensionQuery {
            limit: 5000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.len(), 1000);
}

// --- agreement with the core reference --------------------------------------------------------

fn user(id: &str, name: &str, enabled: bool) -> DirectoryUser {
    DirectoryUser {
        id: id.into(),
        display_name: Some(format!("{name} Tester")),
        given_name: Some(name.into()),
        surname: Some("Tester".into()),
        mail: Some(format!("{}@contoso.com", name.to_lowercase())),
        user_principal_name: Some(format!("{}@contoso.com", name.to_lowercase())),
        account_enabled: Some(enabled),
        ..Default::default()
    }
}

/// Runs planned by the core over changing tenants leave the store where the core's in-memory
/// `apply` says they should.
pub async fn agrees_with_the_core_reference(ctx: &Ctx<'_>) {
    let mut local = fields("Reception");
    local.email = "hedy@contoso.com".into();
    ctx.ext
        .create_local_extension("105", &local, "admin:alice", ts(T0))
        .await
        .unwrap();

    let settings = UserSyncSettings {
        removal: RemovalPolicy::Delete,
        ..Default::default()
    };
    let tenants: Vec<Vec<DirectoryUser>> = vec![
        vec![
            user("a", "Ada", true),
            user("b", "Bob", true),
            user("c", "Carol", false),
            user("h", "Hedy", true),
            user("d", "Dan", true),
        ],
        vec![
            user("a", "Ada2", true),
            user("b", "Bob", false),
            user("c", "Carol", true),
            user("h", "Hedy", true),
        ],
        vec![
            user("a", "Ada2", true),
            user("d", "Dan", true),
            user("e", "Eve", true),
        ],
        vec![user("b", "Bob", true), user("d", "Dan", true)],
    ];
    let mut reference: BTreeMap<String, Extension> = all(ctx)
        .await
        .into_iter()
        .map(|r| (r.number.clone(), r.planning_view()))
        .collect();
    let mut remembered: HashMap<String, String> = HashMap::new();
    let times = [T0, T1, T2, "2026-05-04T00:00:00Z"];
    for (round, tenant) in tenants.iter().enumerate() {
        let stored: Vec<Extension> = reference.values().cloned().collect();
        let users: Vec<(DirectoryUser, bool)> = tenant.iter().map(|u| (u.clone(), false)).collect();
        let actions = plan_full_sync(&users, &stored, settings.clone(), remembered.clone());
        for (user, number) in apply(&mut reference, &actions) {
            remembered.insert(user, number);
        }
        for e in reference.values() {
            if let Some(user) = &e.graph_user_id {
                remembered.remove(user);
            }
        }
        apply_ok(ctx, times[round], actions).await;

        let in_store: BTreeMap<String, Extension> = all(ctx)
            .await
            .into_iter()
            .map(|r| (r.number.clone(), r.planning_view()))
            .collect();
        assert_eq!(in_store, reference, "round {round}");
        let snapshot = ctx.ext.planning_snapshot().await.unwrap();
        assert_eq!(snapshot.remembered, remembered, "round {round}");
    }
    assert!(!remembered.is_empty(), "the rounds exercise tombstones");
}

/// Option `department_groups`: each synced extension a batch creates, adopts or updates is in
/// the group of its department ("Department: …") and no other such group; with the option off
/// it leaves them. Groups not named "Department: …" are never touched.
pub async fn department_groups_follow_the_department(ctx: &Ctx<'_>) {
    let on = |at: &str, actions: Vec<Action>| UserSyncBatch {
        department_groups: true,
        ..batch_at(at, actions)
    };
    let groups = async |number: &str| get(ctx, number).await.groups;
    ctx.ext
        .apply_user_batch(&on(
            T0,
            vec![create("a", "100", "Ada"), create("b", "101", "Bob")],
        ))
        .await
        .unwrap();
    assert_eq!(groups("100").await, [AZURE_AD_GROUP, "Department: R&D"]);
    assert_eq!(groups("101").await, [AZURE_AD_GROUP, "Department: R&D"]);

    // A group an admin made, and one no longer right, as a sync of an older version left it.
    let mut raw = ctx.raw().await;
    sqlx::query(
        "INSERT INTO extension_groups (number, group_name) \
         VALUES ('100', 'VIP'), ('100', 'Department: Old'), ('100', 'department: lower')",
    )
    .execute(&mut raw)
    .await
    .unwrap();

    // The department changes: out of the old group, into the new one; again changes nothing.
    let moved = on(
        T1,
        vec![update(
            "a",
            "100",
            vec![change("department", "R&D", "Sales")],
        )],
    );
    for _ in 0..2 {
        ctx.ext.apply_user_batch(&moved).await.unwrap();
        assert_eq!(
            groups("100").await,
            [
                AZURE_AD_GROUP,
                "Department: Sales",
                "VIP",
                "department: lower"
            ]
        );
    }
    assert_eq!(groups("101").await, [AZURE_AD_GROUP, "Department: R&D"]);

    // An empty department: no department group.
    ctx.ext
        .apply_user_batch(&on(
            T1,
            vec![update("b", "101", vec![change("department", "R&D", "")])],
        ))
        .await
        .unwrap();
    assert_eq!(groups("101").await, [AZURE_AD_GROUP]);

    // Adopting a local extension.
    let local = SyncedFields {
        department: "Ops".into(),
        ..fields("Cy")
    };
    ctx.ext
        .create_local_extension("105", &local, "admin:alice", ts(T0))
        .await
        .unwrap();
    let adopt = Action::Adopt {
        user_id: "c".into(),
        number: "105".into(),
        changes: Vec::new(),
        enabled: true,
    };
    ctx.ext
        .apply_user_batch(&on(T1, vec![adopt]))
        .await
        .unwrap();
    assert_eq!(groups("105").await, [AZURE_AD_GROUP, "Department: Ops"]);
    let members = ctx
        .ext
        .list_extensions(&ExtensionQuery {
            group: Some("Department: Ops".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(members.len(), 1);
    assert_eq!(members[0].number, "105");

    // The option off: the extensions the batch touches leave their department groups only.
    apply_ok(
        ctx,
        T2,
        vec![update(
            "a",
            "100",
            vec![change("job_title", "Engineer", "Lead")],
        )],
    )
    .await;
    assert_eq!(
        groups("100").await,
        [AZURE_AD_GROUP, "VIP", "department: lower"]
    );
    assert_eq!(groups("105").await, [AZURE_AD_GROUP, "Department: Ops"]);
}

/// Every synced (graph user id, number) pair, read page by page as a full sync does.
async fn synced_pairs(ctx: &Ctx<'_>) -> Vec<(String, String)> {
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = ctx
            .ext
            .synced_user_ids_page(after.as_deref(), 2)
            .await
            .unwrap();
        let Some((last, _)) = page.last() else {
            return all;
        };
        after = Some(last.clone());
        all.extend(page);
    }
}
