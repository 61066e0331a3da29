//! DID documents: create, update, deactivate, resolve.

use consortia_sdk::check::{self, bool_of, field_bin, field_str, load_map, set};
use consortia_sdk::storage::{self, Key, List};
use consortia_sdk::{emit, ensure, env, Address, Args, Error, Value};

pub const PREFIX: &str = "did:consortia:";
pub const MAX_ID_LEN: usize = 64;
pub const MAX_METHODS: usize = 8;
pub const MAX_SERVICES: usize = 8;
pub const MAX_FRAGMENT_LEN: usize = 32;
pub const MAX_ENDPOINT_LEN: usize = 256;

/// Verification method types, their key length, and whether they sign (authentication) or
/// agree keys (key agreement). SM2 keys are 65-byte uncompressed points and may do both.
const KEY_TYPES: [(&str, usize, bool, bool); 4] = [
    ("Ed25519VerificationKey2020", 32, true, false),
    ("X25519KeyAgreementKey2020", 32, false, true),
    ("SM2VerificationKey", 65, true, true),
    ("SM2KeyAgreementKey", 65, false, true),
];

pub fn doc_key(did: &str) -> Key {
    Key::new("doc").part(did.as_bytes())
}
fn all_dids() -> List {
    List::new(Key::new("all"))
}
fn controller_list(addr: &Address) -> List {
    List::new(Key::new("ctl").part(addr))
}
fn controller_mark(addr: &Address, did: &str) -> Key {
    Key::new("ctlmark").part(addr).part(did.as_bytes())
}

/// A full DID `did:consortia:<id>` with a well-formed method-specific id.
pub fn check_did(name: &str, did: &str) -> Result<(), Error> {
    ensure!(did.starts_with(PREFIX), "{} must start with '{}'", name, PREFIX);
    check::ident(name, &did[PREFIX.len()..], MAX_ID_LEN)
}

/// The DID argument `name`, checked.
pub fn did_arg<'a>(args: &'a Args, name: &str) -> Result<&'a str, Error> {
    let did = args.req_str(name)?;
    check_did(&format!("argument '{}'", name), did)?;
    Ok(did)
}

/// The stored document of `did`; refuses unknown DIDs.
pub fn load(did: &str) -> Result<Value, Error> {
    load_map(doc_key(did).bytes(), &format!("DID {}", did))
}

/// The document of an active DID whose controller is `who`.
pub fn load_controlled(did: &str, who: &Address) -> Result<Value, Error> {
    let doc = load(did)?;
    ensure!(!bool_of(&doc, "deactivated"), "DID {} is deactivated", did);
    ensure!(check::bin_of(&doc, "controller") == &who[..], "only the controller of {} may do this", did);
    Ok(doc)
}

fn key_type(t: &str) -> Option<(usize, bool, bool)> {
    KEY_TYPES.iter().find(|k| k.0 == t).map(|k| (k.1, k.2, k.3))
}

/// verification_methods [{id, type, public_key}] -> the canonical list, plus (id, signs, agrees).
fn methods_arg(items: &[Value]) -> Result<(Vec<Value>, Vec<(String, bool, bool)>), Error> {
    ensure!(!items.is_empty(), "a DID needs at least one verification method");
    let mut out = Vec::new();
    let mut ids: Vec<(String, bool, bool)> = Vec::new();
    for item in items {
        let what = "each verification method";
        let id = field_str(item, "id", what)?;
        check::ident("verification method id", id, MAX_FRAGMENT_LEN)?;
        ensure!(!ids.iter().any(|i| i.0 == id), "verification method id '{}' is used twice", id);
        let kind = field_str(item, "type", what)?;
        let (len, signs, agrees) = key_type(kind).ok_or_else(|| {
            Error::new(format!("unknown verification method type '{}' (known: {})", kind, KEY_TYPES.iter().map(|k| k.0).collect::<Vec<_>>().join(", ")))
        })?;
        let key = field_bin(item, "public_key", what)?;
        ensure!(key.len() == len, "a {} public key is {} bytes, got {}", kind, len, key.len());
        ensure!(len != 65 || key[0] == 4, "an SM2 public key must be an uncompressed point (0x04 ...)");
        ensure!(item.as_map().map(|m| m.len()) == Some(3), "a verification method has exactly id, type and public_key");
        ids.push((id.to_string(), signs, agrees));
        out.push(Value::map().with("id", id).with("type", kind).with("public_key", key));
    }
    Ok((out, ids))
}

/// A list of verification method ids that must name methods able to `sign` (or agree keys).
fn refs_arg(items: &[Value], name: &str, ids: &[(String, bool, bool)], sign: bool) -> Result<Vec<Value>, Error> {
    let mut out: Vec<Value> = Vec::new();
    for item in items {
        let id = item.as_str().ok_or_else(|| Error::new(format!("'{}' must list verification method ids", name)))?;
        let found = ids.iter().find(|i| i.0 == id).ok_or_else(|| Error::new(format!("'{}' names unknown verification method '{}'", name, id)))?;
        ensure!(if sign { found.1 } else { found.2 }, "verification method '{}' cannot be used for {}", id, name);
        ensure!(!out.iter().any(|v| v.as_str() == Some(id)), "'{}' names '{}' twice", name, id);
        out.push(Value::from(id));
    }
    Ok(out)
}

fn services_arg(items: &[Value]) -> Result<Vec<Value>, Error> {
    let mut out: Vec<Value> = Vec::new();
    for item in items {
        let what = "each service";
        let id = field_str(item, "id", what)?;
        check::ident("service id", id, MAX_FRAGMENT_LEN)?;
        ensure!(!out.iter().any(|s| s.get("id").and_then(|v| v.as_str()) == Some(id)), "service id '{}' is used twice", id);
        let kind = field_str(item, "type", what)?;
        check::ident("service type", kind, 64)?;
        let endpoint = field_str(item, "endpoint", what)?;
        check::text("service endpoint", endpoint, 1, MAX_ENDPOINT_LEN)?;
        ensure!(item.as_map().map(|m| m.len()) == Some(3), "a service has exactly id, type and endpoint");
        out.push(Value::map().with("id", id).with("type", kind).with("endpoint", endpoint));
    }
    Ok(out)
}

/// Check and store the key material of `args` into `doc`; fields not given keep their value.
fn apply_keys(doc: &mut Value, args: &Args, creating: bool) -> Result<(), Error> {
    let methods = if creating || args.get("verification_methods").is_some() {
        let (list, ids) = methods_arg(check::opt_array(args, "verification_methods", MAX_METHODS)?)?;
        set(doc, "verification_methods", list);
        ids
    } else {
        stored_ids(doc)
    };
    let mut auth = check::opt_array(args, "authentication", MAX_METHODS)?.to_vec();
    if args.get("authentication").is_none() && !creating {
        auth = doc.get("authentication").and_then(|v| v.as_array()).cloned().unwrap_or_default();
    }
    let auth = refs_arg(&auth, "authentication", &methods, true)?;
    ensure!(!auth.is_empty(), "a DID needs at least one authentication method");
    set(doc, "authentication", auth);
    let mut agree = check::opt_array(args, "key_agreement", MAX_METHODS)?.to_vec();
    if args.get("key_agreement").is_none() && !creating {
        agree = doc.get("key_agreement").and_then(|v| v.as_array()).cloned().unwrap_or_default();
    }
    set(doc, "key_agreement", refs_arg(&agree, "key agreement", &methods, false)?);
    if creating || args.get("services").is_some() {
        set(doc, "services", services_arg(check::opt_array(args, "services", MAX_SERVICES)?)?);
    }
    Ok(())
}

fn stored_ids(doc: &Value) -> Vec<(String, bool, bool)> {
    let mut out = Vec::new();
    for m in doc.get("verification_methods").and_then(|v| v.as_array()).map(|a| a.as_slice()).unwrap_or(&[]) {
        let (_, signs, agrees) = key_type(check::str_of(m, "type")).unwrap_or((0, false, false));
        out.push((check::str_of(m, "id").to_string(), signs, agrees));
    }
    out
}

fn index_controller(addr: &Address, did: &str) {
    let mark = controller_mark(addr, did);
    if !storage::has(mark.bytes()) {
        storage::set(mark.bytes(), &[1]);
        controller_list(addr).push(did.as_bytes());
    }
}

/// create {did, controller?, verification_methods, authentication, key_agreement?, services?} -> {did, version}
pub fn create(args: &Args) -> Result<Value, Error> {
    let did = did_arg(args, "did")?;
    ensure!(!storage::has(doc_key(did).bytes()), "DID {} already exists", did);
    let controller = match args.get("controller") {
        Some(_) => args.req_address("controller")?,
        None => env::caller(),
    };
    let mut doc = Value::map()
        .with("id", did)
        .with("controller", controller)
        .with("created", env::block_height())
        .with("updated", env::block_height())
        .with("updated_ms", env::block_timestamp())
        .with("version", 1u8)
        .with("deactivated", false);
    apply_keys(&mut doc, args, true)?;
    storage::set_value(doc_key(did).bytes(), &doc);
    all_dids().push(did.as_bytes());
    index_controller(&controller, did);
    emit("DIDCreated", &Value::map().with("did", did).with("controller", controller));
    Ok(Value::map().with("did", did).with("version", 1u8))
}

/// update {did, controller?, verification_methods?, authentication?, key_agreement?, services?} -> {did, version}
pub fn update(args: &Args) -> Result<Value, Error> {
    let did = did_arg(args, "did")?;
    let mut doc = load_controlled(did, &env::caller())?;
    let fields = ["controller", "verification_methods", "authentication", "key_agreement", "services"];
    ensure!(fields.iter().any(|f| args.get(f).is_some()), "nothing to update: give one of {}", fields.join(", "));
    apply_keys(&mut doc, args, false)?;
    if args.get("controller").is_some() {
        let controller = args.req_address("controller")?;
        set(&mut doc, "controller", controller);
        index_controller(&controller, did);
    }
    let version = check::u64_of(&doc, "version") + 1;
    set(&mut doc, "version", version);
    set(&mut doc, "updated", env::block_height());
    set(&mut doc, "updated_ms", env::block_timestamp());
    storage::set_value(doc_key(did).bytes(), &doc);
    emit("DIDUpdated", &Value::map().with("did", did).with("version", version).with("controller", doc.get("controller").cloned().unwrap_or(Value::Nil)));
    Ok(Value::map().with("did", did).with("version", version))
}

/// deactivate {did} -> {did, version}: permanent; the document stays readable.
pub fn deactivate(args: &Args) -> Result<Value, Error> {
    let did = did_arg(args, "did")?;
    let mut doc = load_controlled(did, &env::caller())?;
    let version = check::u64_of(&doc, "version") + 1;
    set(&mut doc, "deactivated", true);
    set(&mut doc, "version", version);
    set(&mut doc, "updated", env::block_height());
    set(&mut doc, "updated_ms", env::block_timestamp());
    storage::set_value(doc_key(did).bytes(), &doc);
    emit("DIDDeactivated", &Value::map().with("did", did).with("by", env::caller()));
    Ok(Value::map().with("did", did).with("version", version))
}

/// resolve {did} -> document | nil
pub fn resolve(args: &Args) -> Result<Value, Error> {
    let did = did_arg(args, "did")?;
    Ok(storage::get_value(doc_key(did).bytes())?.unwrap_or(Value::Nil))
}

/// controls {did, address} -> bool: the DID exists, is active, and `address` controls it.
pub fn controls(args: &Args) -> Result<Value, Error> {
    let did = did_arg(args, "did")?;
    let who = args.req_address("address")?;
    let doc = match storage::get_value(doc_key(did).bytes())? {
        Some(d) => d,
        None => return Ok(Value::Bool(false)),
    };
    Ok(Value::Bool(!bool_of(&doc, "deactivated") && check::bin_of(&doc, "controller") == &who[..]))
}

/// by_controller {controller, offset?, limit?} -> {total, offset, items: [did]}: DIDs the account controls now.
pub fn by_controller(args: &Args) -> Result<Value, Error> {
    let who = args.req_address("controller")?;
    let (offset, limit) = check::page(args)?;
    let list = controller_list(&who);
    let mut items = Vec::new();
    for raw in list.page(offset, limit) {
        let did = String::from_utf8_lossy(&raw).into_owned();
        if let Some(doc) = storage::get_value(doc_key(&did).bytes())? {
            if check::bin_of(&doc, "controller") == &who[..] {
                items.push(Value::from(did));
            }
        }
    }
    Ok(Value::map().with("total", list.len()).with("offset", offset).with("items", items))
}

/// count {} -> number of DIDs ever created
pub fn count(_args: &Args) -> Result<Value, Error> {
    Ok(Value::from(all_dids().len()))
}
