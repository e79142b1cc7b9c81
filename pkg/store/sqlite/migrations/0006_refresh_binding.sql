-- Docker identity tokens issued to a CI workload (no account: account_id
-- '') keep the federation trust policy and claims they were issued under,
-- as JSON; '' for an account's token. Revoking a workload's tokens by its
-- subject reads the partial index, which holds workload tokens only (its
-- WHERE must be written the same in the query for the planner to use it).
ALTER TABLE refresh_tokens ADD COLUMN binding TEXT NOT NULL DEFAULT '';
CREATE INDEX refresh_tokens_workload_subject ON refresh_tokens (subject) WHERE binding <> '';
