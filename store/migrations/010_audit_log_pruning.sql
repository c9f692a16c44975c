-- The audit log is pruned oldest first, by age and by number of entries; and before a skipped
-- action is written again, the newest entry about its room and user is looked up, so that a
-- cycle repeating the same skip adds nothing.

CREATE INDEX audit_log_at ON audit_log (at_ms, id);

CREATE INDEX audit_log_room_user ON audit_log (target, room_id, at_ms, id);

-- Two indexes and nothing else: a release at version 8 can still use this schema.
-- compatible with: 8
