-- Idempotency keys of the service's POST endpoints (platform::idempotency). A row is taken by
-- the first request with its key (`status` NULL while it runs, held until `locked_until`), then
-- holds the response that request got, replayed to every later request with the same key and
-- the same fingerprint until `expires_at`. Times are epoch milliseconds (UTC).
CREATE TABLE idempotency_keys (
    idempotency_key TEXT    PRIMARY KEY,
    fingerprint     TEXT    NOT NULL,
    status          BIGINT,
    headers         TEXT,
    body            BYTEA,
    locked_until    BIGINT  NOT NULL,
    expires_at      BIGINT  NOT NULL
);
CREATE INDEX idempotency_keys_expires_at ON idempotency_keys (expires_at);
