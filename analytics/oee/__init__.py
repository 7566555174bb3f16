"""OEE accounting (ISO 22400-2): a machine's timeline from its readings (``timeline``,
``counters``), its account over any window (``accounts``), entries that compose
(``ledger``), a window read once and accounted for (``analysis``, ``book``), windows from
stored accounts and raw edges (``stored``), the aggregation that keeps the stored accounts
current (``aggregation``), stops and operators' reasons (``reasons``), anomaly events
(``anomaly``)."""
