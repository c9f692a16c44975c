-- Power levels the bot gave (so that it only ever lowers its own), with a pending demotion's
-- deadline (NULL while none is pending), and the cache of Synapse external-ID lookups (user_id ''
-- means Synapse knew no user for that subject when checked).

CREATE TABLE power_grants (
    room_id       TEXT   NOT NULL,
    user_id       TEXT   NOT NULL,
    level         BIGINT NOT NULL,
    granted_at_ms BIGINT NOT NULL,
    demote_at_ms  BIGINT,
    PRIMARY KEY (room_id, user_id)
);

CREATE TABLE external_ids (
    auth_provider TEXT   NOT NULL,
    external_id   TEXT   NOT NULL,
    user_id       TEXT   NOT NULL,
    checked_at_ms BIGINT NOT NULL,
    PRIMARY KEY (auth_provider, external_id)
);
