-- Bills and their product items. Money is exact: `price` in cents, `discount` in
-- ten-thousandths (0.42 = 4200). `billing_date` is epoch milliseconds (UTC).
-- The foreign key makes deleting a bill that still has items a 409, as in the original.
CREATE TABLE bills (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    version      BIGINT  NOT NULL DEFAULT 0,
    billing_date BIGINT  NOT NULL,
    customer_id  BIGINT  NOT NULL
);
CREATE INDEX bills_customer_id ON bills (customer_id);

CREATE TABLE product_items (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    version    BIGINT  NOT NULL DEFAULT 0,
    product_id BIGINT  NOT NULL,
    quantity   BIGINT  NOT NULL CHECK (quantity > 0),
    price      BIGINT  NOT NULL CHECK (price >= 0),
    discount   BIGINT  CHECK (discount BETWEEN 0 AND 10000),
    bill_id    BIGINT  NOT NULL REFERENCES bills (id)
);
CREATE INDEX product_items_bill_id ON product_items (bill_id);
