//! The contracts a task calls: DID (who controls a participant), catalog (dataset uses),
//! evidence (the evidence points). The task contract is never called by them.

use consortia_sdk::check::bin_of;
use consortia_sdk::storage::{self, Key};
use consortia_sdk::{ensure, env, Address, Args, Error, Value};

fn config_key() -> Key {
    Key::new("config")
}

/// init {did, catalog, evidence} -> nil: runs once, at deploy.
pub fn init(args: &Args) -> Result<Value, Error> {
    ensure!(!storage::has(config_key().bytes()), "the task contract is already initialised");
    let cfg = Value::map()
        .with("did", args.req_address("did")?)
        .with("catalog", args.req_address("catalog")?)
        .with("evidence", args.req_address("evidence")?);
    storage::set_value(config_key().bytes(), &cfg);
    Ok(Value::Nil)
}

/// config {} -> {did, catalog, evidence} | nil
pub fn config(_args: &Args) -> Result<Value, Error> {
    Ok(storage::get_value(config_key().bytes())?.unwrap_or(Value::Nil))
}

fn address(name: &str) -> Result<Address, Error> {
    let cfg = storage::get_value(config_key().bytes())?.ok_or_else(|| Error::new("the task contract is not initialised (deploy it with init {did, catalog, evidence})"))?;
    let raw = bin_of(&cfg, name);
    ensure!(raw.len() == 20, "corrupt task configuration");
    let mut out = [0u8; 20];
    out.copy_from_slice(raw);
    Ok(out)
}

/// Call `method` of the linked contract `name`; its refusal becomes ours, prefixed with `name`.
pub fn call(name: &str, method: &str, args: Value) -> Result<Value, Error> {
    let addr = address(name)?;
    let raw = env::call_contract(&addr, method, &args.encode(), 0).map_err(|e| Error::new(format!("{}: {}", name, e)))?;
    if raw.is_empty() {
        return Ok(Value::Nil);
    }
    Value::decode(&raw).map_err(|e| Error::new(format!("{} returned bad msgpack: {}", name, e)))
}

/// Refuse unless the caller controls the active DID `did`.
pub fn require_controller(did: &str) -> Result<(), Error> {
    let ok = call("did", "controls", Value::map().with("did", did).with("address", env::caller()))?;
    ensure!(ok == Value::Bool(true), "the caller does not control the active DID {}", did);
    Ok(())
}

/// Record an evidence point for `task` with the chain hash of `data`; returns the hash.
pub fn evidence(task: &str, kind: &str, data: &[u8]) -> Result<Vec<u8>, Error> {
    let mut pre = Vec::with_capacity(data.len() + 64);
    pre.extend_from_slice(b"consortia-task/");
    pre.extend_from_slice(task.as_bytes());
    pre.push(b'/');
    pre.extend_from_slice(kind.as_bytes());
    pre.push(b'/');
    pre.extend_from_slice(data);
    let hash = env::hash(&pre).to_vec();
    call("evidence", "record", Value::map().with("hash", hash.clone()).with("kind", kind).with("task_id", task))?;
    Ok(hash)
}
