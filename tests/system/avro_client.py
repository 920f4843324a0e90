"""The real Confluent Python clients against a real Schema Registry, for
test_avro_ingest.py (run as a subprocess: the 2.x client lives in the PyPI
virtualenv of scripts/pyenv, the legacy 1.7 AvroProducer in Debian's python3).

  avro_client.py serialize REGISTRY SUBJECT_TOPIC SCHEMA_FILE RECORDS_JSON
      AvroSerializer (2.x, fastavro): registers the schema under
      <topic>-value and prints each record's Confluent wire bytes, base64.
  avro_client.py produce REGISTRY BROKERS TOPIC SCHEMA_FILE RECORDS_JSON
      SerializingProducer + AvroSerializer (2.x) to Kafka; prints the count.
  avro_client.py legacy REGISTRY BROKERS TOPIC SCHEMA_FILE RECORDS_JSON
      confluent_kafka.avro.AvroProducer (1.7), as the workshop's importer.
  avro_client.py produce-json BROKERS TOPIC RECORDS_JSON
      Producer (2.x), each record as JSON text (bench/ingest.sh).
  avro_client.py register REGISTRY SUBJECT SCHEMA_FILE
      Registers a schema; prints {"id": N} or {"error": ..., "status": N}.
  avro_client.py consume-events REGISTRY BROKERS TOPIC
      DeserializingConsumer + AvroDeserializer (2.x) from the topic's start
      until 3 s pass without a record (at most 60 s); prints
      [{"key": ..., "value": {...}}, ...] (leaves' --event-format avro events).
"""

import base64
import json
import sys


def load(path):
    with open(path) as f:
        return f.read()


def produce_all(p, topic, records, value_of):
    """Produces every record (waiting when the client's queue is full), then flushes."""
    for rec in records:
        while True:
            try:
                p.produce(topic=topic, value=value_of(rec))
                break
            except BufferError:
                p.poll(0.1)
    left = p.flush(60)
    assert left == 0, "%d records not delivered" % left
    print(json.dumps({"produced": len(records)}))


def serialize(registry, topic, schema_file, records_json):
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroSerializer
    from confluent_kafka.serialization import MessageField, SerializationContext
    client = SchemaRegistryClient({"url": registry})
    ser = AvroSerializer(client, load(schema_file))
    ctx = SerializationContext(topic, MessageField.VALUE)
    out = [base64.b64encode(ser(rec, ctx)).decode() for rec in json.loads(load(records_json))]
    print(json.dumps(out))


def produce(registry, brokers, topic, schema_file, records_json):
    from confluent_kafka import SerializingProducer
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroSerializer
    client = SchemaRegistryClient({"url": registry})
    p = SerializingProducer({"bootstrap.servers": brokers, "value.serializer": AvroSerializer(client, load(schema_file))})
    records = json.loads(load(records_json))
    produce_all(p, topic, records, lambda rec: rec)


def produce_json(brokers, topic, records_json):
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": brokers, "linger.ms": 5})
    records = json.loads(load(records_json))
    produce_all(p, topic, records, lambda rec: json.dumps(rec).encode())


def legacy(registry, brokers, topic, schema_file, records_json):
    from confluent_kafka import avro
    from confluent_kafka.avro import AvroProducer
    schema = avro.loads(load(schema_file))
    p = AvroProducer({"bootstrap.servers": brokers, "schema.registry.url": registry}, default_value_schema=schema)
    records = json.loads(load(records_json))
    produce_all(p, topic, records, lambda rec: rec)


def register(registry, subject, schema_file):
    from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
    from confluent_kafka.schema_registry.error import SchemaRegistryError
    client = SchemaRegistryClient({"url": registry})
    try:
        print(json.dumps({"id": client.register_schema(subject, Schema(load(schema_file), "AVRO"))}))
    except SchemaRegistryError as e:
        print(json.dumps({"error": str(e), "status": e.http_status_code}))


def consume_events(registry, brokers, topic):
    import time
    import uuid
    from confluent_kafka import DeserializingConsumer
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroDeserializer
    from confluent_kafka.serialization import StringDeserializer
    consumer = DeserializingConsumer({
        "bootstrap.servers": brokers, "group.id": "avro-events-" + uuid.uuid4().hex,
        "auto.offset.reset": "earliest", "enable.auto.commit": False,
        "key.deserializer": StringDeserializer("utf_8"),
        "value.deserializer": AvroDeserializer(SchemaRegistryClient({"url": registry}))})
    consumer.subscribe([topic])
    out, start, last = [], time.monotonic(), time.monotonic()
    while time.monotonic() - start < 60 and (not out or time.monotonic() - last < 3):
        m = consumer.poll(0.5)
        if m is None:
            continue
        if m.error():
            raise SystemExit("consume: %s" % m.error())
        out.append({"key": m.key(), "value": m.value()})
        last = time.monotonic()
    consumer.close()
    print(json.dumps(out))


if __name__ == "__main__":
    {"serialize": serialize, "produce": produce, "produce-json": produce_json, "legacy": legacy,
     "register": register, "consume-events": consume_events}[sys.argv[1]](*sys.argv[2:])
