"""Streams: a Kinesis-like ``Stream`` and a DynamoDB-like ``Table`` with its change stream.

A ``Stream`` has shards; a record goes to the shard whose hash-key range
holds the MD5 of its partition key (as Kinesis does), gets an increasing
sequence number, and stays for the retention period.  A ``Table`` keeps
items and writes ``INSERT``/``MODIFY``/``REMOVE`` records to its one-shard
stream, with keys and images per view type, values in DynamoDB JSON.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import threading
import uuid
from decimal import Decimal
from typing import Any

import attrs

from .._errors import InvalidParameterValueError
from . import Clocked, data_bytes

__all__ = ["Stream", "StreamRecord", "Table", "to_dynamodb_json"]

_FIRST_SEQUENCE = 49590338271490256608559692538361571095921575989136588898
_HASH_SPACE = 2**128


@attrs.frozen
class StreamRecord:
    """One record in a shard."""

    sequence_number: int
    partition_key: str
    data: Any
    arrival: float


class _Shards:
    """Shards of records with sequence numbers and retention (shared by Stream and Table)."""

    def __init__(self, count: int, retention_s: float, owner: Clocked) -> None:
        self._owner = owner  # its clock is the owner's, which may be adopted later
        self.retention_s = retention_s
        self.shard_ids = [f"shardId-{i:012d}" for i in range(count)]
        self._records: dict[str, list[StreamRecord]] = {s: [] for s in self.shard_ids}
        self._seq = itertools.count(_FIRST_SEQUENCE, 1000)
        self._lock = threading.Lock()

    def append(self, shard_id: str, partition_key: str, data: Any) -> StreamRecord:
        with self._lock:
            record = StreamRecord(next(self._seq), partition_key, data, self._owner.clock.now())
            self._records[shard_id].append(record)
            return record

    def records(self, shard_id: str) -> list[StreamRecord]:
        """The shard's records still within retention, oldest first."""
        horizon = self._owner.clock.now() - self.retention_s
        with self._lock:
            kept = [r for r in self._records[shard_id] if r.arrival >= horizon]
            self._records[shard_id] = kept
            return list(kept)

    def rebase(self, delta: float) -> None:
        """Move every record's arrival by ``delta`` (the owner adopted another clock)."""
        with self._lock:
            for shard, records in self._records.items():
                self._records[shard] = [attrs.evolve(r, arrival=r.arrival + delta) for r in records]


class Stream(Clocked):
    """A Kinesis-like data stream (``clock``: as ``Queue``'s; leave it out to follow the Invoker's)."""

    kind = "kinesis"

    def __init__(self, name: str, *, shards: int = 1, retention_hours: float = 24, clock=None,
                 region: str = "us-east-1", account_id: str = "123456789012") -> None:  # fmt: skip
        if not 1 <= shards <= 64:
            raise InvalidParameterValueError("shards must be 1..64")
        if not 24 <= retention_hours <= 8760:
            raise InvalidParameterValueError("retention_hours must be 24..8760")
        self.name = name
        self._init_clock(clock)
        self.region = region
        self.account_id = account_id
        self._shards = _Shards(shards, retention_hours * 3600, self)

    @property
    def arn(self) -> str:
        """``arn:aws:kinesis:<region>:<account>:stream/<name>``."""
        return f"arn:aws:kinesis:{self.region}:{self.account_id}:stream/{self.name}"

    @property
    def shard_ids(self) -> list[str]:
        """The shard ids."""
        return list(self._shards.shard_ids)

    def shard_for(self, partition_key: str) -> str:
        """The shard whose hash-key range holds MD5(partition key)."""
        h = int.from_bytes(hashlib.md5(partition_key.encode(), usedforsecurity=False).digest(), "big")
        ids = self._shards.shard_ids
        return ids[h * len(ids) // _HASH_SPACE]

    def put(self, data: bytes | str, partition_key: str) -> tuple[str, str]:
        """Add a record; return (shard id, sequence number)."""
        if not 1 <= len(partition_key) <= 256:
            raise InvalidParameterValueError("partition_key must be 1..256 characters")
        raw = data_bytes(data, "a stream record's data")
        shard = self.shard_for(partition_key)
        record = self._shards.append(shard, partition_key, raw)
        return shard, str(record.sequence_number)

    def _rebase(self, delta: float) -> None:
        self._shards.rebase(delta)

    def records(self, shard_id: str) -> list[StreamRecord]:
        """A shard's records within retention."""
        return self._shards.records(shard_id)

    def __repr__(self) -> str:
        return f"<Stream {self.name} shards={len(self._shards.shard_ids)}>"


def to_dynamodb_json(value: Any) -> dict:
    """A Python value in DynamoDB's attribute-value JSON (``{"S": ...}``, ``{"N": ...}``…)."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, (int, float, Decimal)):
        return {"N": str(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, (bytes, bytearray)):
        import base64

        return {"B": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, dict):
        return {"M": {k: to_dynamodb_json(v) for k, v in value.items()}}
    if isinstance(value, (list, tuple)):
        return {"L": [to_dynamodb_json(v) for v in value]}
    if isinstance(value, (set, frozenset)):
        items = sorted(value, key=str)
        if all(isinstance(v, str) for v in items):
            return {"SS": items}
        if all(isinstance(v, (int, float, Decimal)) and not isinstance(v, bool) for v in items):
            return {"NS": [str(v) for v in items]}
    raise InvalidParameterValueError(f"cannot store {type(value).__name__} in a Table item")


class Table(Clocked):
    """A DynamoDB-like table whose writes produce a stream of change records (``clock``: as ``Stream``'s)."""

    kind = "dynamodb"
    _VIEW_TYPES = ("KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES")

    def __init__(self, name: str, key: str | tuple[str, ...] = "id", *, view_type: str = "NEW_AND_OLD_IMAGES",
                 clock=None, region: str = "us-east-1", account_id: str = "123456789012") -> None:  # fmt: skip
        if view_type not in self._VIEW_TYPES:
            raise InvalidParameterValueError(f"view_type must be one of {', '.join(self._VIEW_TYPES)}")
        self.name = name
        self.key_names = (key,) if isinstance(key, str) else tuple(key)
        self.view_type = view_type
        self._init_clock(clock)
        self.region = region
        self.account_id = account_id
        self._items: dict[tuple, dict] = {}
        self._lock = threading.Lock()
        self._shards = _Shards(1, 24 * 3600, self)
        created = dt.datetime.fromtimestamp(self.clock.now(), dt.timezone.utc)
        self._label = created.strftime("%Y-%m-%dT%H:%M:%S.") + f"{created.microsecond // 1000:03d}"

    @property
    def arn(self) -> str:
        """The stream ARN: ``arn:aws:dynamodb:<region>:<account>:table/<name>/stream/<label>``."""
        return f"arn:aws:dynamodb:{self.region}:{self.account_id}:table/{self.name}/stream/{self._label}"

    @property
    def shard_ids(self) -> list[str]:
        """The stream's shard ids (one)."""
        return list(self._shards.shard_ids)

    def _key(self, item: dict) -> tuple:
        try:
            return tuple(item[k] for k in self.key_names)
        except KeyError as e:
            raise InvalidParameterValueError(f"item is missing key attribute {e.args[0]!r}") from None

    def put(self, item: dict) -> str:
        """Write an item: ``INSERT`` if new, ``MODIFY`` if it replaces one; return the event name."""
        key = self._key(item)
        with self._lock:
            old = self._items.get(key)
            self._items[key] = dict(item)
        return self._record("MODIFY" if old is not None else "INSERT", key, dict(item), old)

    def update(self, key: dict, changes: dict) -> str:
        """Change attributes of an existing item (``MODIFY``)."""
        k = self._key(key)
        with self._lock:
            old = self._items.get(k)
            if old is None:
                raise KeyError(key)
            new = {**old, **changes}
            self._items[k] = new
        return self._record("MODIFY", k, new, old)

    def delete(self, key: dict) -> str | None:
        """Remove an item (``REMOVE``); None if it was absent (no record, as DynamoDB)."""
        k = self._key(key)
        with self._lock:
            old = self._items.pop(k, None)
        return None if old is None else self._record("REMOVE", k, None, old)

    def get(self, key: dict) -> dict | None:
        """The item, or None."""
        with self._lock:
            item = self._items.get(self._key(key))
            return dict(item) if item is not None else None

    def _record(self, event_name: str, key: tuple, new: dict | None, old: dict | None) -> str:
        change = {
            "eventName": event_name,
            "Keys": {name: to_dynamodb_json(v) for name, v in zip(self.key_names, key, strict=True)},
            "NewImage": {k: to_dynamodb_json(v) for k, v in new.items()} if new is not None else None,
            "OldImage": {k: to_dynamodb_json(v) for k, v in old.items()} if old is not None else None,
            "eventID": uuid.uuid4().hex,
        }
        self._shards.append(self._shards.shard_ids[0], "", change)
        return event_name

    def _rebase(self, delta: float) -> None:
        self._shards.rebase(delta)

    def records(self, shard_id: str) -> list[StreamRecord]:
        """The stream's records within retention (24 hours)."""
        return self._shards.records(shard_id)

    def __repr__(self) -> str:
        return f"<Table {self.name} items={len(self._items)}>"
