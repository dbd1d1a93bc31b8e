-- What an invoice becomes once issued. The rules below hold whichever way a row is written
-- (billing's own endpoints, the generic Spring Data REST resources, another instance): a
-- violation aborts the statement with a message starting `rule: `, which the service answers
-- as a 409 naming the rule.

-- Only a DRAFT bill's lines, amounts and customer can change; only a DRAFT can be deleted.
CREATE TRIGGER bills_fixed_unless_draft BEFORE UPDATE OF customer_id, billing_date ON bills
WHEN OLD.status <> 'DRAFT'
  AND (NEW.customer_id IS NOT OLD.customer_id OR NEW.billing_date IS NOT OLD.billing_date)
BEGIN
    SELECT RAISE(ABORT, 'rule: only a DRAFT bill''s lines, amounts and customer can change; an issued invoice is cancelled with a credit note');
END;
CREATE TRIGGER bills_kept_unless_draft BEFORE DELETE ON bills
WHEN OLD.status <> 'DRAFT'
BEGIN
    SELECT RAISE(ABORT, 'rule: only a DRAFT bill can be deleted; an issued invoice is cancelled with a credit note');
END;

CREATE TRIGGER product_items_insert_fixed_unless_draft BEFORE INSERT ON product_items
WHEN (SELECT status FROM bills WHERE id = NEW.bill_id) <> 'DRAFT'
BEGIN
    SELECT RAISE(ABORT, 'rule: only a DRAFT bill''s lines, amounts and customer can change; an issued invoice is cancelled with a credit note');
END;
CREATE TRIGGER product_items_update_fixed_unless_draft BEFORE UPDATE ON product_items
WHEN (SELECT status FROM bills WHERE id = OLD.bill_id) <> 'DRAFT'
  OR (SELECT status FROM bills WHERE id = NEW.bill_id) <> 'DRAFT'
BEGIN
    SELECT RAISE(ABORT, 'rule: only a DRAFT bill''s lines, amounts and customer can change; an issued invoice is cancelled with a credit note');
END;
CREATE TRIGGER product_items_delete_fixed_unless_draft BEFORE DELETE ON product_items
WHEN (SELECT status FROM bills WHERE id = OLD.bill_id) <> 'DRAFT'
BEGIN
    SELECT RAISE(ABORT, 'rule: only a DRAFT bill''s lines, amounts and customer can change; an issued invoice is cancelled with a credit note');
END;

-- The lines of a bill that holds stock in inventory change only with that stock: by
-- cancelling the bill (which gives the stock back) and making a new one.
CREATE TRIGGER product_items_insert_hold_stock BEFORE INSERT ON product_items
WHEN (SELECT reservation_id FROM bills WHERE id = NEW.bill_id) IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'rule: the lines of a bill holding stock change only by cancelling the bill and making a new one');
END;
CREATE TRIGGER product_items_update_hold_stock BEFORE UPDATE ON product_items
WHEN (SELECT reservation_id FROM bills WHERE id = OLD.bill_id) IS NOT NULL
  OR (SELECT reservation_id FROM bills WHERE id = NEW.bill_id) IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'rule: the lines of a bill holding stock change only by cancelling the bill and making a new one');
END;
CREATE TRIGGER product_items_delete_hold_stock BEFORE DELETE ON product_items
WHEN (SELECT reservation_id FROM bills WHERE id = OLD.bill_id) IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'rule: the lines of a bill holding stock change only by cancelling the bill and making a new one');
END;

-- Payments received against an issued invoice; `amount` in cents, `paid_at` epoch ms.
CREATE TABLE payments (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    bill_id   BIGINT  NOT NULL REFERENCES bills (id),
    amount    BIGINT  NOT NULL CHECK (amount > 0),
    paid_at   BIGINT  NOT NULL,
    reference TEXT
);
CREATE INDEX payments_bill_id ON payments (bill_id);

-- The credit note that cancels an issued invoice: it negates every line of the invoice it
-- references (lines that can no longer change), numbered in its own gap-free series.
CREATE TABLE credit_notes (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    bill_id            BIGINT  NOT NULL UNIQUE REFERENCES bills (id),
    credit_note_number TEXT    NOT NULL UNIQUE,
    issued_at          BIGINT  NOT NULL
);
