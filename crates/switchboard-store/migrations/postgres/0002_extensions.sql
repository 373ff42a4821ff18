-- Extensions and their groups, tombstones of deleted synced extensions, the audit log, sync runs,
-- sync state and runtime settings.
-- Timestamps are BIGINT Unix milliseconds; JSON is TEXT; flags are BOOLEAN here and INTEGER 0/1
-- on SQLite (the store binds and reads both as bool).
-- Keep in step with migrations/sqlite/0002_extensions.sql.

-- Numbers collate bytewise ("C"), as SQLite's BINARY does: ordering and keyset paging agree on
-- both engines.
CREATE TABLE extensions (
    number         TEXT    COLLATE "C" PRIMARY KEY NOT NULL,
    origin         TEXT    NOT NULL CHECK (origin IN ('azure_ad', 'local')),
    graph_user_id  TEXT    UNIQUE,
    first_name     TEXT    NOT NULL DEFAULT '',
    last_name      TEXT    NOT NULL DEFAULT '',
    display_name   TEXT    NOT NULL DEFAULT '',
    email          TEXT    NOT NULL DEFAULT '',
    upn            TEXT    NOT NULL DEFAULT '',
    mobile         TEXT    NOT NULL DEFAULT '',
    business_phone TEXT    NOT NULL DEFAULT '',
    job_title      TEXT    NOT NULL DEFAULT '',
    department     TEXT    NOT NULL DEFAULT '',
    office         TEXT    NOT NULL DEFAULT '',
    enabled        BOOLEAN NOT NULL DEFAULT TRUE,
    excluded       BOOLEAN NOT NULL DEFAULT FALSE,
    created_at     BIGINT  NOT NULL,
    updated_at     BIGINT  NOT NULL,
    synced_at      BIGINT,
    -- A synced extension always knows its user; a local one never has one.
    CHECK ((origin = 'azure_ad') = (graph_user_id IS NOT NULL))
);
-- Adoption candidates (planning snapshot).
CREATE INDEX extensions_origin_email ON extensions (origin, email);

CREATE TABLE extension_groups (
    number     TEXT COLLATE "C" NOT NULL REFERENCES extensions (number) ON DELETE CASCADE,
    group_name TEXT NOT NULL,
    PRIMARY KEY (number, group_name)
);
CREATE INDEX extension_groups_group_name ON extension_groups (group_name, number);

-- A synced extension that was deleted: the user gets the same number back when restored.
CREATE TABLE extension_tombstones (
    graph_user_id TEXT   PRIMARY KEY NOT NULL,
    number        TEXT   COLLATE "C" NOT NULL,
    deleted_at    BIGINT NOT NULL
);

-- No foreign key to extensions: the history outlives the extension.
CREATE TABLE audit_log (
    id            BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at            BIGINT  NOT NULL,
    actor         TEXT    NOT NULL,
    action        TEXT    NOT NULL,
    number        TEXT    COLLATE "C",
    graph_user_id TEXT,
    -- The sync run that made the change (NULL for console/API changes).
    run_id        TEXT,
    detail        TEXT    NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_number_id ON audit_log (number, id);

CREATE TABLE sync_runs (
    id          TEXT   PRIMARY KEY NOT NULL,
    kind        TEXT   NOT NULL,
    mode        TEXT   NOT NULL,
    started_at  BIGINT NOT NULL,
    finished_at BIGINT,
    created     BIGINT NOT NULL DEFAULT 0,
    updated     BIGINT NOT NULL DEFAULT 0,
    disabled    BIGINT NOT NULL DEFAULT 0,
    enabled     BIGINT NOT NULL DEFAULT 0,
    removed     BIGINT NOT NULL DEFAULT 0,
    skipped     BIGINT NOT NULL DEFAULT 0,
    processed   BIGINT NOT NULL DEFAULT 0,
    error       TEXT
);
CREATE INDEX sync_runs_kind_started_at ON sync_runs (kind, started_at);

CREATE TABLE sync_state (
    key            TEXT PRIMARY KEY NOT NULL,
    delta_link     TEXT,
    last_full_sync BIGINT,
    last_error     TEXT
);

CREATE TABLE settings (
    key        TEXT   PRIMARY KEY NOT NULL,
    value      TEXT   NOT NULL,
    updated_at BIGINT NOT NULL
);
