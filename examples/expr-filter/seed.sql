DROP TABLE IF EXISTS orders;
CREATE TABLE orders (id INTEGER PRIMARY KEY, total NUMERIC, status TEXT, updated_at TEXT);
INSERT INTO orders VALUES
  (1, 100.00, 'paid',      '2025-01-01 10:00:00'),
  (2,  20.50, 'cancelled', '2025-01-01 11:00:00'),
  (3,  10.00, 'open',      '2025-01-01 12:00:00');
