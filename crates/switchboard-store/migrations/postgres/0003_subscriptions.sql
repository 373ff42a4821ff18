-- Microsoft Graph change-notification subscriptions and the notifications received for them.
-- Timestamps are BIGINT Unix milliseconds.
-- Keep in step with migrations/sqlite/0003_subscriptions.sql.

-- Only a SHA-256 (lower-case hex) of the clientState is kept, never the secret itself.
CREATE TABLE graph_subscriptions (
    id                  TEXT   PRIMARY KEY NOT NULL,
    resource            TEXT   NOT NULL,
    expires_at          BIGINT NOT NULL,
    client_state_sha256 TEXT   NOT NULL,
    created_at          BIGINT NOT NULL,
    renewed_at          BIGINT NOT NULL
);
CREATE INDEX graph_subscriptions_expires_at ON graph_subscriptions (expires_at);

-- Notifications that passed the clientState check, kept (for 7 days) to drop Graph's repeated
-- deliveries. An absent resource id or sequence number (lifecycle events) is stored as '': NULLs
-- are distinct in a UNIQUE constraint, so they would never count as duplicates. No foreign key
-- to graph_subscriptions: a lifecycle event may outlive its subscription.
CREATE TABLE graph_notifications (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscription_id TEXT   NOT NULL,
    change_type     TEXT   NOT NULL,
    resource_id     TEXT   NOT NULL DEFAULT '',
    sequence        TEXT   NOT NULL DEFAULT '',
    received_at     BIGINT NOT NULL,
    UNIQUE (subscription_id, change_type, resource_id, sequence)
);
-- The purge of old notifications on every insert.
CREATE INDEX graph_notifications_received_at ON graph_notifications (received_at);
