//! Changes an admin (console) or API client makes to extensions, each in one transaction with
//! its audit entry. A change that changes nothing writes nothing, not even an audit entry.

use crate::audit::{self, NewEntry};
use crate::extensions::{self, origin_str};
use crate::open::Engine;
use crate::support::{begin_write, commit, db_error, is_unique_violation};
use jiff::Timestamp;
use serde_json::json;
use sqlx::{Any, AnyPool, Transaction};
use switchboard_core::ports::StoreError;
use switchboard_core::users::{Extension, Origin, SyncedFields};

/// Records the change in the audit log and commits it with the write it describes.
async fn audit_and_commit(
    mut tx: Transaction<'static, Any>,
    entry: &NewEntry<'_>,
    doing: &str,
) -> Result<(), StoreError> {
    audit::write(&mut tx, entry)
        .await
        .map_err(|e| db_error(doing, e))?;
    commit(tx, doing).await
}

/// The longest extension number (E.164 allows 15 digits).
const MAX_NUMBER_DIGITS: usize = 15;

/// An extension number is 1 to 15 ASCII digits.
fn check_number(number: &str) -> Result<(), StoreError> {
    let valid = (1..=MAX_NUMBER_DIGITS).contains(&number.len())
        && number.bytes().all(|b| b.is_ascii_digit());
    if valid {
        Ok(())
    } else {
        Err(StoreError::Database(format!(
            "creating an extension: \"{number}\" is not an extension number \
             (1 to {MAX_NUMBER_DIGITS} digits)"
        )))
    }
}

pub(crate) async fn create(
    pool: &AnyPool,
    engine: Engine,
    number: &str,
    fields: &SyncedFields,
    actor: &str,
    at: Timestamp,
) -> Result<(), StoreError> {
    const DOING: &str = "creating a local extension";
    check_number(number)?;
    let ext = Extension {
        number: number.to_owned(),
        origin: Origin::Local,
        graph_user_id: None,
        fields: fields.clone(),
        enabled: true,
        excluded: false,
    };
    let mut tx = begin_write(pool, engine, DOING).await?;
    extensions::insert(&mut tx, &ext, at).await.map_err(|e| {
        if is_unique_violation(&e) {
            StoreError::Conflict(format!("extension {number}"))
        } else {
            db_error(DOING, e)
        }
    })?;
    let entry = NewEntry {
        at,
        actor,
        action: "local_create",
        number,
        graph_user_id: None,
        detail: json!({ "fields": fields }),
    };
    audit_and_commit(tx, &entry, DOING).await
}

pub(crate) async fn edit(
    pool: &AnyPool,
    engine: Engine,
    number: &str,
    fields: &SyncedFields,
    actor: &str,
    at: Timestamp,
) -> Result<bool, StoreError> {
    const DOING: &str = "editing an extension";
    let mut tx = begin_write(pool, engine, DOING).await?;
    let Some(stored) = extensions::find_for_update(&mut tx, engine, number).await? else {
        commit(tx, DOING).await?;
        return Ok(false);
    };
    let changes = stored.ext.fields.changes_to(fields);
    if changes.is_empty() {
        commit(tx, DOING).await?;
        return Ok(true);
    }
    let mut target = stored.ext;
    target.fields = fields.clone();
    extensions::update_local(&mut tx, &target, at)
        .await
        .map_err(|e| db_error(DOING, e))?;
    let entry = NewEntry {
        at,
        actor,
        action: "local_edit",
        number,
        graph_user_id: target.graph_user_id.as_deref(),
        detail: json!({ "changes": changes }),
    };
    audit_and_commit(tx, &entry, DOING).await?;
    Ok(true)
}

pub(crate) async fn set_excluded(
    pool: &AnyPool,
    engine: Engine,
    number: &str,
    excluded: bool,
    actor: &str,
    at: Timestamp,
) -> Result<bool, StoreError> {
    const DOING: &str = "excluding or including an extension";
    let mut tx = begin_write(pool, engine, DOING).await?;
    let Some(stored) = extensions::find_for_update(&mut tx, engine, number).await? else {
        commit(tx, DOING).await?;
        return Ok(false);
    };
    if stored.ext.excluded == excluded {
        commit(tx, DOING).await?;
        return Ok(true);
    }
    let mut target = stored.ext;
    target.excluded = excluded;
    extensions::update_local(&mut tx, &target, at)
        .await
        .map_err(|e| db_error(DOING, e))?;
    let entry = NewEntry {
        at,
        actor,
        action: if excluded { "exclude" } else { "include" },
        number,
        graph_user_id: target.graph_user_id.as_deref(),
        detail: json!({ "excluded": { "before": !excluded, "after": excluded } }),
    };
    audit_and_commit(tx, &entry, DOING).await?;
    Ok(true)
}

pub(crate) async fn delete(
    pool: &AnyPool,
    engine: Engine,
    number: &str,
    actor: &str,
    at: Timestamp,
) -> Result<bool, StoreError> {
    const DOING: &str = "deleting an extension";
    let mut tx = begin_write(pool, engine, DOING).await?;
    let Some(stored) = extensions::find_for_update(&mut tx, engine, number).await? else {
        commit(tx, DOING).await?;
        return Ok(false);
    };
    extensions::delete(&mut tx, &stored.ext, at)
        .await
        .map_err(|e| db_error(DOING, e))?;
    let entry = NewEntry {
        at,
        actor,
        action: "delete",
        number,
        graph_user_id: stored.ext.graph_user_id.as_deref(),
        detail: json!({ "origin": origin_str(stored.ext.origin) }),
    };
    audit_and_commit(tx, &entry, DOING).await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::check_number;

    #[test]
    fn numbers_are_one_to_fifteen_digits() {
        for ok in ["1", "100", "123456789012345"] {
            assert!(check_number(ok).is_ok(), "{ok}");
        }
        for bad in ["", "1234567890123456", "10a", " 100", "-1", "１２"] {
            assert!(check_number(bad).is_err(), "{bad:?}");
        }
    }
}
