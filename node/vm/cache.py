"""Compiled contracts by code hash, in memory and on disk, so a call never recompiles.

Compiling with cranelift takes tens of milliseconds; loading a serialized artifact takes well
under one. The disk cache lives in the node's data directory (trusted like the database) and
its file names carry the engine fingerprint, so an upgraded wasmtime never loads stale code.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import wasmtime

from node.vm import rawapi
from node.vm.engine import engine_fingerprint

log = logging.getLogger(__name__)


@dataclass
class CompiledContract:
    code_hash: bytes
    module: wasmtime.Module
    pre: wasmtime.InstancePre

    @property
    def pre_addr(self) -> int:
        return rawapi.address_of(self.pre.ptr())


@dataclass
class CacheStats:
    hits: int = 0
    disk_loads: int = 0
    compiles: int = 0


class ModuleCache:
    def __init__(self, engine: wasmtime.Engine, linker: wasmtime.Linker, disk_dir: Path | None, capacity: int = 128) -> None:
        self.engine = engine
        self.linker = linker
        self.disk_dir = disk_dir
        self.capacity = capacity
        self.stats = CacheStats()
        self._fingerprint = engine_fingerprint()
        self._memory: OrderedDict[bytes, CompiledContract] = OrderedDict()
        self._lock = threading.RLock()  # queries compile and look up modules from worker threads
        if disk_dir is not None:
            disk_dir.mkdir(parents=True, exist_ok=True)

    def _path(self, code_hash: bytes) -> Path | None:
        if self.disk_dir is None:
            return None
        return self.disk_dir / f"{code_hash.hex()}-{self._fingerprint}.cwasm"

    def get(self, code_hash: bytes) -> CompiledContract | None:
        """The compiled contract, from memory or disk; None if it must be compiled."""
        with self._lock:
            return self._get(code_hash)

    def _get(self, code_hash: bytes) -> CompiledContract | None:
        entry = self._memory.get(code_hash)
        if entry is not None:
            self._memory.move_to_end(code_hash)
            self.stats.hits += 1
            return entry
        path = self._path(code_hash)
        if path is not None and path.exists():
            try:
                module = wasmtime.Module.deserialize_file(self.engine, str(path))
            except wasmtime.WasmtimeError as exc:
                log.warning("event=wasm_cache_unreadable path=%s error=%s", path, str(exc).splitlines()[0])
                path.unlink(missing_ok=True)
                return None
            self.stats.disk_loads += 1
            return self._remember(code_hash, module)
        return None

    def add(self, code_hash: bytes, module: wasmtime.Module) -> CompiledContract:
        """Remember a freshly compiled (and validated) module."""
        with self._lock:
            return self._add(code_hash, module)

    def _add(self, code_hash: bytes, module: wasmtime.Module) -> CompiledContract:
        self.stats.compiles += 1
        path = self._path(code_hash)
        if path is not None:
            tmp = path.with_suffix(f".tmp{os.getpid()}")
            try:
                tmp.write_bytes(module.serialize())
                os.replace(tmp, path)
            except OSError as exc:  # a full disk slows the node down, it does not stop it
                log.warning("event=wasm_cache_write_failed path=%s error=%s", path, exc)
                tmp.unlink(missing_ok=True)
        return self._remember(code_hash, module)

    def _remember(self, code_hash: bytes, module: wasmtime.Module) -> CompiledContract:
        entry = CompiledContract(code_hash=code_hash, module=module, pre=self.linker.instantiate_pre(module))
        self._memory[code_hash] = entry
        while len(self._memory) > self.capacity:
            self._memory.popitem(last=False)
        return entry

    def __contains__(self, code_hash: bytes) -> bool:
        return code_hash in self._memory
