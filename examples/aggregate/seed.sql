DROP TABLE IF EXISTS orders;
CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER, created_at TEXT,
                     total NUMERIC, status TEXT, updated_at TEXT);
INSERT INTO orders VALUES
  (1, 7, '2025-03-01 09:00:00', 10.50, 'paid',      '2025-03-01 09:00:00'),
  (2, 7, '2025-03-01 17:30:00',  4.25, 'paid',      '2025-03-01 17:30:00'),
  (3, 8, '2025-03-01 12:00:00', 20.00, 'paid',      '2025-03-01 12:00:00'),
  (4, 8, '2025-03-02 08:15:00',  3.75, 'cancelled', '2025-03-02 08:15:00'),
  (5, 8, '2025-03-02 10:00:00',  6.00, 'paid',      '2025-03-02 10:00:00');
