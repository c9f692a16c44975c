-- The admin room's state: what operators ordered and what the bot did, kept across restarts.

CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY, -- only: sqlite
    id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, -- only: postgres
    at_ms   BIGINT NOT NULL,
    actor   TEXT   NOT NULL,
    command TEXT   NOT NULL,
    target  TEXT   NOT NULL,
    room_id TEXT   NOT NULL,
    result  TEXT   NOT NULL
);

CREATE INDEX audit_log_target ON audit_log (target, at_ms);

-- room_id is '' for an exemption in every room.
CREATE TABLE exemptions (
    user_id    TEXT    NOT NULL,
    room_id    TEXT    NOT NULL,
    until_back INTEGER NOT NULL,
    by_user    TEXT    NOT NULL,
    reason     TEXT    NOT NULL,
    at_ms      BIGINT  NOT NULL,
    PRIMARY KEY (user_id, room_id)
);

CREATE TABLE admin_flags (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE held_batches (
    id            TEXT   PRIMARY KEY,
    status        TEXT   NOT NULL,
    why           TEXT   NOT NULL,
    created_at_ms BIGINT NOT NULL,
    decided_by    TEXT   NOT NULL,
    decided_at_ms BIGINT
);

CREATE TABLE held_removals (
    batch_id TEXT NOT NULL REFERENCES held_batches (id) ON DELETE CASCADE,
    room_id  TEXT NOT NULL,
    user_id  TEXT NOT NULL,
    action   TEXT NOT NULL,
    reason   TEXT NOT NULL,
    PRIMARY KEY (batch_id, room_id, user_id)
);
