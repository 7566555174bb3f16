"""The report: built from a window's accounts (``build``), its typed model that JSON, the
tables and the dashboard share (``model``), and the Smart Factory maturity assessment
(``maturity``)."""
