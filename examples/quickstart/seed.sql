-- Sample source data for the quickstart (run by examples/quickstart/run).
CREATE TABLE IF NOT EXISTS orders (
  id INTEGER PRIMARY KEY,
  customer_id INTEGER NOT NULL,
  total NUMERIC,
  note TEXT,
  updated_at TEXT NOT NULL
);
DELETE FROM orders;
INSERT INTO orders VALUES
  (1, 100, '19.99', 'first order', '2025-10-15T08:00:00.000001Z'),
  (2, 101, '5.00', NULL, '2025-10-15T08:05:00Z'),
  (3, 100, '1234567890.12', 'grüße, ünïcødé', '2025-10-15T09:00:00Z'),
  (4, 102, '0.00', '', '2025-10-15T09:30:00Z');
