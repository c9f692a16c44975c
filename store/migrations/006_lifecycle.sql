-- The account lifecycle of users deactivated in (or deleted from) Authentik, and profile sync.
-- account_lifecycle holds one row per managed user the bot saw deactivated: when it first saw
-- it (lock_after counts from there), whether the account was gone rather than inactive, whether
-- the bot itself locked the Matrix account (only those are unlocked again) and when, and when it
-- ended the user's sessions. A row goes once the user is active again (after the unlock).
-- synced_profiles holds the value last written to (or found in) each synced profile field, so
-- that a cycle in which Authentik changed nothing makes no profile request.

CREATE TABLE account_lifecycle (
    user_id           TEXT    PRIMARY KEY,
    deactivated_at_ms BIGINT  NOT NULL,
    deleted           INTEGER NOT NULL,
    locked_by_bot     INTEGER NOT NULL,
    locked_at_ms      BIGINT,
    logged_out_at_ms  BIGINT
);

CREATE TABLE synced_profiles (
    user_id      TEXT   NOT NULL,
    field        TEXT   NOT NULL,
    value        TEXT   NOT NULL,
    synced_at_ms BIGINT NOT NULL,
    PRIMARY KEY (user_id, field)
);
