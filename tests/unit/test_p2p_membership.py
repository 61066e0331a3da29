"""Peer links follow the on-chain node list: a node outside it is refused until admitted, a
promoted node's link carries consensus, and a removed node's link is closed and stays refused."""

from __future__ import annotations

from dataclasses import replace

from node.crypto import get_suite
from node.p2p.certs import make_ca
from tests.unit.test_p2p import Peer, until


async def test_a_node_is_refused_until_admitted_then_follows_its_role_and_is_cut_off_when_removed(tmp_path):
    suite = get_suite("std")
    ca = make_ca("test")
    member_list: list = []  # the member's committed node list
    newcomer_list: list = []  # the newcomer's: genesis, which lists the member but not itself
    member = Peer(tmp_path, "member", ca, suite, member_list)
    newcomer = Peer(tmp_path, "newcomer", ca, suite, newcomer_list)
    member_list.append(member.address())
    newcomer_list.append(member.address())
    nm, nn = member.network(), newcomer.network()
    await nm.start()
    await nn.start()
    try:
        # Not in the member's list: whichever side dials, the member refuses (or is refused).
        if newcomer.key.public_bytes < member.key.public_bytes:
            assert await until(lambda: nm.refused >= 1)
        else:
            await until(lambda: False, timeout=1.5)  # the member does not even know whom to dial
        assert not nm.links and not nn.links

        # Admitted as an observer: the link comes up, as an observer's.
        member_list.append(replace(newcomer.address(), role="observer"))
        nm.follow_node_list()
        assert await until(lambda: newcomer.key.public_bytes in nm.links and member.key.public_bytes in nn.links, timeout=15)
        assert nm.links[newcomer.key.public_bytes].role == "observer"
        nm.broadcast({"t": "cons", "m": b"vote"}, roles=("validator",))
        nm.broadcast({"t": "status", "height": 1})
        assert await until(lambda: any(msg["t"] == "status" for _, msg in newcomer.inbox))
        assert not any(msg["t"] == "cons" for _, msg in newcomer.inbox)

        # Promoted: the same link now carries consensus frames.
        member_list[-1] = newcomer.address()
        nm.follow_node_list()
        assert nm.links[newcomer.key.public_bytes].role == "validator"
        nm.broadcast({"t": "cons", "m": b"vote"}, roles=("validator",))
        assert await until(lambda: any(msg["t"] == "cons" for _, msg in newcomer.inbox))

        # Removed: the member closes the link and refuses it from then on.
        del member_list[-1]
        refused = nm.refused
        nm.follow_node_list()
        assert newcomer.key.public_bytes not in nm.links
        assert await until(lambda: member.key.public_bytes not in nn.links)
        if newcomer.key.public_bytes < member.key.public_bytes:
            assert await until(lambda: nm.refused > refused, timeout=15)  # it dials again and is refused
        await until(lambda: False, timeout=1.0)
        assert newcomer.key.public_bytes not in nm.links
    finally:
        await nm.stop()
        await nn.stop()
