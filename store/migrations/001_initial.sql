-- Times are unix milliseconds in UTC, NULL where the model has a zero time. BIGINT, not INTEGER:
-- milliseconds overflow a 32-bit INTEGER in dialects where INTEGER means 32 bits.

CREATE TABLE managed_members (
    room_id          TEXT NOT NULL,
    user_id          TEXT NOT NULL,
    desired_since_ms BIGINT,
    added_at_ms      BIGINT,
    PRIMARY KEY (room_id, user_id)
);

-- Only a managed member can be removed, so a pending removal without its member is refused.
CREATE TABLE pending_removals (
    room_id       TEXT   NOT NULL,
    user_id       TEXT   NOT NULL,
    due_at_ms     BIGINT NOT NULL,
    reason        TEXT   NOT NULL,
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (room_id, user_id),
    FOREIGN KEY (room_id, user_id) REFERENCES managed_members (room_id, user_id) ON DELETE CASCADE
);

CREATE TABLE removals (
    id      INTEGER PRIMARY KEY, -- only: sqlite
    id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, -- only: postgres
    room_id TEXT   NOT NULL,
    user_id TEXT   NOT NULL,
    action  TEXT   NOT NULL,
    reason  TEXT   NOT NULL,
    at_ms   BIGINT NOT NULL
);

CREATE INDEX removals_newest ON removals (at_ms, id);

CREATE TABLE missing_accounts (
    user_id       TEXT   PRIMARY KEY,
    first_seen_ms BIGINT NOT NULL
);
