use crate::{Ctx, ts};
use jiff::Timestamp;
use switchboard_core::office365::{
    CertificateInfo, ClientId, Connection, ConnectionStatus, ConsentState, SigningAlgorithm,
    StoredCredential, TenantRef,
};
use switchboard_core::ports::StoreError;

fn credential(n: u8) -> StoredCredential {
    StoredCredential {
        certificate_pem: format!(
            "-----BEGIN CERTIFICATE-----\nMIIB{n}\n-----END CERTIFICATE-----\n"
        ),
        key_ref: format!("0000000{n}-0000-4000-8000-000000000000.key"),
        info: CertificateInfo {
            subject: format!("CN=Switchboard {n}"),
            thumbprint_sha1: format!("AB{n}"),
            thumbprint_sha256: format!("CD{n}"),
            x5t: format!("x5t-{n}"),
            x5t_s256: format!("x5t-s256-{n}"),
            not_before: ts("2026-01-01T00:00:00Z"),
            not_after: ts("2028-01-01T00:00:00.125Z"),
        },
        created_at: ts("2026-01-01T00:00:01.5Z"),
    }
}

pub fn full_connection() -> Connection {
    Connection {
        client_id: Some(ClientId::parse("1b3c5d7e-0000-4000-8000-1234567890ab").unwrap()),
        tenant: Some(TenantRef::parse("contoso.onmicrosoft.com").unwrap()),
        tenant_id: Some("72f988bf-86f1-41af-91ab-2d7cd011db47".into()),
        organization_name: Some("Contoso \"Ltd\" — ünïcode".into()),
        algorithm: SigningAlgorithm::Ps256,
        active: Some(credential(1)),
        pending: Some(credential(2)),
        consent: ConsentState::Granted,
        status: ConnectionStatus::Connected,
        message: "Connected to Contoso.\nAll good.".into(),
        granted_roles: vec!["User.Read.All".into(), "Contacts.Read".into()],
        last_token_at: Some(ts("2026-03-04T05:06:07.089Z")),
        updated_at: Some(ts("2026-03-04T05:06:08Z")),
    }
}

pub async fn empty_store_loads_the_default(ctx: &Ctx<'_>) {
    let loaded = ctx.store.load_connection().await.unwrap();
    assert_eq!(loaded, Connection::default());
    assert_eq!(loaded.status, ConnectionStatus::NotConfigured);
}

pub async fn round_trips_every_field(ctx: &Ctx<'_>) {
    let conn = full_connection();
    ctx.store.save_connection(&conn).await.unwrap();
    let loaded = ctx.store.load_connection().await.unwrap();
    assert_eq!(loaded, conn);
    assert_eq!(
        loaded.active.as_ref().unwrap().key_ref,
        credential(1).key_ref
    );
    assert_eq!(loaded.pending.as_ref().unwrap().info, credential(2).info);
    assert_eq!(loaded.granted_roles, ["User.Read.All", "Contacts.Read"]);
}

pub async fn save_overwrites_the_single_row(ctx: &Ctx<'_>) {
    ctx.store.save_connection(&full_connection()).await.unwrap();
    let mut next = Connection {
        client_id: Some(ClientId::parse("2b3c5d7e-0000-4000-8000-1234567890ab").unwrap()),
        tenant: Some(TenantRef::parse("72f988bf-86f1-41af-91ab-2d7cd011db47").unwrap()),
        status: ConnectionStatus::AwaitingConsent,
        consent: ConsentState::Requested,
        message: "waiting".into(),
        ..Connection::default()
    };
    ctx.store.save_connection(&next).await.unwrap();
    // Everything the second save left empty is empty again: an overwrite, not a merge.
    assert_eq!(ctx.store.load_connection().await.unwrap(), next);

    next.pending = Some(credential(3));
    next.granted_roles = vec!["Calendars.Read".into()];
    ctx.store.save_connection(&next).await.unwrap();
    assert_eq!(ctx.store.load_connection().await.unwrap(), next);

    let mut raw = ctx.raw().await;
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM connection")
        .fetch_one(&mut raw)
        .await
        .unwrap();
    assert_eq!(rows, 1);
}

pub async fn keeps_millisecond_precision(ctx: &Ctx<'_>) {
    let precise: Timestamp = ts("2026-03-04T05:06:07.123456789Z");
    let conn = Connection {
        updated_at: Some(precise),
        last_token_at: Some(ts("1969-12-31T23:59:59.5Z")),
        ..Connection::default()
    };
    ctx.store.save_connection(&conn).await.unwrap();
    let loaded = ctx.store.load_connection().await.unwrap();
    assert_eq!(loaded.updated_at, Some(ts("2026-03-04T05:06:07.123Z")));
    assert_eq!(loaded.last_token_at, Some(ts("1969-12-31T23:59:59.5Z")));
}

async fn corrupt(ctx: &Ctx<'_>, update: &'static str) -> StoreError {
    ctx.store.save_connection(&full_connection()).await.unwrap();
    let mut raw = ctx.raw().await;
    sqlx::query(update).execute(&mut raw).await.unwrap();
    ctx.store
        .load_connection()
        .await
        .expect_err("corrupt data must not load")
}

fn assert_corrupt(err: &StoreError, column: &str) {
    match err {
        StoreError::Corrupt(message) => {
            assert!(message.contains(column), "{message:?} should name {column}")
        }
        other => panic!("expected Corrupt naming {column}, got {other:?}"),
    }
}

pub async fn corrupt_credential_json_is_reported(ctx: &Ctx<'_>) {
    let err = corrupt(ctx, "UPDATE connection SET active_credential = '{not json'").await;
    assert_corrupt(&err, "active_credential");
    let err = corrupt(
        ctx,
        "UPDATE connection SET pending_credential = '{\"key_ref\": \"x\"}'",
    )
    .await;
    assert_corrupt(&err, "pending_credential");
    let err = corrupt(ctx, "UPDATE connection SET granted_roles = '[1, 2'").await;
    assert_corrupt(&err, "granted_roles");
}

pub async fn corrupt_columns_are_reported(ctx: &Ctx<'_>) {
    let err = corrupt(ctx, "UPDATE connection SET client_id = 'not-a-guid'").await;
    assert_corrupt(&err, "client_id");
    let err = corrupt(ctx, "UPDATE connection SET tenant = 'common'").await;
    assert_corrupt(&err, "tenant");
    let err = corrupt(ctx, "UPDATE connection SET algorithm = 'HS256'").await;
    assert_corrupt(&err, "algorithm");
    let err = corrupt(ctx, "UPDATE connection SET status = 'happy'").await;
    assert_corrupt(&err, "status");
    let err = corrupt(ctx, "UPDATE connection SET consent = 'maybe'").await;
    assert_corrupt(&err, "consent");
    let err = corrupt(
        ctx,
        "UPDATE connection SET updated_at = 9223372036854775807",
    )
    .await;
    assert_corrupt(&err, "updated_at");
}
