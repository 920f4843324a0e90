"""Reads rows by id with Debian's python3-cassandra (the common client, as a
reference for leaves' own): /usr/bin/python3 bench/cql_read.py HOST:PORT KEYSPACE.TABLE IDS_FILE N CONCURRENCY"""
import sys
import time

from cassandra import ConsistencyLevel
from cassandra.cluster import Cluster
from cassandra.concurrent import execute_concurrent_with_args

node, table, ids_file, n, conc = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
host, _, port = node.partition(":")
ids = [l.strip() for l in open(ids_file) if l.strip()]
cluster = Cluster([host], port=int(port or 9042))
session = cluster.connect()
stmt = session.prepare("SELECT * FROM %s WHERE id = ?" % table)
stmt.consistency_level = ConsistencyLevel.ONE
args = [(ids[i % len(ids)],) for i in range(n)]
t0 = time.monotonic()
results = execute_concurrent_with_args(session, stmt, args, concurrency=conc, raise_on_first_error=False)
secs = time.monotonic() - t0
errors = sum(1 for ok, _ in results if not ok)
print("read %d rows in %.2f s = %.0f rows/s, errors %d" % (n, secs, n / secs, errors))
cluster.shutdown()
