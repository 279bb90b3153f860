"""A small bounded hand-off between two threads, either "newest wins" or lossless.

Live sources must never make a consumer work on stale data: a camera keeps producing while
inference runs, so the slot keeps only the newest items and counts what it drops. Offline
analysis wants every frame instead: the producer then blocks until the consumer has room.
Closing the hand-off ends the stream: the consumer drains what is left, then gets ``END``.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class _End:
    def __repr__(self) -> str:
        return "END"


#: What :meth:`Handoff.get` returns once the hand-off is closed and drained.
END = _End()


class Handoff(Generic[T]):
    """A bounded queue between one producer and one consumer thread.

    ``drop_oldest=True`` (live): :meth:`put` never blocks; when full, the oldest item is
    dropped and counted in :attr:`dropped`. ``drop_oldest=False`` (lossless): :meth:`put`
    waits for room, so nothing is ever dropped.
    """

    def __init__(self, capacity: int = 1, drop_oldest: bool = True) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self.drop_oldest = drop_oldest
        self.dropped = 0
        self.put_count = 0
        self._items: deque[T] = deque()
        self._closed = False
        self._cond = threading.Condition()

    def put(self, item: T) -> bool:
        """Hand over ``item``; returns False (and drops it) if the hand-off is closed."""
        with self._cond:
            while not self.drop_oldest and len(self._items) >= self.capacity and not self._closed:
                self._cond.wait()
            if self._closed:
                return False
            if len(self._items) >= self.capacity:
                self._items.popleft()
                self.dropped += 1
            self._items.append(item)
            self.put_count += 1
            self._cond.notify_all()
            return True

    def get(self, timeout: float | None = None) -> T | _End | None:
        """The next item; ``END`` once closed and drained; None if ``timeout`` passed first."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._items or self._closed, timeout):
                return None
            if self._items:
                item = self._items.popleft()
                self._cond.notify_all()
                return item
            return END

    def close(self) -> None:
        """End the stream: wakes a blocked producer (its item is dropped) and the consumer."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)
