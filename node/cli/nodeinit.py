"""``consortia node init``, ``node install-cert`` and ``ca sign``: preparing a node on another host.

The three steps run on two machines and exchange only public material: the new host's CSR goes
to the CA holder, the signed certificate and the CA certificate come back. See
docs/operator-guide.md, "Joining from another host".
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path

from node.cli.common import CliError
from node.config import GENESIS_FILE, KEY_FILE, NodeConfig, P2PConfig, RpcConfig
from node.crypto import get_suite
from node.genesis import Genesis
from node.keyfile import PassphraseSource, load_key_and_passphrase, passphrase_from_file, save_key
from node.p2p.certs import CA_CERT, NODE_CERT, NODE_KEY, TLS_DIR, load_ca
from node.p2p.enrol import check_node_cert, make_request, read_request, sign_request
from node.p2p.tlskey import NEXT_KEY, home_passphrase, open_tls_key, write_tls_key

NODE_CSR = "node.csr"


def register_node_commands(node_commands: argparse._SubParsersAction) -> None:
    init = node_commands.add_parser("init", help="prepare a node home for an existing network (keys, CSR, config) on this host")
    init.add_argument("--home", required=True, type=Path, help="node home to create")
    init.add_argument("--genesis", required=True, type=Path, help="the network's genesis.json")
    init.add_argument("--name", required=True, help="this node's name (the certificate's common name)")
    init.add_argument("--host", default="127.0.0.1", help="address this node binds and advertises")
    init.add_argument("--p2p-port", type=int, default=26601)
    init.add_argument("--rpc-port", type=int, default=26600)
    init.add_argument("--encrypt", action="store_true",
                      help="encrypt node.key and tls/node.key with one passphrase (from --passphrase-file or a prompt)")
    init.add_argument("--passphrase-file", type=Path, default=None)
    init.add_argument("--force", action="store_true", help="write into a non-empty home")
    init.set_defaults(func=node_init)
    install = node_commands.add_parser("install-cert", help="install the CA-signed certificate for a home made by 'node init'")
    install.add_argument("--home", required=True, type=Path)
    install.add_argument("--cert", required=True, type=Path, help="certificate returned by 'consortia ca sign'")
    install.add_argument("--ca-cert", required=True, type=Path, help="the consortium CA certificate (ca.crt)")
    install.add_argument("--passphrase-file", type=Path, default=None, help="passphrase of an encrypted home (node.key and TLS key)")
    install.set_defaults(func=node_install_cert)
    csr = node_commands.add_parser("csr", help="start a TLS certificate rotation: a new TLS key and a request for this node's chain key")
    csr.add_argument("--home", required=True, type=Path)
    csr.add_argument("--passphrase-file", type=Path, default=None,
                     help="passphrase of an encrypted node.key (the new TLS key is sealed with it too)")
    csr.set_defaults(func=node_csr)


def register_ca_commands(sub: argparse._SubParsersAction) -> None:
    ca = sub.add_parser("ca", help="consortium CA operations (on the CA holder's host)")
    cs = ca.add_subparsers(dest="ca_cmd", required=True, metavar="COMMAND")
    sign = cs.add_parser("sign", help="sign a node's certificate request after checking it")
    sign.add_argument("--ca", required=True, type=Path, help="CA directory (ca.crt and ca.key; <net>/ca after 'net init')")
    sign.add_argument("--csr", required=True, type=Path, help="the node's tls/node.csr")
    sign.add_argument("--out", required=True, type=Path, help="certificate file to write")
    sign.set_defaults(func=ca_sign)


def _port(value: int, what: str) -> int:
    if not 1 <= value <= 65535:
        raise CliError(f"{what} must be 1..65535")
    return value


def _source(args: argparse.Namespace) -> PassphraseSource | None:
    return passphrase_from_file(args.passphrase_file) if args.passphrase_file else None


def node_init(args: argparse.Namespace) -> int:
    home: Path = args.home
    if home.exists() and any(home.iterdir()) and not args.force:
        raise CliError(f"{home} is not empty; use --force to write into it")
    p2p_port, rpc_port = _port(args.p2p_port, "--p2p-port"), _port(args.rpc_port, "--rpc-port")
    genesis = Genesis.load(args.genesis)
    suite = get_suite(genesis.suite)
    key = suite.generate_keypair()
    if any(n.pubkey == key.public_bytes for n in genesis.nodes):  # pragma: no cover - a fresh key collides with nothing
        raise CliError("generated key collides with a genesis node")
    passphrase = None
    if args.encrypt:
        from node.cli.keycmd import new_passphrase

        passphrase = new_passphrase(args.passphrase_file, home / KEY_FILE)
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(args.genesis, home / GENESIS_FILE)
    save_key(home / KEY_FILE, key, passphrase)
    tls = home / TLS_DIR
    tls.mkdir(exist_ok=True)
    tls_key, csr = make_request(args.name, key.public_bytes)
    write_tls_key(tls / NODE_KEY, tls_key, passphrase)  # one passphrase per home: the node key's
    (tls / NODE_CSR).write_bytes(csr)
    # A joining node starts as an observer: governance admits it as one and may promote it later.
    NodeConfig(name=args.name, role="observer", rpc=RpcConfig(host=args.host, port=rpc_port),
               p2p=P2PConfig(host=args.host, port=p2p_port)).save(home)
    pubkey = "0x" + key.public_bytes.hex()
    print(f"node home for '{args.name}' on chain {genesis.chain_id} ({genesis.suite}) written to {home}")
    print(f"  node public key  {pubkey}")
    print(f"  node address     0x{suite.address(key.public_bytes).hex()}")
    print("next steps:")
    print(f"  1. send {tls / NODE_CSR} to the consortium CA holder, who runs:")
    print(f"       consortia ca sign --ca <net>/ca --csr {NODE_CSR} --out {args.name}.crt")
    print(f"  2. install what comes back: consortia node install-cert --home {home} --cert {args.name}.crt --ca-cert ca.crt")
    admission = json.dumps({"pubkey": pubkey, "name": args.name, "host": args.host, "p2p_port": p2p_port})
    print("  3. ask a committee member to propose this node's admission as an observer, and the members to vote:")
    print(f"       consortia gov propose --net <net> --key <member key> --type admit_observer --args '{admission}'")
    print(f"  4. start it: consortia node run --home {home}   (it is refused until the admission executes, then catches up)")
    return 0


def ca_sign(args: argparse.Namespace) -> int:
    ca = load_ca(args.ca)
    try:
        csr = args.csr.read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {args.csr}: {exc.strerror or exc}") from None
    name, pubkey = read_request(csr)
    if args.out.exists():
        raise CliError(f"{args.out} exists; remove it first")
    args.out.write_bytes(sign_request(ca, csr))
    print(f"signed certificate for node '{name}' (chain key 0x{pubkey.hex()}) -> {args.out}")
    print("check the name and key with the requesting organisation before you send it back, together with ca.crt")
    return 0


def node_install_cert(args: argparse.Namespace) -> int:
    home: Path = args.home
    tls = home / TLS_DIR
    if not (tls / NODE_KEY).exists() or not (home / KEY_FILE).exists():
        raise CliError(f"{home} is not a home made by 'consortia node init' (no {KEY_FILE} or {TLS_DIR}/{NODE_KEY})")
    source = _source(args)
    key, secret = load_key_and_passphrase(home / KEY_FILE, source)
    try:
        cert, ca_cert = args.cert.read_bytes(), args.ca_cert.read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {exc.filename}: {exc.strerror or exc}") from None
    rotating = (tls / NEXT_KEY).exists()
    tls_key = tls / (NEXT_KEY if rotating else NODE_KEY)
    tls_public = open_tls_key(tls_key, home, home_passphrase(secret, source)).key.public_key()
    name = check_node_cert(cert, ca_cert, tls_public, key.public_bytes)
    configured = NodeConfig.load(home).name
    if name != configured:
        raise CliError(f"the certificate is for node '{name}' but this home is '{configured}'")
    (tls / NODE_CERT).write_bytes(cert)
    (tls / CA_CERT).write_bytes(ca_cert)
    if rotating:
        os.replace(tls / NEXT_KEY, tls / NODE_KEY)
    (tls / NODE_CSR).unlink(missing_ok=True)
    if rotating:
        print(f"new certificate and TLS key for '{name}' installed in {tls}; restart the node to use them")
    else:
        print(f"certificate for '{name}' installed in {tls}; the node can run once governance admits it")
    return 0


def node_csr(args: argparse.Namespace) -> int:
    """A new TLS key (kept beside the current one until its certificate is installed) and its request."""
    home: Path = args.home
    tls = home / TLS_DIR
    key, secret = load_key_and_passphrase(home / KEY_FILE, _source(args))
    name = NodeConfig.load(home).name
    tls.mkdir(exist_ok=True)
    tls_key, csr = make_request(name, key.public_bytes)
    write_tls_key(tls / NEXT_KEY, tls_key, secret)  # sealed with node.key's passphrase when that is encrypted
    (tls / NODE_CSR).write_bytes(csr)
    sealed = ", sealed with node.key's passphrase" if secret is not None else ""
    print(f"new TLS key {tls / NEXT_KEY}{sealed} and request {tls / NODE_CSR} for node '{name}' (chain key 0x{key.public_bytes.hex()})")
    print(f"the node keeps running on its current certificate; send {NODE_CSR} to the CA holder (consortia ca sign), then")
    print(f"  consortia node install-cert --home {home} --cert NEW.crt --ca-cert ca.crt   and restart the node")
    return 0
