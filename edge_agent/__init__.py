"""The edge agent: reads machines and meters, publishes their readings over MQTT.

Modules: ``config`` (settings), ``sources/`` (the source contract, the simulator source
and real devices), ``buffer`` (the durable buffer), ``publisher`` (QoS 1 over aiomqtt,
``sparkplug_node`` for Sparkplug B), ``agent`` (the loop). Nothing is
imported here, so that reading the configuration needs no MQTT client.
"""
