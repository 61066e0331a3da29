//! The algorithm registry: what a task or an authorization may name, registered by providers.

use consortia_sdk::check;
use consortia_sdk::storage::{self, Key, List};
use consortia_sdk::{emit, ensure, env, Args, Error, Value};

pub const PROVIDER_ROLE: &str = "algorithm_provider";
pub const MAX_ID: usize = 64;
pub const MAX_PARAMETERS_BYTES: usize = 4096;

pub fn key(id: &str) -> Key {
    Key::new("algo").part(id.as_bytes())
}
fn all_list() -> List {
    List::new(Key::new("algo_all"))
}

pub fn exists(id: &str) -> bool {
    storage::has(key(id).bytes())
}

/// register_algorithm {id, code_hash, compiler, parameters?, description?} -> nil (algorithm_provider only)
pub fn register(args: &Args) -> Result<Value, Error> {
    let id = args.req_str("id")?;
    check::ident("algorithm id", id, MAX_ID)?;
    let code_hash = args.req_bin("code_hash")?;
    check::digest("code_hash", code_hash)?;
    let compiler = args.req_str("compiler")?;
    check::text("compiler", compiler, 1, 128)?;
    let description = args.opt_str("description")?.unwrap_or("");
    check::text("description", description, 0, 1024)?;
    let parameters = args.get("parameters").cloned().unwrap_or(Value::Nil);
    ensure!(parameters.encode().len() <= MAX_PARAMETERS_BYTES, "parameters larger than {} bytes", MAX_PARAMETERS_BYTES);
    let signer = env::caller();
    ensure!(env::has_role(PROVIDER_ROLE, &signer), "the caller does not hold the {} role", PROVIDER_ROLE);
    ensure!(!exists(id), "algorithm '{}' is already registered", id);
    let rec = Value::map()
        .with("id", id)
        .with("code_hash", code_hash)
        .with("compiler", compiler)
        .with("parameters", parameters)
        .with("description", description)
        .with("signer", signer)
        .with("height", env::block_height());
    storage::set_value(key(id).bytes(), &rec);
    all_list().push(id.as_bytes());
    emit("AlgorithmRegistered", &Value::map().with("id", id).with("code_hash", code_hash).with("signer", signer));
    Ok(Value::Nil)
}

/// algorithm {id} -> record | nil
pub fn get(args: &Args) -> Result<Value, Error> {
    let id = args.req_str("id")?;
    check::ident("algorithm id", id, MAX_ID)?;
    Ok(storage::get_value(key(id).bytes())?.unwrap_or(Value::Nil))
}

/// algorithms {offset?, limit?} -> {total, offset, items}
pub fn list(args: &Args) -> Result<Value, Error> {
    let (offset, limit) = check::page(args)?;
    let list = all_list();
    let mut items = Vec::new();
    for id in list.page(offset, limit) {
        if let Some(rec) = storage::get_value(key(&String::from_utf8_lossy(&id)).bytes())? {
            items.push(rec);
        }
    }
    Ok(Value::map().with("total", list.len()).with("offset", offset).with("items", items))
}
