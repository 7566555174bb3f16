"""Numpy analytics: OEE (ISO 22400-2), energy indicators, anomalies and maturity.

Nothing is imported here, so that reading the configuration (``analytics.config``)
needs neither numpy nor a store client.
"""
