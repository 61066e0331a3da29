//! The contracts the rights contract calls: DID (who controls a holder) and points (sales).

use consortia_sdk::check::bin_of;
use consortia_sdk::storage::{self, Key};
use consortia_sdk::{ensure, env, Address, Args, Error, Value};

fn config_key() -> Key {
    Key::new("config")
}

/// init {did, points} -> nil: runs once, at deploy.
pub fn init(args: &Args) -> Result<Value, Error> {
    ensure!(!storage::has(config_key().bytes()), "the rights contract is already initialised");
    let cfg = Value::map().with("did", args.req_address("did")?).with("points", args.req_address("points")?);
    storage::set_value(config_key().bytes(), &cfg);
    Ok(Value::Nil)
}

/// config {} -> {did, points} | nil
pub fn config(_args: &Args) -> Result<Value, Error> {
    Ok(storage::get_value(config_key().bytes())?.unwrap_or(Value::Nil))
}

fn address(name: &str) -> Result<Address, Error> {
    let cfg = storage::get_value(config_key().bytes())?.ok_or_else(|| Error::new("the rights contract is not initialised (deploy it with init {did, points})"))?;
    let raw = bin_of(&cfg, name);
    ensure!(raw.len() == 20, "corrupt rights configuration");
    let mut out = [0u8; 20];
    out.copy_from_slice(raw);
    Ok(out)
}

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
