"""Energy: the performance indicators after ISO 50006 (``indicators``: intensity, peak demand,
idle energy, CO2e, baseline) and the bill by the plant's tariff (``cost``)."""
