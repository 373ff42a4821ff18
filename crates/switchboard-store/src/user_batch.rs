//! Applying a user-sync batch: every action of it in ONE transaction, each change audited and the
//! group "Azure AD" kept in step.
//!
//! Department groups (`UserSyncBatch::department_groups`): each synced extension the batch
//! creates, adopts or updates (or finds already created or adopted) leaves every group named
//! "Department: …" and, with the option on, joins the group of its current department (none for
//! an empty department). Other groups are never touched.
//!
//! The rows the batch touches are read (and on PostgreSQL locked) up front, in a few `IN (…)`
//! queries; each action is then checked against that state, kept current in memory. Writes are
//! collected and sent as multi-row statements (64 extensions, 500 group rows or 200 audit entries
//! per statement, so a batch of 1,000 creates is about 30 statements, each prepared once per
//! connection and reused): extension rows are flushed before any delete so the order of the
//! actions holds; groups and audit entries are written last.
//!
//! Rules (the store agrees with `switchboard_core::users::apply` on every plan the core makes):
//! - Applying a batch again changes nothing and audits nothing: an action whose effect is already
//!   there writes nothing (a `Create` for a number the same user already holds is an update).
//! - A `Create` or `Adopt` for a number held by another user, a `Create` for a user who already
//!   holds another number, or an `Update` of a number held by someone else is a `Conflict`, and
//!   the whole batch is rolled back.
//! - An `Adopt`, `Update`, `SetEnabled` or `Delete` of a number that no longer exists does
//!   nothing (an admin deleted it since the plan), nor does any action on an extension the admin
//!   excluded from sync since the plan.

use crate::audit::{self, BatchEntry};
use crate::extensions::{self, field_mut};
use crate::open::Engine;
use crate::support::{
    IN_CHUNK, begin_write, cache_statement, commit, db_error, is_unique_violation, placeholders,
};
use jiff::Timestamp;
use serde_json::{Value, json};
use sqlx::{AnyConnection, AnyPool, AssertSqlSafe};
use std::collections::{BTreeMap, HashMap, HashSet};
use switchboard_core::ports::StoreError;
use switchboard_core::users::{
    AZURE_AD_GROUP, Action, DEPARTMENT_GROUP_PREFIX, Extension, FieldChange, Origin, SyncedFields,
    UserSyncBatch, department_group,
};

const DOING: &str = "applying a user sync batch";

pub(crate) async fn apply(
    pool: &AnyPool,
    engine: Engine,
    batch: &UserSyncBatch,
) -> Result<(), StoreError> {
    if !batch.actions.iter().any(Action::changes_anything) {
        return Ok(());
    }
    let mut tx = begin_write(pool, engine, DOING).await?;
    let mut state = State::load(&mut tx, engine, &batch.actions).await?;
    let mut run = Run {
        conn: &mut tx,
        batch,
        rows: Vec::new(),
        row_of: HashMap::new(),
        claimed: Vec::new(),
        touched: Vec::new(),
        fresh: HashSet::new(),
        audit: Vec::new(),
    };
    for action in &batch.actions {
        run.action(&mut state, action).await?;
    }
    run.finish(&state).await?;
    commit(tx, DOING).await
}

/// What the batch has seen of the database, kept current as its actions are applied.
#[derive(Debug)]
struct State {
    by_number: BTreeMap<String, Extension>,
    number_of_user: HashMap<String, String>,
    tombstoned: HashSet<String>,
}

impl State {
    /// Locks and reads the numbers the actions name, which other numbers their users hold, and
    /// which of the users to be given an extension have a tombstone.
    async fn load(
        conn: &mut AnyConnection,
        engine: Engine,
        actions: &[Action],
    ) -> Result<Self, StoreError> {
        let mut numbers = HashSet::new();
        let mut users = HashSet::new();
        let mut claiming = HashSet::new();
        for action in actions {
            match action {
                Action::Create {
                    user_id, number, ..
                }
                | Action::Adopt {
                    user_id, number, ..
                } => {
                    numbers.insert(number.as_str());
                    users.insert(user_id.as_str());
                    claiming.insert(user_id.as_str());
                }
                Action::Update {
                    user_id, number, ..
                } => {
                    numbers.insert(number.as_str());
                    users.insert(user_id.as_str());
                }
                Action::SetEnabled { number, .. } | Action::Delete { number, .. } => {
                    numbers.insert(number.as_str());
                }
                Action::Skip { .. } => {}
            }
        }
        // Sorted, so concurrent batches lock rows in the same order.
        let mut numbers: Vec<&str> = numbers.into_iter().collect();
        numbers.sort_unstable();
        let by_number = extensions::find_many_for_update(conn, engine, &numbers).await?;
        let mut number_of_user: HashMap<String, String> = by_number
            .values()
            .filter_map(|e| Some((e.graph_user_id.clone()?, e.number.clone())))
            .collect();
        // Users not found on the numbers above may hold another one.
        let unresolved: Vec<&str> = users
            .into_iter()
            .filter(|u| !number_of_user.contains_key(*u))
            .collect();
        number_of_user.extend(extensions::numbers_of_users(conn, engine, &unresolved).await?);
        let claiming: Vec<&str> = claiming.into_iter().collect();
        let tombstoned = extensions::tombstoned_among(conn, &claiming).await?;
        Ok(Self {
            by_number,
            number_of_user,
            tombstoned,
        })
    }

    /// Who holds a number, for conflict messages.
    fn holder(ext: &Extension) -> String {
        match &ext.graph_user_id {
            Some(user) => format!("of Entra user {user}"),
            None => "local".to_owned(),
        }
    }
}

struct Run<'c, 'b> {
    conn: &'c mut AnyConnection,
    batch: &'b UserSyncBatch,
    /// Extension rows to write (the latest version of each number) …
    rows: Vec<Extension>,
    row_of: HashMap<String, usize>,
    /// … numbers that belong in the group "Azure AD" …
    claimed: Vec<String>,
    /// … synced numbers created, adopted or updated (their department groups are set) …
    touched: Vec<String>,
    /// … of which rows that did not exist before this batch (they are in no group yet) …
    fresh: HashSet<String>,
    /// … and the audit entries, in order.
    audit: Vec<BatchEntry>,
}

impl Run<'_, '_> {
    fn at(&self) -> Timestamp {
        self.batch.at
    }

    /// Queues the row; a later version of the same number replaces it.
    fn write(&mut self, ext: Extension) {
        match self.row_of.get(&ext.number) {
            Some(&i) => self.rows[i] = ext,
            None => {
                self.row_of.insert(ext.number.clone(), self.rows.len());
                self.rows.push(ext);
            }
        }
    }

    async fn flush_rows(&mut self) -> Result<(), StoreError> {
        if self.rows.is_empty() {
            return Ok(());
        }
        extensions::upsert_synced(self.conn, &self.rows, self.batch.at)
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    // The checks above saw no conflict: a concurrent writer made one.
                    StoreError::Conflict("an extension this batch writes".into())
                } else {
                    db_error(DOING, e)
                }
            })?;
        self.rows.clear();
        self.row_of.clear();
        Ok(())
    }

    /// Writes what is still queued: rows, then group memberships (of the numbers that still
    /// exist), then the audit entries.
    async fn finish(&mut self, state: &State) -> Result<(), StoreError> {
        self.flush_rows().await?;
        let mut seen = HashSet::new();
        let claimed: Vec<&str> = self
            .claimed
            .iter()
            .map(String::as_str)
            .filter(|n| state.by_number.contains_key(*n) && seen.insert(*n))
            .collect();
        extensions::add_to_group(self.conn, &claimed, AZURE_AD_GROUP)
            .await
            .map_err(|e| db_error(DOING, e))?;
        self.set_department_groups(state).await?;
        let b = self.batch;
        audit::write_batch(self.conn, b.at, &b.actor, &b.run_id, &self.audit)
            .await
            .map_err(|e| db_error(DOING, e))
    }

    /// Takes the touched synced extensions out of every "Department: …" group and, with the
    /// option on, puts each in the group of its department.
    async fn set_department_groups(&mut self, state: &State) -> Result<(), StoreError> {
        let mut seen = HashSet::new();
        let touched: Vec<&Extension> = self
            .touched
            .iter()
            .filter(|n| seen.insert(n.as_str()))
            .filter_map(|n| state.by_number.get(n))
            .filter(|e| e.origin == Origin::AzureAd && !e.excluded)
            .collect();
        if touched.is_empty() {
            return Ok(());
        }
        // Rows created by this batch are in no department group yet: nothing to leave.
        let numbers: Vec<&str> = touched
            .iter()
            .map(|e| e.number.as_str())
            .filter(|n| !self.fresh.contains(*n))
            .collect();
        if !numbers.is_empty() {
            leave_department_groups(self.conn, &numbers)
                .await
                .map_err(|e| db_error(DOING, e))?;
        }
        if !self.batch.department_groups {
            return Ok(());
        }
        let mut by_group: BTreeMap<String, Vec<&str>> = BTreeMap::new();
        for e in &touched {
            if let Some(group) = department_group(&e.fields.department) {
                by_group.entry(group).or_default().push(e.number.as_str());
            }
        }
        for (group, numbers) in &by_group {
            extensions::add_to_group(self.conn, numbers, group)
                .await
                .map_err(|e| db_error(DOING, e))?;
        }
        Ok(())
    }

    async fn action(&mut self, state: &mut State, action: &Action) -> Result<(), StoreError> {
        match action {
            Action::Create {
                user_id,
                number,
                fields,
                enabled,
            } => self.create(state, user_id, number, fields, *enabled).await,
            Action::Adopt {
                user_id,
                number,
                changes,
                enabled,
            } => self.adopt(state, user_id, number, changes, *enabled).await,
            Action::Update {
                user_id,
                number,
                changes,
            } => self.update(state, user_id, number, changes).await,
            Action::SetEnabled {
                number,
                enabled,
                reason,
            } => {
                let Some(current) = state.by_number.get(number).filter(|e| !e.excluded) else {
                    return Ok(());
                };
                let mut target = current.clone();
                target.enabled = *enabled;
                let reason = reason.map(|r| json!(r));
                self.converge(state, target, reason).await
            }
            Action::Delete { number, reason } => {
                let Some(current) = state.by_number.get(number).filter(|e| !e.excluded) else {
                    return Ok(());
                };
                let gone = current.clone();
                self.flush_rows().await?;
                extensions::delete(self.conn, &gone, self.at())
                    .await
                    .map_err(|e| db_error(DOING, e))?;
                self.audit("delete", &gone, json!({ "reason": reason }));
                state.by_number.remove(number);
                if let Some(user) = &gone.graph_user_id {
                    state.number_of_user.remove(user);
                    state.tombstoned.insert(user.clone());
                }
                Ok(())
            }
            Action::Skip { .. } => Ok(()),
        }
    }

    async fn create(
        &mut self,
        state: &mut State,
        user_id: &str,
        number: &str,
        fields: &SyncedFields,
        enabled: bool,
    ) -> Result<(), StoreError> {
        if let Some(current) = state.by_number.get(number) {
            if current.graph_user_id.as_deref() != Some(user_id) {
                return Err(StoreError::Conflict(format!(
                    "extension {number} ({})",
                    State::holder(current)
                )));
            }
            if current.excluded {
                return Ok(());
            }
            // Created before (this batch, applied again): bring it up to date.
            let mut target = current.clone();
            target.fields = fields.clone();
            target.enabled = enabled;
            self.converge(state, target, None).await?;
            return self.claim(state, number, user_id).await;
        }
        if let Some(other) = state.number_of_user.get(user_id) {
            return Err(StoreError::Conflict(format!(
                "extension {other} of Entra user {user_id} (asked to create {number})"
            )));
        }
        let ext = Extension {
            number: number.to_owned(),
            origin: Origin::AzureAd,
            graph_user_id: Some(user_id.to_owned()),
            fields: fields.clone(),
            enabled,
            excluded: false,
        };
        self.audit(
            "create",
            &ext,
            json!({ "fields": fields, "enabled": enabled }),
        );
        self.write(ext.clone());
        state
            .number_of_user
            .insert(user_id.to_owned(), number.to_owned());
        state.by_number.insert(number.to_owned(), ext);
        self.fresh.insert(number.to_owned());
        self.claim(state, number, user_id).await
    }

    async fn adopt(
        &mut self,
        state: &mut State,
        user_id: &str,
        number: &str,
        changes: &[FieldChange],
        enabled: bool,
    ) -> Result<(), StoreError> {
        let Some(current) = state.by_number.get(number).filter(|e| !e.excluded) else {
            return Ok(());
        };
        let mut target = current.clone();
        apply_changes(&mut target.fields, changes)?;
        target.enabled = enabled;
        match current.graph_user_id.as_deref() {
            // Adopted before (this batch, applied again): bring it up to date.
            Some(owner) if owner == user_id => {
                self.converge(state, target, None).await?;
                return self.claim(state, number, user_id).await;
            }
            Some(_) => {
                return Err(StoreError::Conflict(format!(
                    "extension {number} ({})",
                    State::holder(current)
                )));
            }
            None => {}
        }
        if let Some(other) = state.number_of_user.get(user_id) {
            return Err(StoreError::Conflict(format!(
                "extension {other} of Entra user {user_id} (asked to adopt {number})"
            )));
        }
        let before = current.clone();
        target.origin = Origin::AzureAd;
        target.graph_user_id = Some(user_id.to_owned());
        let mut detail = json!({
            "origin": { "before": "local", "after": "azure_ad" },
            "changes": before.fields.changes_to(&target.fields),
        });
        if before.enabled != target.enabled {
            detail["enabled"] = json!({ "before": before.enabled, "after": target.enabled });
        }
        self.audit("adopt", &target, detail);
        self.write(target.clone());
        state
            .number_of_user
            .insert(user_id.to_owned(), number.to_owned());
        state.by_number.insert(number.to_owned(), target);
        self.claim(state, number, user_id).await
    }

    async fn update(
        &mut self,
        state: &mut State,
        user_id: &str,
        number: &str,
        changes: &[FieldChange],
    ) -> Result<(), StoreError> {
        let Some(current) = state.by_number.get(number).filter(|e| !e.excluded) else {
            return Ok(());
        };
        if current.graph_user_id.as_deref() != Some(user_id) {
            return Err(StoreError::Conflict(format!(
                "extension {number} ({}, not Entra user {user_id}'s)",
                State::holder(current)
            )));
        }
        let mut target = current.clone();
        apply_changes(&mut target.fields, changes)?;
        self.touched.push(number.to_owned());
        self.converge(state, target, None).await
    }

    /// Makes the stored extension `target` (same number, origin and user): writes the row when
    /// anything differs and audits an `update` for the fields and an `enable`/`disable`.
    async fn converge(
        &mut self,
        state: &mut State,
        target: Extension,
        reason: Option<Value>,
    ) -> Result<(), StoreError> {
        let Some(current) = state.by_number.get(&target.number) else {
            return Ok(());
        };
        let changes = current.fields.changes_to(&target.fields);
        let toggled = current.enabled != target.enabled;
        if changes.is_empty() && !toggled {
            return Ok(());
        }
        if !changes.is_empty() {
            self.audit("update", &target, json!({ "changes": changes }));
        }
        if toggled {
            let action = if target.enabled { "enable" } else { "disable" };
            let detail = match reason {
                Some(reason) => json!({ "reason": reason }),
                None => json!({}),
            };
            self.audit(action, &target, detail);
        }
        self.write(target.clone());
        state.by_number.insert(target.number.clone(), target);
        Ok(())
    }

    /// A synced extension is in the group "Azure AD", and its user has no tombstone any more.
    async fn claim(
        &mut self,
        state: &mut State,
        number: &str,
        user_id: &str,
    ) -> Result<(), StoreError> {
        self.claimed.push(number.to_owned());
        self.touched.push(number.to_owned());
        if state.tombstoned.remove(user_id) {
            extensions::remove_tombstone(self.conn, user_id)
                .await
                .map_err(|e| db_error(DOING, e))?;
        }
        Ok(())
    }

    fn audit(&mut self, action: &'static str, ext: &Extension, detail: Value) {
        self.audit.push(BatchEntry {
            action,
            number: ext.number.clone(),
            graph_user_id: ext.graph_user_id.clone(),
            detail,
        });
    }
}

/// Takes these extensions out of every group named "Department: …".
async fn leave_department_groups(
    conn: &mut AnyConnection,
    numbers: &[&str],
) -> Result<(), sqlx::Error> {
    let prefix_chars = DEPARTMENT_GROUP_PREFIX.chars().count();
    for chunk in numbers.chunks(IN_CHUNK) {
        // `substr`, not `LIKE`: the same case-sensitive match on SQLite and PostgreSQL.
        let sql = format!(
            "DELETE FROM extension_groups WHERE substr(group_name, 1, {prefix_chars}) = $1 \
             AND number IN ({})",
            placeholders(2, chunk.len())
        );
        let mut statement = sqlx::query(AssertSqlSafe(sql))
            .persistent(cache_statement(chunk.len(), IN_CHUNK))
            .bind(DEPARTMENT_GROUP_PREFIX);
        for number in chunk {
            statement = statement.bind(*number);
        }
        statement.execute(&mut *conn).await?;
    }
    Ok(())
}

fn apply_changes(fields: &mut SyncedFields, changes: &[FieldChange]) -> Result<(), StoreError> {
    for change in changes {
        *field_mut(fields, change.field)? = change.after.clone();
    }
    Ok(())
}
