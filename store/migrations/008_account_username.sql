-- The username each account with a lifecycle record had when the bot last saw it: after a
-- deletion, a new account made under it maps to the same Matrix ID and is not treated as gone.
-- '' in the rows written before it was kept.

ALTER TABLE account_lifecycle ADD COLUMN username TEXT NOT NULL DEFAULT '';
