"""Numpy analytics, a package per domain: ``oee/`` (accounting), ``energy/`` (indicators,
cost), ``forecast/`` (load forecast), ``report/`` (the report and maturity).

Nothing is imported here, so that reading the configuration (``analytics.config``)
needs neither numpy nor a store client.
"""
