-- A bill's state and the stock it holds in inventory-service. `status` is DRAFT when made,
-- CANCELLED when cancelled (its stock given back). `reservation_id` names the reservation in
-- inventory-service that holds the bill's stock (none for the seeded bill).
ALTER TABLE bills ADD COLUMN status TEXT NOT NULL DEFAULT 'DRAFT'
    CHECK (status IN ('DRAFT', 'ISSUED', 'PAID', 'CANCELLED'));
ALTER TABLE bills ADD COLUMN reservation_id TEXT;
CREATE UNIQUE INDEX bills_reservation_id ON bills (reservation_id);

-- Sagas under way: stock being reserved for a bill not stored yet (RESERVING), or stock being
-- given back (RELEASING). The row is deleted when the saga ends; a row left behind by an
-- instance that died is finished by whichever instance finds it stale (release the stock).
CREATE TABLE sagas (
    id         TEXT   PRIMARY KEY,
    state      TEXT   NOT NULL CHECK (state IN ('RESERVING', 'RELEASING')),
    bill_id    BIGINT,
    lines      TEXT   NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX sagas_updated_at ON sagas (updated_at);
