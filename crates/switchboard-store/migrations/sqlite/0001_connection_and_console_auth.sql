-- Office 365 connection, admin-consent nonces, console admins, sessions and API tokens.
-- Timestamps are BIGINT Unix milliseconds (sqlx::Any has no time types); JSON is TEXT.
-- Keep in step with migrations/postgres/0001_connection_and_console_auth.sql.

CREATE TABLE connection (
    id                 INTEGER PRIMARY KEY CHECK (id = 1),
    client_id          TEXT,
    tenant             TEXT,
    tenant_id          TEXT,
    organization_name  TEXT,
    algorithm          TEXT    NOT NULL,
    active_credential  TEXT,
    pending_credential TEXT,
    consent            TEXT    NOT NULL,
    status             TEXT    NOT NULL,
    message            TEXT    NOT NULL DEFAULT '',
    granted_roles      TEXT    NOT NULL DEFAULT '[]',
    last_token_at      BIGINT,
    updated_at         BIGINT
);

CREATE TABLE consent_states (
    state      TEXT   PRIMARY KEY NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX consent_states_expires_at ON consent_states (expires_at);

CREATE TABLE admins (
    username      TEXT   PRIMARY KEY NOT NULL,
    password_hash TEXT   NOT NULL,
    created_at    BIGINT NOT NULL
);

CREATE TABLE sessions (
    id_hash    TEXT   PRIMARY KEY NOT NULL,
    username   TEXT   NOT NULL REFERENCES admins (username) ON DELETE CASCADE,
    csrf_token TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_username ON sessions (username);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

CREATE TABLE api_tokens (
    token_hash TEXT   PRIMARY KEY NOT NULL,
    name       TEXT   NOT NULL,
    username   TEXT   NOT NULL REFERENCES admins (username) ON DELETE CASCADE,
    created_at BIGINT NOT NULL
);
CREATE INDEX api_tokens_username ON api_tokens (username);
