-- Products. Money is exact: `price` holds cents. `version` backs ETag / If-Match.
CREATE TABLE products (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    version  BIGINT  NOT NULL DEFAULT 0,
    name     TEXT    NOT NULL,
    price    BIGINT  NOT NULL CHECK (price >= 0),
    quantity BIGINT  NOT NULL CHECK (quantity >= 0)
);
