-- Users and groups Authentik's SCIM provider pushed to the bot's SCIM receiver (scim/), so that
-- directory.source: scim survives restarts. resource holds the rest of a user as received (JSON);
-- scim_members.value is the SCIM id of a user or of a group and may name one not pushed (yet),
-- which makes the group incomplete. scim_meta has one row (id 1) once anything was written: a
-- version every write increments (a write computed from an older version is refused, so that
-- replicas sharing a Postgres store never lose each other's writes), when the last write came,
-- and when the state first settled after the initial sync (NULL until then).

CREATE TABLE scim_users (
    id            TEXT    PRIMARY KEY,
    user_name     TEXT    NOT NULL UNIQUE,
    external_id   TEXT    NOT NULL,
    active        INTEGER NOT NULL,
    resource      TEXT    NOT NULL,
    created_at_ms BIGINT  NOT NULL,
    updated_at_ms BIGINT  NOT NULL
);

CREATE TABLE scim_groups (
    id            TEXT   PRIMARY KEY,
    display_name  TEXT   NOT NULL UNIQUE,
    external_id   TEXT   NOT NULL,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);

CREATE TABLE scim_members (
    group_id TEXT NOT NULL REFERENCES scim_groups (id) ON DELETE CASCADE,
    value    TEXT NOT NULL,
    PRIMARY KEY (group_id, value)
);

CREATE INDEX scim_members_value ON scim_members (value);

CREATE TABLE scim_meta (
    id               INTEGER PRIMARY KEY,
    version          BIGINT  NOT NULL,
    last_write_at_ms BIGINT  NOT NULL,
    settled_at_ms    BIGINT
);
