-- Customers. `version` backs the ETag / If-Match optimistic concurrency of the REST resource.
-- The unique index on email is what turns a duplicate (even from two concurrent POSTs) into a 409.
CREATE TABLE customers (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    version BIGINT  NOT NULL DEFAULT 0,
    name    TEXT    NOT NULL,
    email   TEXT    NOT NULL,
    CONSTRAINT customers_email_key UNIQUE (email)
);
