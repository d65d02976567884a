-- POS sales per local day and store, kept current by every write path (CSV import, POS endpoint) and by
-- models/materialize.py: the cockpit reads a few hundred rows instead of every transaction.

CREATE TABLE IF NOT EXISTS sales_day (
    site                text    NOT NULL,
    day                 date    NOT NULL,            -- local day of the site
    store_id            text    NOT NULL,
    transactions        integer NOT NULL,
    sales               numeric(14,2) NOT NULL,
    member_transactions integer NOT NULL,
    member_sales        numeric(14,2) NOT NULL,
    PRIMARY KEY (site, day, store_id)
);
