//! Credential issuers (DIDs whose controller holds the `credential_issuer` role) and credentials
//! anchored by hash: issue, revoke, and check status.

use consortia_sdk::check::{self, bool_of, load_map, set, str_of, u64_of};
use consortia_sdk::storage::{self, Key, List};
use consortia_sdk::{emit, ensure, env, hex, Args, Error, Value};

use crate::doc::{self, did_arg};

pub const ISSUER_ROLE: &str = "credential_issuer";
pub const REGULATOR_ROLE: &str = "regulator";
pub const MAX_SCHEMA_LEN: usize = 128;
pub const MAX_NAME_LEN: usize = 128;
pub const MAX_REASON_LEN: usize = 256;
/// Credentials one subject can hold: `has_valid_credential` scans them all.
pub const MAX_PER_SUBJECT: u64 = 256;

fn issuer_key(did: &str) -> Key {
    Key::new("issuer").part(did.as_bytes())
}
fn cred_key(hash: &[u8]) -> Key {
    Key::new("cred").part(hash)
}
fn subject_list(did: &str) -> List {
    List::new(Key::new("subj").part(did.as_bytes()))
}
fn issued_list(did: &str) -> List {
    List::new(Key::new("issued").part(did.as_bytes()))
}

/// register_issuer {did, name?} -> nil: the caller controls `did` and holds `credential_issuer`.
pub fn register_issuer(args: &Args) -> Result<Value, Error> {
    let did = did_arg(args, "did")?;
    let name = args.opt_str("name")?.unwrap_or("");
    check::text("name", name, 0, MAX_NAME_LEN)?;
    let caller = env::caller();
    ensure!(env::has_role(ISSUER_ROLE, &caller), "the caller does not hold the {} role", ISSUER_ROLE);
    doc::load_controlled(did, &caller)?;
    if let Some(old) = storage::get_value(issuer_key(did).bytes())? {
        ensure!(!bool_of(&old, "active"), "{} is already a registered issuer", did);
    }
    let rec = Value::map().with("did", did).with("account", caller).with("name", name).with("height", env::block_height()).with("active", true);
    storage::set_value(issuer_key(did).bytes(), &rec);
    emit("IssuerRegistered", &Value::map().with("did", did).with("account", caller));
    Ok(Value::Nil)
}

/// remove_issuer {did} -> nil: by the DID's controller or a regulator. Issued credentials stop being valid.
pub fn remove_issuer(args: &Args) -> Result<Value, Error> {
    let did = did_arg(args, "did")?;
    let mut rec = load_map(issuer_key(did).bytes(), &format!("issuer {}", did))?;
    ensure!(bool_of(&rec, "active"), "{} is not an active issuer", did);
    let caller = env::caller();
    let controls = check::bin_of(&doc::load(did)?, "controller") == &caller[..];
    ensure!(controls || env::has_role(REGULATOR_ROLE, &caller), "only the issuer's controller or a regulator may remove an issuer");
    set(&mut rec, "active", false);
    storage::set_value(issuer_key(did).bytes(), &rec);
    emit("IssuerRemoved", &Value::map().with("did", did).with("by", caller));
    Ok(Value::Nil)
}

/// issuer {did} -> {did, account, name, height, active} | nil
pub fn issuer(args: &Args) -> Result<Value, Error> {
    let did = did_arg(args, "did")?;
    Ok(storage::get_value(issuer_key(did).bytes())?.unwrap_or(Value::Nil))
}

/// issue_credential {hash, issuer, subject, schema, expires_ms?} -> {seq}
pub fn issue(args: &Args) -> Result<Value, Error> {
    let hash = args.req_bin("hash")?;
    check::digest("hash", hash)?;
    let issuer = did_arg(args, "issuer")?;
    let subject = did_arg(args, "subject")?;
    let schema = args.req_str("schema")?;
    check::text("schema", schema, 1, MAX_SCHEMA_LEN)?;
    let expires = args.opt_u64("expires_ms")?.unwrap_or(0);
    let now = env::block_timestamp();
    ensure!(expires == 0 || expires > now, "expires_ms {} is not after the block time {}", expires, now);
    let caller = env::caller();
    doc::load_controlled(issuer, &caller)?;
    let rec = storage::get_value(issuer_key(issuer).bytes())?;
    ensure!(rec.as_ref().map(|r| bool_of(r, "active")) == Some(true), "{} is not a registered credential issuer", issuer);
    ensure!(env::has_role(ISSUER_ROLE, &caller), "the caller no longer holds the {} role", ISSUER_ROLE);
    let subject_doc = doc::load(subject)?;
    ensure!(!bool_of(&subject_doc, "deactivated"), "subject {} is deactivated", subject);
    ensure!(!storage::has(cred_key(hash).bytes()), "credential 0x{} is already anchored", hex(hash));
    let list = subject_list(subject);
    ensure!(list.len() < MAX_PER_SUBJECT, "{} already holds {} credentials", subject, MAX_PER_SUBJECT);
    let seq = list.push(hash);
    issued_list(issuer).push(hash);
    let cred = Value::map()
        .with("hash", hash)
        .with("issuer", issuer)
        .with("subject", subject)
        .with("schema", schema)
        .with("issued", env::block_height())
        .with("issued_ms", now)
        .with("expires_ms", expires)
        .with("revoked", false);
    storage::set_value(cred_key(hash).bytes(), &cred);
    emit("CredentialIssued", &Value::map().with("hash", hash).with("issuer", issuer).with("subject", subject).with("schema", schema).with("expires_ms", expires));
    Ok(Value::map().with("seq", seq))
}

/// revoke_credential {hash, reason?} -> nil: by the issuer's controller or a regulator.
pub fn revoke(args: &Args) -> Result<Value, Error> {
    let hash = args.req_bin("hash")?;
    check::digest("hash", hash)?;
    let reason = args.opt_str("reason")?.unwrap_or("");
    check::text("reason", reason, 0, MAX_REASON_LEN)?;
    let mut cred = load_map(cred_key(hash).bytes(), &format!("credential 0x{}", hex(hash)))?;
    ensure!(!bool_of(&cred, "revoked"), "credential 0x{} is already revoked", hex(hash));
    let caller = env::caller();
    let issuer_doc = doc::load(str_of(&cred, "issuer"))?;
    let controls = check::bin_of(&issuer_doc, "controller") == &caller[..];
    ensure!(controls || env::has_role(REGULATOR_ROLE, &caller), "only the issuer's controller or a regulator may revoke a credential");
    set(&mut cred, "revoked", true);
    set(&mut cred, "revoked_height", env::block_height());
    set(&mut cred, "revoke_reason", reason);
    storage::set_value(cred_key(hash).bytes(), &cred);
    emit("CredentialRevoked", &Value::map().with("hash", hash).with("by", caller).with("reason", reason));
    Ok(Value::Nil)
}

/// credential {hash} -> record | nil
pub fn credential(args: &Args) -> Result<Value, Error> {
    let hash = args.req_bin("hash")?;
    check::digest("hash", hash)?;
    Ok(storage::get_value(cred_key(hash).bytes())?.unwrap_or(Value::Nil))
}

/// Why a stored credential is not valid now, or "valid".
fn status_of(cred: &Value) -> Result<&'static str, Error> {
    if bool_of(cred, "revoked") {
        return Ok("revoked");
    }
    let expires = u64_of(cred, "expires_ms");
    if expires != 0 && env::block_timestamp() >= expires {
        return Ok("expired");
    }
    let issuer = str_of(cred, "issuer");
    match storage::get_value(issuer_key(issuer).bytes())? {
        Some(rec) if bool_of(&rec, "active") => {}
        _ => return Ok("issuer_removed"),
    }
    if bool_of(&doc::load(issuer)?, "deactivated") {
        return Ok("issuer_deactivated");
    }
    if bool_of(&doc::load(str_of(cred, "subject"))?, "deactivated") {
        return Ok("subject_deactivated");
    }
    Ok("valid")
}

/// credential_status {hash} -> {status, credential}: status is valid, revoked, expired,
/// issuer_removed, issuer_deactivated, subject_deactivated or unknown.
pub fn status(args: &Args) -> Result<Value, Error> {
    let hash = args.req_bin("hash")?;
    check::digest("hash", hash)?;
    match storage::get_value(cred_key(hash).bytes())? {
        None => Ok(Value::map().with("status", "unknown").with("credential", Value::Nil)),
        Some(cred) => Ok(Value::map().with("status", status_of(&cred)?).with("credential", cred)),
    }
}

/// credentials_of {subject, offset?, limit?} -> {total, offset, items: [record + status]}
pub fn credentials_of(args: &Args) -> Result<Value, Error> {
    let subject = did_arg(args, "subject")?;
    let (offset, limit) = check::page(args)?;
    let list = subject_list(subject);
    let mut items = Vec::new();
    for hash in list.page(offset, limit) {
        if let Some(mut cred) = storage::get_value(cred_key(&hash).bytes())? {
            let st = status_of(&cred)?;
            set(&mut cred, "status", st);
            items.push(cred);
        }
    }
    Ok(Value::map().with("total", list.len()).with("offset", offset).with("items", items))
}

/// has_valid_credential {subject, schema?, issuer?} -> bool: a valid credential (of that schema, by that issuer).
pub fn has_valid_credential(args: &Args) -> Result<Value, Error> {
    let subject = did_arg(args, "subject")?;
    let schema = args.opt_str("schema")?;
    let issuer = match args.get("issuer") {
        Some(_) => Some(did_arg(args, "issuer")?),
        None => None,
    };
    let list = subject_list(subject);
    for hash in list.page(0, MAX_PER_SUBJECT) {
        if let Some(cred) = storage::get_value(cred_key(&hash).bytes())? {
            if schema.map_or(true, |s| str_of(&cred, "schema") == s)
                && issuer.map_or(true, |i| str_of(&cred, "issuer") == i)
                && status_of(&cred)? == "valid"
            {
                return Ok(Value::Bool(true));
            }
        }
    }
    Ok(Value::Bool(false))
}
