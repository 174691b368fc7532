-- Sample MySQL source (run by examples/mysql-to-postgres/run).
CREATE DATABASE IF NOT EXISTS example_shop CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
USE example_shop;
DROP TABLE IF EXISTS orders;
CREATE TABLE orders (
  id bigint PRIMARY KEY,
  customer_id bigint unsigned NOT NULL,
  total decimal(12,2),
  paid tinyint(1) NOT NULL DEFAULT 0,
  note varchar(200),
  receipt varbinary(16),
  created_at timestamp(6) NULL,
  updated_at datetime(6) NOT NULL
) ENGINE=InnoDB;
SET time_zone = '+00:00';
INSERT INTO orders VALUES
  (1, 100, 19.99, 1, 'first order', X'00C0FFEE', '2025-10-15 08:00:00.000001', '2025-10-15 08:00:00.000001'),
  (2, 18446744073709551615, 5.00, 0, NULL, NULL, '2025-10-15 08:05:00', '2025-10-15 08:05:00'),
  (3, 101, 1234567890.12, 1, 'grüße 😀', X'', '2025-10-26 00:59:59.999999', '2025-10-26 02:30:00'),
  (4, 102, 0.00, 0, '', NULL, NULL, '2025-10-15 09:30:00');
