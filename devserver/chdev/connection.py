"""How long a connection may take: idle between requests, and a request's head.

A connection waits at most the keep-alive timeout for its next request;
once the request's first byte is in, the whole head (request line and
headers) must arrive within the receive timeout, however slowly it trickles.
After the head every read and write gets the receive timeout on its own, as
ClickHouse's http_receive_timeout and http_send_timeout work. A connection
past its time is closed, so that slow or silent clients cannot hold the
server's threads.
"""

import io
import time


class TimedReader(io.RawIOBase):
    """A socket's reads, each bounded by what is left of the current deadline."""

    def __init__(self, sock):
        self.sock = sock
        self.idle_until = None  # waiting for a request's first byte
        self.head_seconds = None
        self.head_until = None  # reading a request's head

    def readable(self):
        return True

    def await_request(self, idle_seconds, head_seconds):
        """The next reads are a request's head, after at most idle_seconds of silence."""
        self.idle_until = time.monotonic() + idle_seconds
        self.head_seconds = head_seconds
        self.head_until = None

    def head_done(self, seconds):
        """The head is in: from now on each read or write may take `seconds`."""
        self.idle_until = self.head_until = None
        self.sock.settimeout(seconds)

    def readinto(self, buffer):
        until = self.idle_until if self.idle_until is not None else self.head_until
        if until is not None:
            left = until - time.monotonic()
            if left <= 0:
                raise TimeoutError("the connection was idle, or sent its request's head, for too long")
            self.sock.settimeout(left)
        count = self.sock.recv_into(buffer)
        if count and self.idle_until is not None:
            self.idle_until = None
            self.head_until = time.monotonic() + self.head_seconds
        return count
