"""The consensus engines by name: the one place genesis, the node and the simulator look them up.

Adding an engine means a package beside ``pbft/`` and ``raft/`` with a core that implements
``ConsensusCore``, a message codec, and one entry here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from consensus.api import Application, ConsensusCore, ConsensusEnv
from consensus.certificate import majority_quorum, quorum_size
from consensus.pbft.core import PbftCore
from consensus.pbft.messages import decode_message as pbft_decode
from consensus.pbft.messages import encode_message as pbft_encode
from consensus.raft.core import RaftCore
from consensus.raft.messages import decode_message as raft_decode
from consensus.raft.messages import encode_message as raft_encode
from node.crypto.base import KeyPair
from node.errors import ConfigError


@dataclass(frozen=True)
class EngineSpec:
    name: str
    make_core: Callable[[Application, KeyPair, ConsensusEnv], ConsensusCore]
    encode: Callable[[Any], bytes]
    decode: Callable[[bytes], Any]
    quorum: Callable[[int], int]  # votes a commit certificate needs among n validators
    fault_model: str


ENGINES: dict[str, EngineSpec] = {
    "pbft": EngineSpec("pbft", PbftCore, pbft_encode, pbft_decode, quorum_size, "byzantine: n = 3f + 1"),
    "raft": EngineSpec("raft", RaftCore, raft_encode, raft_decode, majority_quorum, "crash: n = 2f + 1"),
}


def engine_spec(name: str) -> EngineSpec:
    spec = ENGINES.get(name)
    if spec is None:
        raise ConfigError(f"unknown consensus engine '{name}' (known: {', '.join(ENGINES)})")
    return spec


def certificate_quorum(engine: str, n_validators: int) -> int:
    """The commit-certificate quorum of a chain's engine among ``n_validators``."""
    return engine_spec(engine).quorum(n_validators)
