DROP TABLE IF EXISTS orders;
CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER, total NUMERIC,
                     updated_at TEXT);
INSERT INTO orders VALUES
  (1, 10, 100.00, '2025-01-01 10:00:00'),
  (2, 20,  20.50, '2025-01-01 11:00:00'),
  (3, 10,  10.00, '2025-01-01 12:00:00'),
  (4, 99,   5.00, '2025-01-01 13:00:00'),
  (5, NULL, 7.00, '2025-01-01 14:00:00');
