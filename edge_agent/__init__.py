"""The edge agent: reads machines and meters, publishes their readings over MQTT.

Modules: ``config`` (settings), ``source`` (the source contract and the simulator
source), ``publisher`` (QoS 1 over aiomqtt), ``agent`` (the loop). Nothing is
imported here, so that reading the configuration needs no MQTT client.
"""
