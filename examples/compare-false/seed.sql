-- Sample source data for the compare-false example (run by examples/compare-false/run).
CREATE TABLE IF NOT EXISTS pages (
  id INTEGER PRIMARY KEY,
  title TEXT NOT NULL,
  views INTEGER NOT NULL,
  updated_at TEXT NOT NULL
);
DELETE FROM pages;
INSERT INTO pages VALUES
  (1, 'Home', 100, '2025-10-15T08:00:00Z'),
  (2, 'Pricing', 40, '2025-10-15T08:00:00Z'),
  (3, 'About', 7, '2025-10-15T08:00:00Z'),
  (4, 'Blog', 55, '2025-10-15T08:00:00Z');
