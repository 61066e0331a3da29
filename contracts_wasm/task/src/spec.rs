//! Creating a task: who takes part, on which authorized data, with which algorithm and steps.

use consortia_sdk::check::{self, str_of};
use consortia_sdk::storage::{self, Key};
use consortia_sdk::{emit, ensure, env, Args, Error, Value};

use crate::links::{call, evidence, require_controller};

pub const MAX_PARTICIPANTS: usize = 16;
pub const MAX_DATASETS: usize = 16;
pub const MAX_RECEIVERS: usize = 8;
pub const MAX_STEPS: usize = 32;
pub const MAX_PARAMETERS_BYTES: usize = 4096;
pub const PHASES: [&str; 4] = ["prepare", "align", "compute", "cleanup"];

pub fn task_key(id: &str) -> Key {
    Key::new("task").part(id.as_bytes())
}

pub fn load(id: &str) -> Result<Value, Error> {
    check::load_map(task_key(id).bytes(), &format!("task '{}'", id))
}

fn did_list(args: &Args, name: &str, max: usize) -> Result<Vec<String>, Error> {
    let items = check::opt_array(args, name, max)?;
    ensure!(!items.is_empty(), "'{}' must name at least one DID", name);
    let mut out: Vec<String> = Vec::new();
    for v in items {
        let did = v.as_str().ok_or_else(|| Error::new(format!("'{}' must list DID strings", name)))?;
        ensure!(did.starts_with("did:consortia:") && did.len() <= 78, "'{}' has a malformed DID '{}'", name, did);
        ensure!(!out.iter().any(|d| d == did), "'{}' names {} twice", name, did);
        out.push(did.to_string());
    }
    Ok(out)
}

/// steps [{id, deps: [ids of earlier steps]}]: listing order is a topological order, so no cycles.
fn steps_arg(args: &Args) -> Result<Vec<Value>, Error> {
    let items = check::opt_array(args, "steps", MAX_STEPS)?;
    ensure!(!items.is_empty(), "a task needs at least one step");
    let mut seen: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for item in items {
        let id = check::field_str(item, "id", "each step")?;
        check::ident("step id", id, 64)?;
        ensure!(!seen.iter().any(|s| s == id), "step '{}' is listed twice", id);
        let deps = match item.get("deps") {
            None | Some(Value::Nil) => Vec::new(),
            Some(Value::Array(d)) => d.clone(),
            Some(_) => return Err(Error::new(format!("deps of step '{}' must be an array", id))),
        };
        for d in &deps {
            let dep = d.as_str().ok_or_else(|| Error::new(format!("deps of step '{}' must be step ids", id)))?;
            ensure!(seen.iter().any(|s| s == dep), "step '{}' depends on '{}', which is not an earlier step (steps must form a DAG in order)", id, dep);
        }
        seen.push(id.to_string());
        out.push(Value::map().with("id", id).with("deps", deps));
    }
    Ok(out)
}

/// create {id, initiator, participants, datasets: [auth ids], algorithm, purpose, parameters?, receivers, steps} -> {id}
///
/// The initiator (a participant the caller controls) must be the requester of every named
/// authorization; each is used once for this task through the catalog, which checks it is
/// approved for this requester, purpose, algorithm and task, and counts (and charges) the use.
pub fn create(args: &Args) -> Result<Value, Error> {
    let id = args.req_str("id")?;
    check::ident("task id", id, 128)?;
    ensure!(!storage::has(task_key(id).bytes()), "task '{}' already exists", id);
    let initiator = args.req_str("initiator")?;
    let participants = did_list(args, "participants", MAX_PARTICIPANTS)?;
    ensure!(participants.iter().any(|p| p == initiator), "the initiator must be one of the participants");
    let receivers = did_list(args, "receivers", MAX_RECEIVERS)?;
    let algorithm = args.req_str("algorithm")?;
    check::ident("algorithm", algorithm, 64)?;
    let purpose = args.req_str("purpose")?;
    check::text("purpose", purpose, 1, 256)?;
    let parameters = args.get("parameters").cloned().unwrap_or(Value::Nil);
    ensure!(parameters.encode().len() <= MAX_PARAMETERS_BYTES, "parameters larger than {} bytes", MAX_PARAMETERS_BYTES);
    let steps = steps_arg(args)?;
    let mut datasets: Vec<Value> = Vec::new();
    for v in check::opt_array(args, "datasets", MAX_DATASETS)? {
        let auth = v.as_u64().ok_or_else(|| Error::new("'datasets' must list authorization ids"))?;
        ensure!(!datasets.iter().any(|d| d.as_u64() == Some(auth)), "authorization {} is named twice", auth);
        datasets.push(Value::from(auth));
    }
    ensure!(!datasets.is_empty(), "a task needs at least one authorized dataset");
    require_controller(initiator)?;
    if call("catalog", "algorithm", Value::map().with("id", algorithm))?.is_nil() {
        return Err(Error::new(format!("algorithm '{}' is not registered in the catalog", algorithm)));
    }
    for d in &datasets {
        let auth = d.as_u64().unwrap_or(0);
        let rec = call("catalog", "authorization", Value::map().with("auth", auth))?;
        ensure!(!rec.is_nil(), "authorization {} does not exist", auth);
        ensure!(str_of(&rec, "requester") == initiator, "authorization {} was granted to {}, not to the initiator", auth, str_of(&rec, "requester"));
        call("catalog", "use", Value::map().with("auth", auth).with("algorithm", algorithm).with("task_id", id).with("purpose", purpose))?;
    }
    let spec = Value::map()
        .with("id", id)
        .with("initiator", initiator)
        .with("participants", participants.iter().map(|p| Value::from(p.as_str())).collect::<Vec<_>>())
        .with("receivers", receivers.iter().map(|p| Value::from(p.as_str())).collect::<Vec<_>>())
        .with("datasets", datasets)
        .with("algorithm", algorithm)
        .with("purpose", purpose)
        .with("parameters", parameters)
        .with("steps", steps);
    let config_hash = evidence(id, "task_config", &spec.encode())?;
    let record = spec
        .with("state", "running")
        .with("phase", PHASES[0])
        .with("acks", Value::map())
        .with("commitments", Value::map())
        .with("receipts", Value::map())
        .with("evidence", Value::map().with("task_config", config_hash))
        .with("created", env::block_height())
        .with("updated", env::block_height());
    storage::set_value(task_key(id).bytes(), &record);
    emit("TaskCreated", &Value::map().with("id", id).with("initiator", initiator).with("participants", participants.len() as u64));
    Ok(Value::map().with("id", id))
}

/// task {id} -> record | nil
pub fn get(args: &Args) -> Result<Value, Error> {
    let id = args.req_str("id")?;
    check::ident("task id", id, 128)?;
    Ok(storage::get_value(task_key(id).bytes())?.unwrap_or(Value::Nil))
}
