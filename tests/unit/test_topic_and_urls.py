from __future__ import annotations

import pytest

from store import parse_store_url
from telemetry.models import Channel
from telemetry.topic import MachinePath, Topic, TopicError, subscription
from telemetry.urls import UrlError, parse_mqtt_url


def test_topic_round_trip() -> None:
    t = Topic(MachinePath("s1", "a-1", "line_2", "M03"), Channel.ENERGY, "acme/factory")
    assert str(t) == "acme/factory/v1/s1/a-1/line_2/M03/energy"
    assert Topic.parse(str(t), "acme/factory") == t


@pytest.mark.parametrize("bad", ["", "a/b", "+", "#", "a b", "é", "x" * 65, "a\nb", "a,b", "a=b"])
def test_hostile_names_are_refused(bad: str) -> None:
    with pytest.raises(TopicError):
        MachinePath("s", "a", "l", bad)


def test_subscription_filters() -> None:
    assert subscription("factory") == "factory/v1/+/+/+/+/+"
    assert subscription("factory", "ingest") == "$share/ingest/factory/v1/+/+/+/+/+"
    with pytest.raises(TopicError):
        subscription("fac+tory")


def test_mqtt_url() -> None:
    e = parse_mqtt_url("mqtts://edge:s3cret@broker.plant:8884")
    assert (e.host, e.port, e.tls, e.username) == ("broker.plant", 8884, True, "edge")
    assert e.password is not None and e.password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(e) and "s3cret" not in str(e)
    assert parse_mqtt_url("mqtt://localhost").port == 1883
    assert parse_mqtt_url("mqtts://h").port == 8883
    assert parse_mqtt_url("mqtt://127.0.0.1:1").is_loopback
    assert not parse_mqtt_url("mqtt://10.0.0.5:1883").is_loopback


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://h:1883", "must start with mqtt://"),
        ("mqtt://:1883", "has no host"),
        ("mqtt://h:99999", "invalid port"),
        ("mqtt://u:topsecret@h:1883/x", "must not have a path"),
    ],
)
def test_bad_mqtt_urls(url: str, expected: str) -> None:
    with pytest.raises(UrlError) as info:
        parse_mqtt_url(url)
    assert expected in str(info.value)
    assert "topsecret" not in str(info.value)


def test_store_urls() -> None:
    s = parse_store_url("sqlite:///factory-data/telemetry.db")
    assert s.kind == "sqlite" and str(s.path) == "factory-data/telemetry.db"
    assert str(parse_store_url("sqlite:////var/lib/f.db").path) == "/var/lib/f.db"
    i = parse_store_url("influxdb://u:pw@db.plant:8087/factory")
    assert (i.host, i.port, i.database, i.username) == ("db.plant", 8087, "factory", "u")
    assert i.base_url == "http://db.plant:8087"
    assert "pw" not in str(i)
    assert parse_store_url("influxdbs://h/x").base_url == "https://h:8086"
    v2 = parse_store_url("influxdb2s://cloud.example:443/factory?org=acme")
    assert (v2.kind, v2.database, v2.org, v2.base_url) == (
        "influxdb2",
        "factory",
        "acme",
        "https://cloud.example:443",
    )
    for bad, expected in [
        ("postgres://h/x", "must start with sqlite:///, influxdb:// or influxdb2://"),
        ("influxdb://h:8086", "must name one database"),
        ("sqlite://host/x.db", "three slashes"),
        ("influxdb2://h:8086/bucket", "must name the organisation"),
        ("influxdb2://u:pw@h:8086/b?org=o", "token"),
    ]:
        with pytest.raises(UrlError) as info:
            parse_store_url(bad)
        assert expected in str(info.value)
