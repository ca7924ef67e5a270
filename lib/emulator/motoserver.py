# moto's server (moto.server.main) with four differences in behaviour:
#
# - DynamoDB and DynamoDB Streams requests run one at a time. moto
#   evaluates a condition expression and applies the write in separate
#   steps with no lock, so two concurrent conditional writes to one item
#   can both succeed on its threaded server, which DynamoDB never allows.
#   Other services (SQS long polls among them) stay concurrent.
# - JSONPath expressions are compiled once. moto's EventBridge compiles
#   the input paths of a rule target's transformer for every event it
#   delivers, which costs tens of milliseconds (jsonpath_ng builds its
#   grammar each time) and made each rule target of an event cost as much
#   as the rest of its trip. A compiled expression is immutable: sharing
#   it changes no result.
# - A DynamoDB transaction's rollback copy holds what the transaction can
#   change, not the whole table. moto backs each table up before a
#   transaction by deep-copying all of it, once per item of the
#   transaction, so a transaction's cost grew with the size of its tables
#   times its items: seconds for a transaction on a table that holds a
#   test run's event log. The backup here shares the items the
#   transaction does not touch (it cannot change them), copies those it
#   does and the table's stream records, and is made once per table and
#   transaction: a rollback restores the same state as before.
# - An SQS queue is received from by one call at a time. moto checks that
#   a message is visible and marks it received in separate steps with no
#   lock, so two concurrent receives (a route's two pollers) could both
#   get one message, which SQS does not do while it is invisible.
#
# And three that make each request cheaper without changing any answer.
# moto spends most of a DynamoDB request outside DynamoDB's logic, and
# DynamoDB requests run one at a time, so under a dev runtime's load
# (stream polls, queue polls, the fan-out) every call queued behind the
# others' overhead:
#
# - The backend of a request is looked up once per host. moto lists its
#   package directory (hundreds of stat calls) and matches its URL
#   patterns for every request; the answer for a host cannot change while
#   the server runs. So are a response class's method names, which moto
#   gathers with inspect for every request.
# - A DynamoDB attribute value held as a dict (moto keeps items in wire
#   form) is serialized by the members it has. moto's serializer looks
#   each of the ten members of every attribute value up under each of its
#   aliases; the members present are serialized exactly as before, by
#   their shapes, and an absent member was never written.
# - A Query of a table's key reads the partition it names. moto sorts
#   every item of the table for each Query on the table's key, then keeps
#   the partition's: a Query's cost grew with the table. The partition's
#   items, in the same order, are what was kept.
#
# Each of these replaces a moto internal; one that this moto does not
# have is left as moto made it.
import argparse
import functools
import os
import signal
import sys
import threading

import copy

import jsonpath_ng.ext
import moto.dynamodb.models as dynamodb_models
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from werkzeug.serving import run_simple

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

_dynamodb = threading.Lock()

jsonpath_ng.ext.parse = functools.lru_cache(maxsize=1024)(jsonpath_ng.ext.parse)


class _TransactionBackups:
    """The copy module as moto.dynamodb.models sees it: deepcopy of a
    Table during a transaction is the transaction's backup of it."""

    def __init__(self):
        self._tx = threading.local()

    def __getattr__(self, name):
        return getattr(copy, name)

    def deepcopy(self, obj, memo=None):
        keys = getattr(self._tx, "keys", None)
        if keys is None or not isinstance(obj, Table):
            return copy.deepcopy(obj, memo)
        backups = self._tx.backups
        if id(obj) not in backups:
            backups[id(obj)] = _backup(obj, keys.get(obj.name, []))
        return backups[id(obj)]

    def run(self, transaction, backend, transact_items):
        self._tx.keys, self._tx.backups = _touched(backend, transact_items), {}
        try:
            return transaction(backend, transact_items)
        finally:
            self._tx.keys = self._tx.backups = None


def _touched(backend, transact_items):
    """Table name -> the (hash, range) keys the transaction names."""
    keys = {}
    for item in transact_items:
        for op in item.values():
            table = backend.tables.get(op.get("TableName")) if isinstance(op, dict) else None
            if table is None:
                continue
            attrs = op.get("Key") or op.get("Item") or {}
            if table.hash_key_attr not in attrs:
                continue
            rng = attrs.get(table.range_key_attr) if table.range_key_attr else None
            keys.setdefault(table.name, []).append(
                (DynamoType(attrs[table.hash_key_attr]), DynamoType(rng) if rng else None))
    return keys


def _backup(table, keys):
    """A Table in the state table is in now, as far as a transaction on
    keys can change it: its item map, the partitions of keys and the
    stream records copied, the items at keys deep-copied, every other item
    and partition shared."""
    b = copy.copy(table)
    b.items = copy.copy(table.items)
    for h, r in keys:
        if h not in table.items:
            continue
        if r is None:
            b.items[h] = copy.deepcopy(table.items[h])
            continue
        if b.items[h] is table.items[h]:
            b.items[h] = dict(table.items[h])  # the partition's own map
        if r in table.items[h]:
            b.items[h][r] = copy.deepcopy(table.items[h][r])
    if table.stream_shard is not None:
        b.stream_shard = copy.copy(table.stream_shard)
        b.stream_shard.items = list(table.stream_shard.items)
        b.stream_shard.table = b
    return b


_backups = _TransactionBackups()
dynamodb_models.copy = _backups
_transact = dynamodb_models.DynamoDBBackend.transact_write_items
dynamodb_models.DynamoDBBackend.transact_write_items = (
    lambda backend, transact_items: _backups.run(_transact, backend, transact_items))


def _memoize_dispatch():
    import moto.backends as backends
    from moto.core import responses, utils
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    modules = frozenset(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules
    lookup = DomainDispatcherApplication.get_backend_for_host
    found = {}

    def get_backend_for_host(self, host):
        if host not in found:
            found[host] = lookup(self, host)
        return found[host]

    DomainDispatcherApplication.get_backend_for_host = get_backend_for_host
    responses.method_names_from_class = functools.lru_cache(maxsize=None)(utils.method_names_from_class)


def _serialize_attribute_values_by_member():
    from moto.core.serialize import BaseJSONSerializer

    structure = BaseJSONSerializer._serialize_type_structure

    def serialize_type_structure(self, serialized, value, shape, key):
        if (shape.name != "AttributeValue" or type(value) is not dict
                or not value.keys() <= shape.members.keys()
                or getattr(self._value_picker, "response_transformers", None)):
            return structure(self, serialized, value, shape, key)
        wrapper = self.MAP_TYPE() if key else serialized
        for member, v in value.items():
            if v is not None:
                self._serialize(wrapper, v, shape.members[member], member)
        if key:
            self._default_serialize(serialized, wrapper, shape, key)

    BaseJSONSerializer._serialize_type_structure = serialize_type_structure


def _query_reads_the_partition():
    partition = threading.local()
    query, all_items = Table.query, Table.all_items

    def query_partition(self, hash_key, range_comparison, range_objs, limit, exclusive_start_key,
                        scan_index_forward, projection_expressions, index_name=None, *args, **kwargs):
        given = (hash_key, range_comparison, range_objs, limit, exclusive_start_key,
                 scan_index_forward, projection_expressions, index_name) + args
        if index_name or getattr(hash_key, "type", None) not in ("S", "N", "B"):
            # An index, or a key value of a type no key has (moto answers
            # with no items; a list or map cannot name a partition).
            return query(self, *given, **kwargs)
        partition.of = (self, hash_key)
        try:
            return query(self, *given, **kwargs)
        finally:
            partition.of = None

    def items_of_partition(self):
        of = getattr(partition, "of", None)
        if of is None or of[0] is not self:
            return all_items(self)
        items = self.items.get(of[1])
        if items is None:
            return []
        return list(items.values()) if self.range_key_attr else [items]

    Table.query, Table.all_items = query_partition, items_of_partition


def _receive_one_call_at_a_time():
    from moto.sqs.models import SQSBackend

    receive = SQSBackend.receive_message
    guard, queues = threading.Lock(), {}

    def receive_message(self, queue_name, *args, **kwargs):
        with guard:
            lock = queues.setdefault((id(self), queue_name), threading.Lock())
        with lock:
            return receive(self, queue_name, *args, **kwargs)

    SQSBackend.receive_message = receive_message


for _patch in (_receive_one_call_at_a_time, _memoize_dispatch, _serialize_attribute_values_by_member,
               _query_reads_the_partition):
    try:
        _patch()
    except (ImportError, AttributeError) as e:
        print(f"motoserver: {_patch.__name__} not applied: {e!r}", file=sys.stderr)


def serialize_dynamodb(app):
    def wrapped(environ, start_response):
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB"):
            with _dynamodb:
                return list(app(environ, start_response))
        return app(environ, start_response)

    return wrapped


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args()
    os.environ.setdefault("MOTO_PORT", str(args.port))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(args.host, args.port, serialize_dynamodb(app), threaded=True)


main()
