"""``consortia key new|import|show|export-public|change-passphrase|encrypt-tls``: key files, plaintext or encrypted at rest.

A node home has one passphrase: ``change-passphrase`` of a home's ``node.key`` re-seals (or seals,
or with ``--decrypt`` unseals) the home's TLS keys with it, all files or none, and
``encrypt-tls`` seals the TLS key of a home whose node key is already encrypted.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from node.cli.common import CliError
from node.config import KEY_FILE
from node.crypto import SUITES, get_suite
from node.crypto.base import KeyPair
from node.keyfile import (
    PassphraseSource,
    check_new_passphrase,
    check_private,
    key_file_text,
    key_info,
    load_key_and_passphrase,
    passphrase_from_file,
    replace_private_files,
    save_key,
)
from node.p2p.tlskey import companion_tls_keys, decode, encode, home_passphrase, is_encrypted, open_tls_key, tls_key_files

NEW_PASSPHRASE_ENV = "CONSORTIA_NEW_KEY_PASSPHRASE"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("key", help="create, import, inspect and re-encrypt key files")
    ks = p.add_subparsers(dest="key_cmd", required=True, metavar="COMMAND")

    new = ks.add_parser("new", help="generate a key pair and write it to a file (mode 0600)")
    new.add_argument("--suite", choices=SUITES, required=True)
    new.add_argument("--out", type=Path, required=True, help="key file to write")
    new.add_argument("--force", action="store_true", help="overwrite an existing file")
    _encryption_options(new)
    new.set_defaults(func=key_new)

    imp = ks.add_parser("import", help="write a key file from an existing private key")
    imp.add_argument("--suite", choices=SUITES, required=True)
    imp.add_argument("--from", dest="source", type=Path, required=True,
                     help="file holding the private key: 0x-hex (either suite) or PKCS#8 PEM (std, unencrypted)")
    imp.add_argument("--out", type=Path, required=True, help="key file to write")
    imp.add_argument("--force", action="store_true", help="overwrite an existing file")
    _encryption_options(imp)
    imp.set_defaults(func=key_import)

    show = ks.add_parser("show", help="print a key file's suite, public key, address and whether it is encrypted")
    show.add_argument("file", type=Path)
    show.set_defaults(func=key_show)

    export = ks.add_parser("export-public", help="print (or write) the public half as JSON: suite, public_key, address")
    export.add_argument("file", type=Path)
    export.add_argument("--out", type=Path, default=None, help="write here instead of standard output")
    export.set_defaults(func=key_export_public)

    change = ks.add_parser("change-passphrase", help="re-encrypt a key file under a new passphrase (or encrypt a plaintext one); "
                                                     "a node home's node.key takes the home's TLS keys along")
    change.add_argument("file", type=Path)
    change.add_argument("--passphrase-file", type=Path, default=None, help="current passphrase (first line)")
    change.add_argument("--new-passphrase-file", type=Path, default=None, help="new passphrase (first line)")
    change.add_argument("--decrypt", action="store_true", help="write the key back in plaintext instead")
    change.set_defaults(func=key_change_passphrase)

    tls = ks.add_parser("encrypt-tls", help="seal a node home's plaintext TLS key(s) with the passphrase of its encrypted node.key")
    tls.add_argument("--home", type=Path, required=True, help="node home (holds node.key and tls/node.key)")
    tls.add_argument("--passphrase-file", type=Path, default=None, help="node.key's passphrase (first line)")
    tls.set_defaults(func=key_encrypt_tls)


def _encryption_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--encrypt", action="store_true",
                   help=f"seal the private key with a passphrase (from --passphrase-file, ${NEW_PASSPHRASE_ENV} or a prompt)")
    p.add_argument("--passphrase-file", type=Path, default=None, help="passphrase for --encrypt (first line of the file)")


def new_passphrase(path: Path | None, key_path: Path) -> str:
    """A passphrase for sealing: a file, the environment, or typed twice on a terminal."""
    if path is not None:
        value = passphrase_from_file(path)(key_path)
    else:
        env = os.environ.get(NEW_PASSPHRASE_ENV)
        if env:
            value = env
        elif sys.stdin is not None and sys.stdin.isatty():
            value = getpass.getpass(f"new passphrase for {key_path}: ")
            if getpass.getpass("repeat it: ") != value:
                raise CliError("the two passphrases differ")
        else:
            raise CliError(f"give the new passphrase with --passphrase-file / --new-passphrase-file, ${NEW_PASSPHRASE_ENV} or on a terminal")
    check_new_passphrase(value)
    return value


def _write(args: argparse.Namespace, key: KeyPair) -> None:
    if args.out.exists() and not args.force:
        raise CliError(f"{args.out} exists; use --force to overwrite it")
    passphrase = new_passphrase(args.passphrase_file, args.out) if args.encrypt else None
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_key(args.out, key, passphrase)
    _print_key(key.suite, key.public_bytes, encrypted=passphrase is not None)
    print(f"written to: {args.out}")


def _print_key(suite_name: str, public: bytes, encrypted: bool) -> None:
    suite = get_suite(suite_name)
    print(f"suite:      {suite_name}")
    print(f"address:    0x{suite.address(public).hex()}")
    print(f"public key: 0x{public.hex()}")
    print(f"encrypted:  {'yes' if encrypted else 'no'}")


def key_new(args: argparse.Namespace) -> int:
    _write(args, get_suite(args.suite).generate_keypair())
    return 0


def _read_private(source: Path, suite_name: str) -> bytes:
    try:
        text = source.read_text().strip()
    except OSError as exc:
        raise CliError(f"cannot read {source}: {exc.strerror or exc}") from None
    if text.startswith("-----BEGIN"):
        if suite_name != "std":
            raise CliError("PEM import is for std (Ed25519) keys; give an sm key as 0x-hex")
        try:
            pem_key = serialization.load_pem_private_key(text.encode(), password=None)
        except (ValueError, TypeError) as exc:
            raise CliError(f"{source}: not an unencrypted PKCS#8 PEM private key ({exc})") from None
        if not isinstance(pem_key, Ed25519PrivateKey):
            raise CliError(f"{source}: the PEM holds a {type(pem_key).__name__}, not an Ed25519 key")
        return pem_key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    try:
        return bytes.fromhex(text[2:] if text.startswith("0x") else text)
    except ValueError:
        raise CliError(f"{source}: expected 0x-hex of the private key or a PEM block") from None


def key_import(args: argparse.Namespace) -> int:
    private = _read_private(args.source, args.suite)
    try:
        key = get_suite(args.suite).keypair_from_private(private)
    except Exception as exc:  # the suite says why the bytes are not a private key
        raise CliError(f"{args.source}: not a valid {args.suite} private key ({exc})") from None
    _write(args, key)
    return 0


def key_show(args: argparse.Namespace) -> int:
    info = key_info(args.file)
    _print_key(info.suite, info.public_key, info.encrypted)
    return 0


def key_export_public(args: argparse.Namespace) -> int:
    info = key_info(args.file)
    body = json.dumps({"suite": info.suite, "public_key": "0x" + info.public_key.hex(),
                       "address": "0x" + get_suite(info.suite).address(info.public_key).hex()}, indent=2) + "\n"
    if args.out is None:
        sys.stdout.write(body)
    else:
        args.out.write_text(body)
        print(f"written to: {args.out}")
    return 0


def key_change_passphrase(args: argparse.Namespace) -> int:
    current: PassphraseSource | None = passphrase_from_file(args.passphrase_file) if args.passphrase_file else None
    key, old = load_key_and_passphrase(args.file, current)
    # A home's TLS keys share its node key's passphrase: open them all before anything is written.
    home = args.file.parent
    tls_keys = [(path, open_tls_key(path, home, home_passphrase(old, current)).key) for path in companion_tls_keys(args.file)]
    new = None if args.decrypt else new_passphrase(args.new_passphrase_file, args.file)
    contents = {args.file: key_file_text(key, new)}
    contents.update({path: encode(tls_key, new).decode() for path, tls_key in tls_keys})
    replace_private_files(contents)
    done = "decrypted (plaintext)" if new is None else "re-encrypted"
    print(f"{args.file}: {done}")
    for path, _ in tls_keys:
        print(f"{path}: {done} with it (one passphrase per node home)")
    if new is None:
        files = " and ".join(str(p) for p in contents)
        print(f"warning: the private keys in {files} are now readable by anyone who can read the files", file=sys.stderr)
    return 0


def key_encrypt_tls(args: argparse.Namespace) -> int:
    """Seal the plaintext TLS keys of a home whose node key is encrypted, with that key's passphrase."""
    node_key = args.home / KEY_FILE
    if not key_info(node_key).encrypted:
        raise CliError(f"{node_key} is plaintext: encrypt the whole home with 'consortia key change-passphrase {node_key}' "
                       f"(it seals the TLS key too)")
    files = tls_key_files(args.home)
    if not files:
        raise CliError(f"{args.home} has no TLS key (tls/node.key)")
    _, secret = load_key_and_passphrase(node_key, passphrase_from_file(args.passphrase_file) if args.passphrase_file else None)
    assert secret is not None  # node.key is encrypted
    contents: dict[Path, str] = {}
    for path in files:
        check_private(path, "TLS key file")
        pem = path.read_bytes()
        if is_encrypted(pem):
            open_tls_key(path, args.home, home_passphrase(secret, None))  # must already share the passphrase
            print(f"{path}: already encrypted with the home's passphrase")
        else:
            contents[path] = encode(decode(pem, None, path), secret).decode()
    replace_private_files(contents)
    for path in contents:
        print(f"{path}: encrypted with the passphrase of {node_key}")
    return 0
