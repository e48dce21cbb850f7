"""Builders for OTLP AnyValue/KeyValue messages from plain Python values, shared by the
adapter tests: dicts become key/value lists, other sequences arrays (empty ones too)."""

from __future__ import annotations

from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue


def key_value(key: str, value: Any) -> KeyValue:
    kv = KeyValue(key=key)
    set_any_value(kv.value, value)
    return kv


def set_any_value(target: AnyValue, value: Any) -> None:
    if isinstance(value, bool):
        target.bool_value = value
    elif isinstance(value, int):
        target.int_value = value
    elif isinstance(value, float):
        target.double_value = value
    elif isinstance(value, str):
        target.string_value = value
    elif isinstance(value, bytes):
        target.bytes_value = value
    elif isinstance(value, dict):
        target.kvlist_value.SetInParent()
        for key, item in value.items():
            target.kvlist_value.values.append(key_value(key, item))
    else:
        target.array_value.SetInParent()
        for item in value:
            set_any_value(target.array_value.values.add(), item)
