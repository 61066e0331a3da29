"""The Python SDK: keys, transactions, JSON-RPC client, receipt proofs, resumable subscriptions."""

from node.config import load_key, save_key
from node.sdk.args import decode_return, encode_args, json_to_args, to_jsonable
from node.sdk.client import Account, ReceiptTimeout, RpcClient, RpcError, TransactionDropped
from node.sdk.tx import build_transaction, tx_hash
from node.sdk.verify import verify_receipt_proof

__all__ = [
    "Account",
    "ReceiptTimeout",
    "TransactionDropped",
    "RpcClient",
    "RpcError",
    "build_transaction",
    "decode_return",
    "encode_args",
    "json_to_args",
    "load_key",
    "save_key",
    "to_jsonable",
    "tx_hash",
    "verify_receipt_proof",
]
