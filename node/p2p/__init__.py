"""Peer networking: mutual-TLS links, block sync, transaction forwarding."""
