-- Contact sync: the usage location of synced users, phonebook entries, where the sync of each
-- mailbox and folder stands, book versions (CardDAV ctags) and per-extension phonebook secrets.
-- Timestamps are BIGINT Unix milliseconds; JSON is TEXT.
-- Keep in step with migrations/postgres/0004_phonebooks.sql.

-- ISO 3166 two-letter country of a synced user (upper-case, '' when unset).
ALTER TABLE extensions ADD COLUMN usage_location TEXT NOT NULL DEFAULT '';

-- One row per contact of a mailbox (origin 'outlook') or per entry made on the PBX side
-- ('local', never touched by contact sync). `book` is an extension number or 'company'.
CREATE TABLE phonebook_entries (
    mailbox_id   TEXT   NOT NULL,
    contact_id   TEXT   NOT NULL,
    book         TEXT   NOT NULL,
    -- '' is the mailbox's default Contacts folder.
    folder_id    TEXT   NOT NULL DEFAULT '',
    display_name TEXT   NOT NULL DEFAULT '',
    first_name   TEXT   NOT NULL DEFAULT '',
    last_name    TEXT   NOT NULL DEFAULT '',
    company      TEXT   NOT NULL DEFAULT '',
    department   TEXT   NOT NULL DEFAULT '',
    job_title    TEXT   NOT NULL DEFAULT '',
    -- JSON: ["a@b.example", …]
    emails       TEXT   NOT NULL DEFAULT '[]',
    -- JSON: [{"type": "business"|"home"|"mobile"|"other", "raw": "…", "e164": "+…"|null}, …]
    phones       TEXT   NOT NULL DEFAULT '[]',
    -- Names, company, emails and numbers, lower-cased by the store (not by SQL: SQLite's LOWER
    -- knows only ASCII), so both engines find the same entries.
    search_text  TEXT   NOT NULL DEFAULT '',
    origin       TEXT   NOT NULL CHECK (origin IN ('outlook', 'local')),
    -- The whole-folder round that last wrote the entry (NULL: written by a delta round).
    round        BIGINT,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (mailbox_id, contact_id)
);
-- A book in display order (phonebook pages, counts).
CREATE INDEX phonebook_entries_book_name ON phonebook_entries (book, display_name, contact_id);
-- A folder's entries (end of a whole-folder round, a deleted folder).
CREATE INDEX phonebook_entries_folder ON phonebook_entries (mailbox_id, folder_id);

-- Where the sync of a mailbox stands (one per synced user, one per company mailbox).
CREATE TABLE contact_mailboxes (
    mailbox_id     TEXT   PRIMARY KEY NOT NULL,
    book           TEXT   NOT NULL,
    -- Folder-tree delta: nextLink of a round in progress or deltaLink of the last round.
    folder_link    TEXT,
    skipped        TEXT,
    last_error     TEXT,
    last_synced_at BIGINT
);

CREATE TABLE contact_folders (
    mailbox_id       TEXT   NOT NULL REFERENCES contact_mailboxes (mailbox_id) ON DELETE CASCADE,
    folder_id        TEXT   NOT NULL,
    display_name     TEXT   NOT NULL DEFAULT '',
    parent_folder_id TEXT,
    -- nextLink of a round in progress or deltaLink of the last finished round.
    link             TEXT,
    -- Set while a whole-folder round is in progress.
    full_round       BIGINT,
    PRIMARY KEY (mailbox_id, folder_id)
);

-- Bumped in the transaction that changes any entry of the book; no row means version 0.
CREATE TABLE phonebook_versions (
    book    TEXT   PRIMARY KEY NOT NULL,
    version BIGINT NOT NULL
);

-- Only a SHA-256 (lower-case hex) of an extension's phonebook password is kept.
CREATE TABLE phonebook_secrets (
    number        TEXT   PRIMARY KEY NOT NULL REFERENCES extensions (number) ON DELETE CASCADE,
    secret_sha256 TEXT   NOT NULL,
    created_at    BIGINT NOT NULL
);
