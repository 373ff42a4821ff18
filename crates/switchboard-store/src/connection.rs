//! The Office 365 connection: a single row (`id = 1`).

use crate::support::{column, db_error, millis, optional_timestamp_column};
use sqlx::AnyPool;
use sqlx::any::AnyRow;
use switchboard_core::office365::{
    ClientId, Connection, ConnectionStatus, ConsentState, SigningAlgorithm, StoredCredential,
    TenantRef,
};
use switchboard_core::ports::StoreError;

const TABLE: &str = "connection";

pub(crate) async fn load(pool: &AnyPool) -> Result<Connection, StoreError> {
    let row = sqlx::query(
        "SELECT client_id, tenant, tenant_id, organization_name, algorithm, active_credential, \
                pending_credential, consent, status, message, granted_roles, last_token_at, \
                updated_at \
         FROM connection WHERE id = 1",
    )
    .fetch_optional(pool)
    .await
    .map_err(|e| db_error("loading the connection", e))?;
    match row {
        Some(row) => decode(&row),
        None => Ok(Connection::default()),
    }
}

pub(crate) async fn save(pool: &AnyPool, c: &Connection) -> Result<(), StoreError> {
    let active = c.active.as_ref().map(encode_credential).transpose()?;
    let pending = c.pending.as_ref().map(encode_credential).transpose()?;
    let roles = serde_json::to_string(&c.granted_roles).map_err(|e| {
        StoreError::Database(format!(
            "saving the connection: encoding granted_roles: {e}"
        ))
    })?;
    sqlx::query(
        "INSERT INTO connection (id, client_id, tenant, tenant_id, organization_name, algorithm, \
                active_credential, pending_credential, consent, status, message, granted_roles, \
                last_token_at, updated_at) \
         VALUES (1, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
         ON CONFLICT (id) DO UPDATE SET \
                client_id = excluded.client_id, \
                tenant = excluded.tenant, \
                tenant_id = excluded.tenant_id, \
                organization_name = excluded.organization_name, \
                algorithm = excluded.algorithm, \
                active_credential = excluded.active_credential, \
                pending_credential = excluded.pending_credential, \
                consent = excluded.consent, \
                status = excluded.status, \
                message = excluded.message, \
                granted_roles = excluded.granted_roles, \
                last_token_at = excluded.last_token_at, \
                updated_at = excluded.updated_at",
    )
    .bind(c.client_id.as_ref().map(|id| id.as_str().to_owned()))
    .bind(c.tenant.as_ref().map(|t| t.as_str().to_owned()))
    .bind(c.tenant_id.clone())
    .bind(c.organization_name.clone())
    .bind(c.algorithm.as_str())
    .bind(active)
    .bind(pending)
    .bind(c.consent.as_str())
    .bind(c.status.as_str())
    .bind(c.message.as_str())
    .bind(roles)
    .bind(c.last_token_at.map(millis))
    .bind(c.updated_at.map(millis))
    .execute(pool)
    .await
    .map_err(|e| db_error("saving the connection", e))?;
    Ok(())
}

fn encode_credential(credential: &StoredCredential) -> Result<String, StoreError> {
    serde_json::to_string(credential).map_err(|e| {
        StoreError::Database(format!("saving the connection: encoding a credential: {e}"))
    })
}

fn decode(row: &AnyRow) -> Result<Connection, StoreError> {
    let text = |name: &str| column::<Option<String>>(row, TABLE, name);
    let required = |name: &str| column::<String>(row, TABLE, name);
    let corrupt = |name: &str, why: String| StoreError::Corrupt(format!("{TABLE}.{name}: {why}"));

    let client_id = text("client_id")?
        .map(|s| ClientId::parse(&s).map_err(|e| corrupt("client_id", e.to_string())))
        .transpose()?;
    let tenant = text("tenant")?
        .map(|s| TenantRef::parse(&s).map_err(|e| corrupt("tenant", e.to_string())))
        .transpose()?;
    let algorithm = required("algorithm")?;
    let algorithm = SigningAlgorithm::parse(&algorithm)
        .ok_or_else(|| corrupt("algorithm", format!("unknown algorithm \"{algorithm}\"")))?;
    let credential = |name: &str| -> Result<Option<StoredCredential>, StoreError> {
        text(name)?
            .map(|json| {
                serde_json::from_str::<StoredCredential>(&json)
                    .map_err(|e| corrupt(name, format!("invalid JSON: {e}")))
            })
            .transpose()
    };
    let consent = required("consent")?;
    let consent = ConsentState::parse(&consent)
        .ok_or_else(|| corrupt("consent", format!("unknown consent state \"{consent}\"")))?;
    let status = required("status")?;
    let status = ConnectionStatus::parse(&status)
        .ok_or_else(|| corrupt("status", format!("unknown status \"{status}\"")))?;
    let roles = required("granted_roles")?;
    let granted_roles = serde_json::from_str::<Vec<String>>(&roles)
        .map_err(|e| corrupt("granted_roles", format!("invalid JSON: {e}")))?;

    Ok(Connection {
        client_id,
        tenant,
        tenant_id: text("tenant_id")?,
        organization_name: text("organization_name")?,
        algorithm,
        active: credential("active_credential")?,
        pending: credential("pending_credential")?,
        consent,
        status,
        message: required("message")?,
        granted_roles,
        last_token_at: optional_timestamp_column(row, TABLE, "last_token_at")?,
        updated_at: optional_timestamp_column(row, TABLE, "updated_at")?,
    })
}
