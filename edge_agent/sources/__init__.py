"""Where the edge agent's readings come from: the source contract and the simulator
(``base``), and a real plant's devices (``device_source``): their configuration
(``devices``, ``plc_config``), Modbus meters and lines (``modbus``, ``registers``), OPC UA
machines (``opcua``), machines on PLCs over Modbus and S7 (``plc``), and their current values
as readings (``machine_state``)."""
