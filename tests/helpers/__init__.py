"""Helpers the tests share: servers started per session, plants, devices, fleets, the
dashboard in a browser, MQTT clients. Test modules import from here and from conftest.py,
never from each other."""
