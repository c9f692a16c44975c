-- What the bot knows of spaces and mapped rooms: the children of each space (so that a failed
-- hierarchy read changes nothing), the groups and remove action each mapped room last had (so
-- that a room released from its mappings still knows who is back in its group), and the rooms
-- the bot created for create_if_missing.

CREATE TABLE space_children (
    space_id TEXT NOT NULL,
    child_id TEXT NOT NULL,
    PRIMARY KEY (space_id, child_id)
);

-- group_names is a JSON array of strings.
CREATE TABLE room_records (
    room_id       TEXT   PRIMARY KEY,
    group_names   TEXT   NOT NULL,
    remove_action TEXT   NOT NULL,
    updated_at_ms BIGINT NOT NULL
);

CREATE TABLE created_rooms (
    alias         TEXT   PRIMARY KEY,
    room_id       TEXT   NOT NULL,
    parent_space  TEXT   NOT NULL,
    created_at_ms BIGINT NOT NULL
);
