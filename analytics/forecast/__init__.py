"""The energy load forecast: the model (``model``: features, fit, quantiles, accuracy
measures), a plant's outlook for the next day and what to do about its peaks (``outlook``),
and its history and stored forecasts in the store (``stored``)."""
