# examples/stores.py
import os
import tempfile

from wfcore import ConfigurationError, StoreUnavailableError, open_store

memory = open_store("memory://")  # tests: one process, gone when it ends
sqlite = open_store(f"sqlite:///{tempfile.mkdtemp()}/wfcore.sqlite3", retention=7 * 86400)
redis_url = os.environ.get("WFCORE_EXAMPLE_REDIS_URL", "redis://localhost:6379/0")
redis = open_store(f"{redis_url}?prefix=tenant-a&timeout=2")  # keys: tenant-a:{<workflow_id>}:...

for store in (memory, sqlite, redis):
    store.ping()
    store.close()

try:
    open_store("mongodb://localhost/db")
except ConfigurationError as exc:
    print(exc)  # unknown store URL scheme 'mongodb' ...

try:
    open_store("redis://127.0.0.1:1/0?timeout=0.5").ping()
except StoreUnavailableError as exc:
    print(exc)  # names host:port, never the password
