//! Extensions changed by an admin or API client, each change audited with its actor.

use crate::extensions::{T0, T1, T2, apply_ok, create, fields, get};
use crate::{Ctx, ts};
use serde_json::json;
use std::collections::HashMap;
use switchboard_core::ports::StoreError;
use switchboard_core::users::{AZURE_AD_GROUP, Origin};

pub async fn create_a_local_extension(ctx: &Ctx<'_>) {
    ctx.ext
        .create_local_extension("200", &fields("Ada"), "admin:alice", ts(T0))
        .await
        .unwrap();
    let ada = get(ctx, "200").await;
    assert_eq!(ada.origin, Origin::Local);
    assert_eq!(ada.graph_user_id, None);
    assert_eq!(ada.fields, fields("Ada"));
    assert!(ada.enabled);
    assert!(!ada.excluded);
    assert!(ada.groups.is_empty());
    assert_eq!(ada.created_at, ts(T0));
    assert_eq!(ada.updated_at, ts(T0));
    assert_eq!(ada.synced_at, None);

    let log = ctx.ext.audit_log(None, 10).await.unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].action, "local_create");
    assert_eq!(log[0].actor, "admin:alice");
    assert_eq!(log[0].number.as_deref(), Some("200"));
    assert_eq!(log[0].graph_user_id, None);
    assert_eq!(log[0].detail, json!({ "fields": fields("Ada") }));

    // Taken numbers conflict, local or synced; nothing is written.
    apply_ok(ctx, T0, vec![create("u-bob", "100", "Bob")]).await;
    for taken in ["200", "100"] {
        let err = ctx
            .ext
            .create_local_extension(taken, &fields("Zed"), "admin:alice", ts(T1))
            .await
            .unwrap_err();
        match err {
            StoreError::Conflict(what) => assert_eq!(what, format!("extension {taken}")),
            other => panic!("expected Conflict, got {other:?}"),
        }
    }
    // Numbers are 1 to 15 digits.
    for bad in ["", "12a", "1234567890123456", "1 2", "١٢"] {
        let err = ctx
            .ext
            .create_local_extension(bad, &fields("Zed"), "admin:alice", ts(T1))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::Database(m) if m.contains("extension number")),
            "{bad:?}: {err:?}"
        );
    }
    ctx.ext
        .create_local_extension("123456789012345", &fields("Long"), "api:token", ts(T1))
        .await
        .unwrap();
    assert_eq!(ctx.ext.count_extensions().await.unwrap(), 3);
    assert_eq!(get(ctx, "200").await.fields, fields("Ada"));
    assert_eq!(ctx.ext.audit_log(None, 10).await.unwrap().len(), 3);
}

pub async fn edit_an_extension(ctx: &Ctx<'_>) {
    ctx.ext
        .create_local_extension("200", &fields("Ada"), "admin:alice", ts(T0))
        .await
        .unwrap();
    let mut edited = fields("Ada");
    edited.display_name = "Front desk".into();
    edited.office = String::new();
    edited.usage_location = "FR".into();
    assert!(
        ctx.ext
            .edit_extension("200", &edited, "admin:bob", ts(T1))
            .await
            .unwrap()
    );
    let ada = get(ctx, "200").await;
    assert_eq!(ada.fields, edited);
    assert_eq!(ada.created_at, ts(T0));
    assert_eq!(ada.updated_at, ts(T1));
    assert_eq!(ada.origin, Origin::Local);

    let log = ctx.ext.audit_log(Some("200"), 10).await.unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].action, "local_edit");
    assert_eq!(log[0].actor, "admin:bob");
    assert_eq!(
        log[0].detail,
        json!({ "changes": [
            { "field": "display_name", "before": "Ada Lovelace", "after": "Front desk" },
            { "field": "office", "before": "London", "after": "" },
            { "field": "usage_location", "before": "GB", "after": "FR" },
        ]})
    );

    // No change: true, nothing written.
    assert!(
        ctx.ext
            .edit_extension("200", &edited, "admin:bob", ts(T2))
            .await
            .unwrap()
    );
    assert_eq!(get(ctx, "200").await.updated_at, ts(T1));
    assert_eq!(ctx.ext.audit_log(None, 10).await.unwrap().len(), 2);
    // No such extension.
    assert!(
        !ctx.ext
            .edit_extension("201", &edited, "admin:bob", ts(T2))
            .await
            .unwrap()
    );

    // Editing a synced extension keeps it synced (the next sync may overwrite the fields).
    apply_ok(ctx, T0, vec![create("u-ada", "100", "Ada")]).await;
    assert!(
        ctx.ext
            .edit_extension("100", &edited, "admin:bob", ts(T1))
            .await
            .unwrap()
    );
    let synced = get(ctx, "100").await;
    assert_eq!(synced.fields, edited);
    assert_eq!(synced.origin, Origin::AzureAd);
    assert_eq!(synced.graph_user_id.as_deref(), Some("u-ada"));
    assert_eq!(synced.synced_at, Some(ts(T0)), "an edit is not a sync");
    assert_eq!(synced.groups, [AZURE_AD_GROUP]);
    let log = ctx.ext.audit_log(Some("100"), 1).await.unwrap();
    assert_eq!(log[0].graph_user_id.as_deref(), Some("u-ada"));
}

pub async fn exclude_and_include(ctx: &Ctx<'_>) {
    ctx.ext
        .create_local_extension("200", &fields("Ada"), "admin:alice", ts(T0))
        .await
        .unwrap();
    assert_eq!(
        ctx.ext.planning_snapshot().await.unwrap().adoptable.len(),
        1
    );
    assert!(
        ctx.ext
            .set_excluded("200", true, "admin:alice", ts(T1))
            .await
            .unwrap()
    );
    let ada = get(ctx, "200").await;
    assert!(ada.excluded);
    assert_eq!(ada.updated_at, ts(T1));
    assert!(
        ctx.ext
            .planning_snapshot()
            .await
            .unwrap()
            .adoptable
            .is_empty(),
        "an excluded extension is never adopted"
    );
    // Already excluded: true, nothing written.
    assert!(
        ctx.ext
            .set_excluded("200", true, "admin:alice", ts(T2))
            .await
            .unwrap()
    );
    assert!(
        ctx.ext
            .set_excluded("200", false, "admin:carol", ts(T2))
            .await
            .unwrap()
    );
    assert!(!get(ctx, "200").await.excluded);
    assert!(
        !ctx.ext
            .set_excluded("201", true, "admin:alice", ts(T2))
            .await
            .unwrap()
    );

    let log = ctx.ext.audit_log(Some("200"), 10).await.unwrap();
    let actions: Vec<(&str, &str)> = log
        .iter()
        .map(|e| (e.action.as_str(), e.actor.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("include", "admin:carol"),
            ("exclude", "admin:alice"),
            ("local_create", "admin:alice")
        ]
    );
    assert_eq!(
        log[1].detail,
        json!({ "excluded": { "before": false, "after": true } })
    );

    // A local extension without an email is no adoption candidate either.
    let mut no_mail = fields("Lobby");
    no_mail.email = String::new();
    ctx.ext
        .create_local_extension("300", &no_mail, "admin:alice", ts(T0))
        .await
        .unwrap();
    let adoptable = ctx.ext.planning_snapshot().await.unwrap().adoptable;
    let numbers: Vec<&str> = adoptable.iter().map(|e| e.number.as_str()).collect();
    assert_eq!(numbers, ["200"]);
}

pub async fn delete_local_and_synced_extensions(ctx: &Ctx<'_>) {
    ctx.ext
        .create_local_extension("200", &fields("Local"), "admin:alice", ts(T0))
        .await
        .unwrap();
    apply_ok(ctx, T0, vec![create("u-ada", "100", "Ada")]).await;

    assert!(
        ctx.ext
            .delete_extension("200", "admin:alice", ts(T1))
            .await
            .unwrap()
    );
    assert!(
        ctx.ext
            .delete_extension("100", "admin:bob", ts(T1))
            .await
            .unwrap()
    );
    assert!(
        !ctx.ext
            .delete_extension("100", "admin:bob", ts(T2))
            .await
            .unwrap()
    );
    assert_eq!(ctx.ext.count_extensions().await.unwrap(), 0);

    // Only the synced one is remembered for its user.
    let snapshot = ctx.ext.planning_snapshot().await.unwrap();
    assert_eq!(
        snapshot.remembered,
        HashMap::from([("u-ada".to_owned(), "100".to_owned())])
    );
    assert!(snapshot.used_numbers.is_empty());

    let log = ctx.ext.audit_log(None, 2).await.unwrap();
    assert_eq!(log[0].action, "delete");
    assert_eq!(log[0].actor, "admin:bob");
    assert_eq!(log[0].number.as_deref(), Some("100"));
    assert_eq!(log[0].graph_user_id.as_deref(), Some("u-ada"));
    assert_eq!(log[0].detail, json!({ "origin": "azure_ad" }));
    assert_eq!(log[1].action, "delete");
    assert_eq!(log[1].actor, "admin:alice");
    assert_eq!(log[1].detail, json!({ "origin": "local" }));
    // The history outlives the extension.
    assert_eq!(
        ctx.ext.audit_log(Some("100"), 10).await.unwrap().len(),
        2,
        "create and delete"
    );

    // The user comes back with the same number.
    apply_ok(ctx, T2, vec![create("u-ada", "100", "Ada")]).await;
    assert_eq!(
        get(ctx, "100").await.graph_user_id.as_deref(),
        Some("u-ada")
    );
    assert!(
        ctx.ext
            .planning_snapshot()
            .await
            .unwrap()
            .remembered
            .is_empty()
    );
}

pub async fn audit_log_filters_and_limits(ctx: &Ctx<'_>) {
    for n in ["200", "201"] {
        ctx.ext
            .create_local_extension(n, &fields("Ada"), "admin:alice", ts(T0))
            .await
            .unwrap();
    }
    for office in ["A", "B", "C"] {
        let mut f = fields("Ada");
        f.office = office.into();
        ctx.ext
            .edit_extension("200", &f, "admin:alice", ts(T1))
            .await
            .unwrap();
    }
    assert_eq!(ctx.ext.audit_log(None, 100).await.unwrap().len(), 5);
    assert_eq!(ctx.ext.audit_log(None, 0).await.unwrap().len(), 0);
    let two = ctx.ext.audit_log(Some("200"), 2).await.unwrap();
    assert_eq!(two.len(), 2);
    assert_eq!(two[0].detail["changes"][0]["after"], "C", "newest first");
    assert_eq!(two[1].detail["changes"][0]["after"], "B");
    assert_eq!(ctx.ext.audit_log(Some("201"), 100).await.unwrap().len(), 1);
    assert!(
        ctx.ext
            .audit_log(Some("999"), 100)
            .await
            .unwrap()
            .is_empty()
    );

    // A corrupt detail is reported, naming the column.
    let mut raw = ctx.raw().await;
    sqlx::query("UPDATE audit_log SET detail = '{oops' WHERE number = '201'")
        .execute(&mut raw)
        .await
        .unwrap();
    let err = ctx.ext.audit_log(Some("201"), 10).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Corrupt(m) if m.contains("audit_log.detail")),
        "{err:?}"
    );
}
