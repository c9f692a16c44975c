-- A pending removal whose room had a group unknown in some cycle: the user may have come back
-- and left again unseen, so its grace period starts over at the next complete read of the
-- room's groups. 0 in the rows written before it was kept.

ALTER TABLE pending_removals ADD COLUMN awaiting_read INTEGER NOT NULL DEFAULT 0;

-- A release at version 8 can still use this schema: the new column has a default it never
-- needs to write.
-- compatible with: 8
