DROP TABLE IF EXISTS customers;
CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, segment TEXT, tier INTEGER);
INSERT INTO customers VALUES
  (10, 'Ada',   'enterprise', 1),
  (20, 'Brian', 'smb',        3);
