-- The directory's own ID of each account with a lifecycle record (Authentik's user pk), so that
-- the account is looked up directly again every cycle it matters: a record is no evidence on its
-- own. '' in the rows written before it was kept; such an account is looked up by the ID the
-- groups or the listing of inactive users give, or not at all.

ALTER TABLE account_lifecycle ADD COLUMN source_id TEXT NOT NULL DEFAULT '';
