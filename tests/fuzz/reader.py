"""Turning fuzz bytes into structured values, without atheris (so the seed corpus runs in plain pytest).

The fuzzer mutates bytes; the targets read them through this reader as choices, integers, byte
strings and JSON values, so a small mutation is a small change of the structure built from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

EDGE_INTS = (0, 1, -1, 2**31, 2**32, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63) - 1, 10**30)


@dataclass
class ByteReader:
    data: bytes
    pos: int = 0

    @property
    def left(self) -> int:
        return len(self.data) - self.pos

    def byte(self) -> int:
        if self.pos >= len(self.data):
            return 0
        b = self.data[self.pos]
        self.pos += 1
        return b

    def pick(self, options: tuple[T, ...] | list[T]) -> T:
        return options[self.byte() % len(options)]

    def uint(self, size: int) -> int:
        return int.from_bytes(bytes(self.byte() for _ in range(size)), "big")

    def take(self, limit: int) -> bytes:
        n = min(self.byte() % (limit + 1), self.left)
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def exact(self, n: int) -> bytes:
        """The next ``n`` bytes (fewer at the end of the input)."""
        out = self.data[self.pos:self.pos + n]
        self.pos += len(out)
        return out

    def rest(self) -> bytes:
        out = self.data[self.pos:]
        self.pos = len(self.data)
        return out

    def json_value(self, depth: int = 0) -> Any:
        """A JSON value: edges of integer ranges, hex strings of fuzz bytes, text, containers."""
        kind = self.byte() % (10 if depth < 3 else 7)
        if kind == 0:
            return None
        if kind == 1:
            return bool(self.byte() & 1)
        if kind == 2:
            return self.pick(EDGE_INTS)
        if kind == 3:
            return self.uint(self.byte() % 9)
        if kind == 4:
            return "0x" + self.take(40).hex()
        if kind == 5:
            return self.take(24).decode("utf-8", "replace")
        if kind == 6:
            return float(self.uint(2)) / 7.0
        if kind == 7:
            return [self.json_value(depth + 1) for _ in range(self.byte() % 4)]
        if kind == 8:
            return {self.take(8).decode("utf-8", "replace"): self.json_value(depth + 1) for _ in range(self.byte() % 4)}
        return "0x" + "ab" * 32
