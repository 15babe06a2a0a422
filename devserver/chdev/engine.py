"""The engine behind the front: the chDB installed in the devserver's venv.

chdb-core (ClickHouse 26.x) has connections that are sessions of their own,
a statement classifier, streamed results and streamed inserts
(connections.py). The older chDB releases on PyPI, which carry the older
ClickHouse versions the crate is tested against (`chdb` 1.4: 23.10, 2.1:
24.8, 3.7: 25.8), have one session per process and none of those
(shared.py). Both answer the front the same way: `request(req, user)`
gives a run whose `blocks()` are the answer.
"""

from chdb import _chdb


def open_engine(path, allow_external_access=False):
    """The engine of the data directory `path`, for the chDB installed."""
    if hasattr(_chdb, "query_class"):
        from .connections import Engine
    else:
        from .shared import Engine
    return Engine(path, allow_external_access)
