-- Invoice numbers, given when a bill is issued: `invoice_number` as formatted then (it never
-- changes afterwards, whatever the pattern becomes), with the year and the place in that
-- year's sequence it was given from. `issued_at` is epoch milliseconds (UTC).
ALTER TABLE bills ADD COLUMN invoice_number TEXT;
ALTER TABLE bills ADD COLUMN invoice_year BIGINT;
ALTER TABLE bills ADD COLUMN invoice_seq BIGINT;
ALTER TABLE bills ADD COLUMN issued_at BIGINT;
CREATE UNIQUE INDEX bills_invoice_number ON bills (invoice_number);
CREATE UNIQUE INDEX bills_invoice_year_seq ON bills (invoice_year, invoice_seq);

-- The last number given per series and year. It is taken in the transaction that issues the
-- document, so a failed issue gives its number back (no gap) and concurrent issues — on any
-- instance — wait for each other on this row (no duplicate).
CREATE TABLE document_sequences (
    series      TEXT   NOT NULL,
    year        BIGINT NOT NULL,
    last_number BIGINT NOT NULL,
    PRIMARY KEY (series, year)
);
