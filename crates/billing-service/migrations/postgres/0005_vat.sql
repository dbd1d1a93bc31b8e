-- The VAT rate of each line, in ten-thousandths (0.2 = 2000). NULL on lines written without
-- one (the seed's generic `POST /productItems`): the configured default applies to them until
-- the bill is issued, when it is written into the line for good.
ALTER TABLE product_items ADD COLUMN vat_rate BIGINT CHECK (vat_rate IS NULL OR vat_rate BETWEEN 0 AND 10000);
