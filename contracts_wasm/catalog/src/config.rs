//! The catalog's links: the DID contract it asks about identities and credentials, and the points
//! contract it settles paid uses with (the catalog calls both; neither calls the catalog).

use consortia_sdk::check::bin_of;
use consortia_sdk::storage::{self, Key};
use consortia_sdk::{ensure, env, Address, Args, Error, Value};

fn config_key() -> Key {
    Key::new("config")
}

/// init {did: bin20} -> nil: runs once, at deploy.
pub fn init(args: &Args) -> Result<Value, Error> {
    ensure!(!storage::has(config_key().bytes()), "the catalog is already initialised");
    let did = args.req_address("did")?;
    storage::set_value(config_key().bytes(), &Value::map().with("did", did).with("admin", env::origin()));
    Ok(Value::Nil)
}

/// link_points {points: bin20} -> nil: once, by the account that deployed the catalog.
pub fn link_points(args: &Args) -> Result<Value, Error> {
    let points = args.req_address("points")?;
    let mut cfg = storage::get_value(config_key().bytes())?.ok_or_else(|| Error::new("the catalog is not initialised (deploy it with init {did})"))?;
    ensure!(bin_of(&cfg, "admin") == &env::caller()[..], "only the account that deployed the catalog may link it");
    ensure!(cfg.get("points").is_none(), "the catalog is already linked to a points contract");
    consortia_sdk::check::set(&mut cfg, "points", points);
    storage::set_value(config_key().bytes(), &cfg);
    consortia_sdk::emit("PointsLinked", &Value::map().with("points", points));
    Ok(Value::Nil)
}

/// link_task {task: bin20} -> nil: once, by the deployer. The task contract may then `use`
/// authorizations for the account that signed the transaction (its origin).
pub fn link_task(args: &Args) -> Result<Value, Error> {
    let task = args.req_address("task")?;
    let mut cfg = storage::get_value(config_key().bytes())?.ok_or_else(|| Error::new("the catalog is not initialised (deploy it with init {did})"))?;
    ensure!(bin_of(&cfg, "admin") == &env::caller()[..], "only the account that deployed the catalog may link it");
    ensure!(cfg.get("task").is_none(), "the catalog is already linked to a task contract");
    consortia_sdk::check::set(&mut cfg, "task", task);
    storage::set_value(config_key().bytes(), &cfg);
    consortia_sdk::emit("TaskLinked", &Value::map().with("task", task));
    Ok(Value::Nil)
}

/// Who acts in a call: the caller, or the transaction's signer when the linked task contract calls.
pub fn actor() -> Result<Address, Error> {
    let caller = env::caller();
    match linked("task")? {
        Some(task) if task == caller => Ok(env::origin()),
        _ => Ok(caller),
    }
}

/// The linked points contract, if any.
pub fn points_contract() -> Result<Option<Address>, Error> {
    linked("points")
}

fn linked(name: &str) -> Result<Option<Address>, Error> {
    let cfg = match storage::get_value(config_key().bytes())? {
        Some(c) => c,
        None => return Ok(None),
    };
    let raw = bin_of(&cfg, name);
    if raw.len() != 20 {
        return Ok(None);
    }
    let mut out = [0u8; 20];
    out.copy_from_slice(raw);
    Ok(Some(out))
}

/// config {} -> {did, admin, points?, task?} | nil
pub fn config(_args: &Args) -> Result<Value, Error> {
    Ok(storage::get_value(config_key().bytes())?.unwrap_or(Value::Nil))
}

fn did_contract() -> Result<Address, Error> {
    let cfg = storage::get_value(config_key().bytes())?.ok_or_else(|| Error::new("the catalog is not initialised (deploy it with init {did})"))?;
    let raw = bin_of(&cfg, "did");
    let mut out = [0u8; 20];
    ensure!(raw.len() == 20, "corrupt catalog configuration");
    out.copy_from_slice(raw);
    Ok(out)
}

/// Call a read method of the DID contract and return its decoded answer.
fn ask_did(method: &str, args: Value) -> Result<Value, Error> {
    let addr = did_contract()?;
    let raw = env::call_contract(&addr, method, &args.encode(), 0).map_err(|e| Error::new(format!("DID contract: {}", e)))?;
    Value::decode(&raw).map_err(|e| Error::new(format!("DID contract returned bad msgpack: {}", e)))
}

/// Refuse unless `who` controls the active DID `did`.
pub fn require_controller(did: &str, who: &Address) -> Result<(), Error> {
    let ok = ask_did("controls", Value::map().with("did", did).with("address", *who))?;
    ensure!(ok == Value::Bool(true), "the caller does not control the active DID {}", did);
    Ok(())
}

/// Whether `subject` holds a valid credential of `schema`.
pub fn has_credential(subject: &str, schema: &str) -> Result<bool, Error> {
    Ok(ask_did("has_valid_credential", Value::map().with("subject", subject).with("schema", schema))? == Value::Bool(true))
}
