//! Access requests and authorizations: requested → approved / rejected → consumed / expired /
//! revoked. Only the dataset owner decides; every use is checked at the moment it happens,
//! counted, logged and announced.

use consortia_sdk::check::{self, bin_of, load_map, set, str_of, u64_of};
use consortia_sdk::storage::{self, Key, List};
use consortia_sdk::{emit, ensure, env, Args, Error, Value};

use crate::config::{actor, has_credential, points_contract, require_controller};
use crate::{algo, dataset};

pub const MAX_PURPOSE: usize = 256;
pub const MAX_ALGORITHMS: usize = 16;
pub const MAX_QUOTA: u64 = 1_000_000;
pub const MAX_TASK_ID: usize = 128;

fn auth_key(id: u64) -> Key {
    Key::new("auth").num(id)
}
fn next_key() -> Key {
    Key::new("auth_next")
}
fn list_by(kind: &str, value: &[u8]) -> List {
    List::new(Key::new("auth_by").part(kind.as_bytes()).part(value))
}
fn use_log() -> List {
    List::new(Key::new("uses"))
}
fn uses_of(id: u64) -> List {
    List::new(Key::new("uses_of").num(id))
}

fn load(id: u64) -> Result<Value, Error> {
    load_map(auth_key(id).bytes(), &format!("authorization {}", id))
}

/// The state with time applied: an approved authorization past its window reads as "expired".
pub fn status(rec: &Value) -> &str {
    let state = str_of(rec, "state");
    let until = u64_of(rec, "until_height");
    if state == "approved" && until != 0 && env::block_height() > until {
        return "expired";
    }
    state
}

fn with_status(mut rec: Value) -> Value {
    let st = status(&rec).to_string();
    set(&mut rec, "status", st);
    rec
}

/// request_access {dataset, requester, purpose, algorithms?, scope: "task"|"window", task_id?, until_height?, quota} -> {id}
pub fn request(args: &Args) -> Result<Value, Error> {
    let ds_id = args.req_u64("dataset")?;
    let requester = args.req_str("requester")?;
    ensure!(requester.starts_with("did:consortia:") && requester.len() <= 78, "requester must be a DID 'did:consortia:<id>'");
    let purpose = args.req_str("purpose")?;
    check::text("purpose", purpose, 1, MAX_PURPOSE)?;
    let mut algorithms: Vec<Value> = Vec::new();
    for a in check::opt_array(args, "algorithms", MAX_ALGORITHMS)? {
        let id = a.as_str().ok_or_else(|| Error::new("'algorithms' must list algorithm ids"))?;
        ensure!(algo::exists(id), "algorithm '{}' is not registered", id);
        ensure!(!algorithms.iter().any(|v| v.as_str() == Some(id)), "algorithm '{}' is listed twice", id);
        algorithms.push(Value::from(id));
    }
    let scope = args.req_str("scope")?;
    let height = env::block_height();
    let until = args.opt_u64("until_height")?.unwrap_or(0);
    ensure!(until == 0 || until > height, "until_height {} is not after the current height {}", until, height);
    let task_id = args.opt_str("task_id")?;
    match scope {
        "task" => {
            let t = task_id.ok_or_else(|| Error::new("a task-scoped request needs a task_id"))?;
            check::ident("task_id", t, MAX_TASK_ID)?;
        }
        "window" => {
            ensure!(until != 0, "a window-scoped request needs until_height");
            ensure!(task_id.is_none(), "a window-scoped request has no task_id");
        }
        _ => return Err(Error::new(format!("scope must be 'task' or 'window', not '{}'", scope))),
    }
    let quota = args.req_u64("quota")?;
    ensure!(quota >= 1 && quota <= MAX_QUOTA, "quota must be 1 to {}", MAX_QUOTA);
    let ds = dataset::load(ds_id)?;
    ensure!(check::bool_of(&ds, "active"), "dataset {} is retired", ds_id);
    let caller = env::caller();
    require_controller(requester, &caller)?;

    let id = storage::get_u64(next_key().bytes()) + 1;
    storage::set_u64(next_key().bytes(), id);
    let owner = str_of(&ds, "owner");
    let rec = Value::map()
        .with("id", id)
        .with("dataset", ds_id)
        .with("dataset_version", u64_of(&ds, "version"))
        .with("owner", owner)
        .with("requester", requester)
        .with("requested_by", caller)
        .with("purpose", purpose)
        .with("algorithms", algorithms)
        .with("scope", scope)
        .with("task_id", task_id)
        .with("until_height", until)
        .with("quota", quota)
        .with("used", 0u8)
        .with("state", "requested")
        .with("requested_height", height);
    storage::set_value(auth_key(id).bytes(), &rec);
    list_by("dataset", &ds_id.to_be_bytes()).push(&id.to_be_bytes());
    list_by("requester", requester.as_bytes()).push(&id.to_be_bytes());
    list_by("owner", owner.as_bytes()).push(&id.to_be_bytes());
    emit("AccessRequested", &Value::map().with("id", id).with("dataset", ds_id).with("requester", requester).with("owner", owner).with("purpose", purpose));
    Ok(Value::map().with("id", id))
}

/// The authorization `id` in state `want`, with the caller controlling its dataset's owner DID.
fn owner_decision(args: &Args, want: &str) -> Result<(u64, Value), Error> {
    let id = args.req_u64("auth")?;
    let rec = load(id)?;
    let st = status(&rec);
    ensure!(st == want, "authorization {} is {}, not {}", id, st, want);
    require_controller(str_of(&rec, "owner"), &env::caller())?;
    Ok((id, rec))
}

fn decide(id: u64, mut rec: Value, state: &str, reason: &str, event: &str) -> Result<Value, Error> {
    set(&mut rec, "state", state);
    set(&mut rec, "decided_height", env::block_height());
    set(&mut rec, "reason", reason);
    storage::set_value(auth_key(id).bytes(), &rec);
    emit(event, &Value::map().with("id", id).with("dataset", u64_of(&rec, "dataset")).with("requester", str_of(&rec, "requester")).with("by", env::caller()).with("reason", reason));
    Ok(with_status(rec))
}

fn reason_arg(args: &Args) -> Result<&str, Error> {
    let reason = args.opt_str("reason")?.unwrap_or("");
    check::text("reason", reason, 0, 256)?;
    Ok(reason)
}

/// approve {auth, quota?, until_height?} -> authorization: the owner may only narrow quota and window.
pub fn approve(args: &Args) -> Result<Value, Error> {
    let (id, mut rec) = owner_decision(args, "requested")?;
    if let Some(q) = args.opt_u64("quota")? {
        ensure!(q >= 1 && q <= u64_of(&rec, "quota"), "an approval may lower the quota (1 to {}), not raise it", u64_of(&rec, "quota"));
        set(&mut rec, "quota", q);
    }
    if let Some(u) = args.opt_u64("until_height")? {
        let asked = u64_of(&rec, "until_height");
        ensure!(u > env::block_height(), "until_height {} is not after the current height", u);
        ensure!(asked == 0 || u <= asked, "an approval may shorten the window (to at most {}), not extend it", asked);
        set(&mut rec, "until_height", u);
    }
    decide(id, rec, "approved", "", "AccessApproved")
}

/// reject {auth, reason?} -> authorization
pub fn reject(args: &Args) -> Result<Value, Error> {
    let (id, rec) = owner_decision(args, "requested")?;
    decide(id, rec, "rejected", reason_arg(args)?, "AccessRejected")
}

/// revoke {auth, reason?} -> authorization: ends an approved authorization early.
pub fn revoke(args: &Args) -> Result<Value, Error> {
    let (id, rec) = owner_decision(args, "approved")?;
    decide(id, rec, "revoked", reason_arg(args)?, "AccessRevoked")
}

/// use {auth, algorithm?, task_id?, purpose?} -> {use, remaining, dataset, version, access, price, payout}
///
/// The fetch step: the authorization must be approved, inside its window and quota, match the
/// task / algorithm / purpose given; the caller must control the requester DID, which must hold
/// the dataset's required credential; the dataset must be active. Then the use is counted and logged.
pub fn use_once(args: &Args) -> Result<Value, Error> {
    let id = args.req_u64("auth")?;
    let mut rec = load(id)?;
    let st = status(&rec);
    if st == "expired" {
        return Err(Error::new(format!("authorization {} expired at height {}", id, u64_of(&rec, "until_height"))));
    }
    let used = u64_of(&rec, "used");
    let quota = u64_of(&rec, "quota");
    // A use past the quota says so, whether or not the last use already marked it consumed.
    ensure!(used < quota, "authorization {} has used its quota of {} (quota exceeded)", id, quota);
    ensure!(st == "approved", "authorization {} is {}, not approved", id, st);
    let task_id = args.opt_str("task_id")?;
    if let Some(t) = task_id {
        check::ident("task_id", t, MAX_TASK_ID)?;
    }
    if str_of(&rec, "scope") == "task" {
        let want = str_of(&rec, "task_id");
        ensure!(task_id == Some(want), "authorization {} is for task '{}' only", id, want);
    }
    if let Some(p) = args.opt_str("purpose")? {
        ensure!(p == str_of(&rec, "purpose"), "authorization {} was granted for another purpose", id);
    }
    let algorithm = args.opt_str("algorithm")?;
    if let Some(a) = algorithm {
        let allowed = rec.get("algorithms").and_then(|v| v.as_array()).map(|l| l.iter().any(|x| x.as_str() == Some(a))).unwrap_or(false);
        ensure!(allowed, "algorithm '{}' is not allowed by authorization {}", a, id);
    }
    let ds_id = u64_of(&rec, "dataset");
    let ds = dataset::load(ds_id)?;
    ensure!(check::bool_of(&ds, "active"), "dataset {} is retired", ds_id);
    let requester = str_of(&rec, "requester").to_string();
    let caller = actor()?;
    require_controller(&requester, &caller)?;
    let schema = str_of(&ds, "credential_schema");
    if !schema.is_empty() {
        ensure!(has_credential(&requester, schema)?, "{} holds no valid '{}' credential", requester, schema);
    }

    let n = used + 1;
    set(&mut rec, "used", n);
    if n == quota {
        set(&mut rec, "state", "consumed");
    }
    storage::set_value(auth_key(id).bytes(), &rec);
    let entry = Value::map()
        .with("auth", id)
        .with("use", n)
        .with("dataset", ds_id)
        .with("version", u64_of(&ds, "version"))
        .with("requester", requester.as_str())
        .with("caller", caller)
        .with("via", env::caller())
        .with("algorithm", algorithm)
        .with("task_id", task_id)
        .with("height", env::block_height())
        .with("timestamp_ms", env::block_timestamp());
    if let Some(points) = points_contract()? {
        // Pay-per-use in the same transaction: if the payer cannot pay, the use does not happen.
        let charge = Value::map().with("payer", caller).with("payee", bin_of(&ds, "payout")).with("amount", u64_of(&ds, "price"))
            .with("auth", id).with("use", n).with("dataset", ds_id);
        env::call_contract(&points, "charge_use", &charge.encode(), 0).map_err(|e| Error::new(format!("points: {}", e)))?;
    }
    let seq = use_log().push(&entry.encode());
    uses_of(id).push(&seq.to_be_bytes());
    emit("AuthorizationUsed", &entry.clone().with("seq", seq).with("owner", str_of(&rec, "owner")).with("remaining", quota - n));
    Ok(Value::map()
        .with("use", n)
        .with("remaining", quota - n)
        .with("dataset", ds_id)
        .with("version", u64_of(&ds, "version"))
        .with("access", str_of(&ds, "access"))
        .with("price", u64_of(&ds, "price"))
        .with("payout", bin_of(&ds, "payout")))
}

/// authorization {auth} -> record with `status` | nil
pub fn get(args: &Args) -> Result<Value, Error> {
    let id = args.req_u64("auth")?;
    Ok(storage::get_value(auth_key(id).bytes())?.map(with_status).unwrap_or(Value::Nil))
}

/// authorizations {dataset? | requester? | owner?, offset?, limit?} -> {total, offset, items}
pub fn list(args: &Args) -> Result<Value, Error> {
    let (offset, limit) = check::page(args)?;
    let list = if let Some(d) = args.opt_u64("dataset")? {
        list_by("dataset", &d.to_be_bytes())
    } else if let Some(r) = args.opt_str("requester")? {
        ensure!(r.len() <= 78, "requester must be a DID 'did:consortia:<id>'");
        list_by("requester", r.as_bytes())
    } else if let Some(o) = args.opt_str("owner")? {
        ensure!(o.len() <= 78, "owner must be a DID 'did:consortia:<id>'");
        list_by("owner", o.as_bytes())
    } else {
        return Err(Error::new("give one of dataset, requester or owner"));
    };
    let mut items = Vec::new();
    for raw in list.page(offset, limit) {
        if raw.len() == 8 {
            let mut b = [0u8; 8];
            b.copy_from_slice(&raw);
            items.push(with_status(load(u64::from_be_bytes(b))?));
        }
    }
    Ok(Value::map().with("total", list.len()).with("offset", offset).with("items", items))
}

/// uses {auth?, offset?, limit?} -> {total, offset, items}: the use log (all uses, or one authorization's)
pub fn uses(args: &Args) -> Result<Value, Error> {
    let (offset, limit) = check::page(args)?;
    let log = use_log();
    let mut items = Vec::new();
    let total = match args.opt_u64("auth")? {
        Some(id) => {
            let list = uses_of(id);
            for raw in list.page(offset, limit) {
                if raw.len() == 8 {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(&raw);
                    if let Some(entry) = log.get(u64::from_be_bytes(b)) {
                        items.push(Value::decode(&entry).map_err(|e| Error::new(format!("corrupt use log: {}", e)))?);
                    }
                }
            }
            list.len()
        }
        None => {
            for entry in log.page(offset, limit) {
                items.push(Value::decode(&entry).map_err(|e| Error::new(format!("corrupt use log: {}", e)))?);
            }
            log.len()
        }
    };
    Ok(Value::map().with("total", total).with("offset", offset).with("items", items))
}
