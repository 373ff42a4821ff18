-- Presence: each extension's calendar entries (as calendar sync last read them) and its status.
-- Timestamps are BIGINT Unix milliseconds; flags are BOOLEAN here and INTEGER 0/1 on SQLite
-- (the store binds and reads both as bool).
-- Keep in step with migrations/sqlite/0005_presence.sql.

-- What presence needs of an event and nothing more: no subject, body, location or attendees are
-- ever stored (privacy). Entries with end <= start are kept: they are valid, just never active.
-- Ids and numbers collate bytewise ("C"), as SQLite's BINARY does, so both engines order alike.
CREATE TABLE calendar_entries (
    number       TEXT    COLLATE "C" NOT NULL REFERENCES extensions (number) ON DELETE CASCADE,
    -- Graph's event id (one per occurrence of a series).
    event_id     TEXT    COLLATE "C" NOT NULL,
    start_at     BIGINT  NOT NULL,
    end_at       BIGINT  NOT NULL,
    -- Graph's spelling of showAs.
    show_as      TEXT    NOT NULL
        CHECK (show_as IN ('free', 'tentative', 'busy', 'oof', 'workingElsewhere', 'unknown')),
    is_all_day   BOOLEAN NOT NULL,
    is_cancelled BOOLEAN NOT NULL,
    PRIMARY KEY (number, event_id)
);
-- An extension's entries in the order the store returns them.
CREATE INDEX calendar_entries_number_start ON calendar_entries (number, start_at, event_id);

-- One row per extension whose presence has been saved. No CHECK on the statuses: custom
-- statuses are planned, and the store reports an unknown one as corrupt when reading.
CREATE TABLE presence (
    number           TEXT   COLLATE "C" PRIMARY KEY NOT NULL
        REFERENCES extensions (number) ON DELETE CASCADE,
    status           TEXT   NOT NULL,
    source           TEXT   NOT NULL CHECK (source IN ('manual', 'calendar', 'default')),
    -- When the calendar will next change the status (NULL: nothing due).
    until_at         BIGINT,
    -- The state is complete up to this instant; the machine replays from here.
    as_of            BIGINT NOT NULL,
    -- The calendar block in progress (all NULL outside one): when it started and ends, the
    -- status and source to restore at its end, the entry in charge, and when the user took over.
    block_started_at BIGINT,
    block_ends_at    BIGINT,
    restore_status   TEXT,
    restore_source   TEXT   CHECK (restore_source IN ('manual', 'calendar', 'default')),
    block_entry_id   TEXT,
    overridden_at    BIGINT,
    CHECK ((block_started_at IS NULL) = (block_ends_at IS NULL)
       AND (block_started_at IS NULL) = (restore_status IS NULL)
       AND (block_started_at IS NULL) = (restore_source IS NULL)
       AND (block_started_at IS NULL) = (block_entry_id IS NULL)),
    CHECK (overridden_at IS NULL OR block_started_at IS NOT NULL)
);
