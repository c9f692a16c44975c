-- The membership event a removal replaced, as the cycle that planned it read it: a room whose
-- current event for the user is still this one after the removal shows that the homeserver
-- undid it (a concurrent event won its state resolution), and the bot removes the user again.
-- NULL in the rows written before it was kept and for removals found done after a restart.

ALTER TABLE removals ADD COLUMN replaced_membership TEXT;
ALTER TABLE removals ADD COLUMN replaced_sender TEXT;
ALTER TABLE removals ADD COLUMN replaced_since_ms BIGINT;

-- New nullable columns: a release at version 8 can still use this schema.
-- compatible with: 8
