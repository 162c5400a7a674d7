-- 9 concurrent use of id tokens: a token (or its group) may be allowed in more than one
-- transaction at once; otherwise a second start gets ConcurrentTx, found through the open
-- transactions by token (a partial index: only transactions going on are in it)
ALTER TABLE id_tokens ADD COLUMN concurrent_use BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX transactions_open_by_token ON transactions (id_token)
    WHERE stopped_at IS NULL AND orphan = FALSE;
