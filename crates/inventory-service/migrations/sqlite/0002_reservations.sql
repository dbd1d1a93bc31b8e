-- Stock reserved by other services (billing's saga), one row per reservation id the caller
-- chose. Reserving takes the quantities off `products.quantity` at once; releasing puts them
-- back. A release of an id never reserved leaves a RELEASED row, so a reservation that
-- arrives after its own release (a retried or delayed call) is refused instead of taking stock
-- for good. Times are epoch milliseconds (UTC).
CREATE TABLE reservations (
    id          TEXT    PRIMARY KEY,
    state       TEXT    NOT NULL CHECK (state IN ('RESERVED', 'RELEASED')),
    created_at  BIGINT  NOT NULL,
    released_at BIGINT
);

CREATE TABLE reservation_lines (
    reservation_id TEXT    NOT NULL REFERENCES reservations (id),
    product_id     BIGINT  NOT NULL,
    quantity       BIGINT  NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (reservation_id, product_id)
);
