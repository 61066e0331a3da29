"""One exception hierarchy for every protocol, so a worker can map any failure to a task status."""

from __future__ import annotations


class ProtocolError(Exception):
    """A protocol run cannot go on; the message says which party, task and round."""


class PeerTimeout(ProtocolError):
    """A peer sent nothing within the receive timeout (it stopped answering or dropped out)."""


class MalformedMessage(ProtocolError):
    """A frame that does not decode, has the wrong fields, types or lengths."""


class UnexpectedMessage(ProtocolError):
    """A well-formed message for another task, round, kind or position: a replay or a confused peer."""


class InvalidPoint(MalformedMessage):
    """A group element that is not canonical, not on the curve, or of small order."""


class InvalidInput(ProtocolError):
    """Local input the protocol refuses: NaN, out of range, wrong shape, too few parties."""
