//! Datasets: registration, versioned updates, and search by owner, category and level.

use consortia_sdk::check::{self, bool_of, load_map, set, str_of, u64_of};
use consortia_sdk::storage::{self, Key, List};
use consortia_sdk::{emit, ensure, env, Args, Error, Value};

use crate::config::require_controller;

pub const MAX_NAME: usize = 128;
pub const MAX_DESCRIPTION: usize = 2048;
pub const MAX_FIELDS: usize = 256;
pub const MAX_RULE: usize = 512;
pub const MAX_ACCESS: usize = 256;
pub const MAX_LEVEL: u64 = 5;
/// Index entries one search call looks at, however few match.
pub const MAX_SCAN: u64 = 500;

pub fn current_key(id: u64) -> Key {
    Key::new("ds").num(id)
}
fn version_key(id: u64, version: u64) -> Key {
    Key::new("dsv").num(id).num(version)
}
fn next_id_key() -> Key {
    Key::new("ds_next")
}
fn all_list() -> List {
    List::new(Key::new("ds_all"))
}
fn index_list(kind: &str, value: &str) -> List {
    List::new(Key::new("ix").part(kind.as_bytes()).part(value.as_bytes()))
}
fn index_mark(kind: &str, value: &str, id: u64) -> Key {
    Key::new("ixm").part(kind.as_bytes()).part(value.as_bytes()).num(id)
}

/// Put `id` in the `kind`/`value` index once (indexes are append-only; searches re-check the record).
fn index(kind: &str, value: &str, id: u64) {
    let mark = index_mark(kind, value, id);
    if !storage::has(mark.bytes()) {
        storage::set(mark.bytes(), &[1]);
        index_list(kind, value).push(&id.to_be_bytes());
    }
}

/// The current record of dataset `id`.
pub fn load(id: u64) -> Result<Value, Error> {
    load_map(current_key(id).bytes(), &format!("dataset {}", id))
}

fn schema_arg(items: &[Value]) -> Result<Vec<Value>, Error> {
    ensure!(!items.is_empty(), "a dataset needs at least one schema field");
    let mut out: Vec<Value> = Vec::new();
    for item in items {
        let name = check::field_str(item, "name", "each schema field")?;
        check::ident("field name", name, 64)?;
        ensure!(!out.iter().any(|f| str_of(f, "name") == name), "schema field '{}' is listed twice", name);
        let kind = check::field_str(item, "type", "each schema field")?;
        check::token("field type", kind, 32)?;
        let mut field = Value::map().with("name", name).with("type", kind);
        match item.get("length") {
            None | Some(Value::Nil) => {}
            Some(v) => {
                let n = v.as_u64().ok_or_else(|| Error::new(format!("length of field '{}' must be a non-negative integer", name)))?;
                field = field.with("length", n);
            }
        }
        let known = item.as_map().map(|m| m.keys().all(|k| k == "name" || k == "type" || k == "length")).unwrap_or(false);
        ensure!(known, "a schema field has only name, type and length");
        out.push(field);
    }
    Ok(out)
}

/// Check each descriptive field present in `args` (all required when `creating`) and store it in `rec`.
fn apply_fields(rec: &mut Value, args: &Args, creating: bool) -> Result<(), Error> {
    let need = |name: &str| creating || args.get(name).is_some();
    if need("name") {
        let v = args.req_str("name")?;
        check::text("name", v, 1, MAX_NAME)?;
        set(rec, "name", v);
    }
    if creating || args.get("description").is_some() {
        let v = args.opt_str("description")?.unwrap_or("");
        check::text("description", v, 0, MAX_DESCRIPTION)?;
        set(rec, "description", v);
    }
    if need("schema") {
        set(rec, "schema", schema_arg(check::opt_array(args, "schema", MAX_FIELDS)?)?);
    }
    if need("sample_hash") {
        let v = args.req_bin("sample_hash")?;
        check::digest("sample_hash", v)?;
        set(rec, "sample_hash", v);
    }
    if need("category") {
        let v = args.req_str("category")?;
        check::token("category", v, 64)?;
        set(rec, "category", v);
    }
    if need("level") {
        let v = args.req_u64("level")?;
        ensure!(v >= 1 && v <= MAX_LEVEL, "level must be 1 to {}", MAX_LEVEL);
        set(rec, "level", v);
    }
    if need("share_mode") {
        let v = args.req_str("share_mode")?;
        check::token("share_mode", v, 32)?;
        set(rec, "share_mode", v);
    }
    if creating || args.get("share_rule").is_some() {
        let v = args.opt_str("share_rule")?.unwrap_or("");
        check::text("share_rule", v, 0, MAX_RULE)?;
        set(rec, "share_rule", v);
    }
    if need("access") {
        let v = args.req_str("access")?;
        check::text("access", v, 1, MAX_ACCESS)?;
        set(rec, "access", v);
    }
    if creating || args.get("credential_schema").is_some() {
        let v = args.opt_str("credential_schema")?.unwrap_or("");
        check::text("credential_schema", v, 0, 128)?;
        set(rec, "credential_schema", v);
    }
    if creating || args.get("price").is_some() {
        set(rec, "price", args.opt_u64("price")?.unwrap_or(0));
    }
    if args.get("active").is_some() {
        ensure!(!creating, "a new dataset is always active");
        set(rec, "active", args.req_bool("active")?);
    }
    Ok(())
}

fn save(id: u64, rec: &Value) {
    storage::set_value(current_key(id).bytes(), rec);
    storage::set_value(version_key(id, u64_of(rec, "version")).bytes(), rec);
    index("owner", str_of(rec, "owner"), id);
    index("category", str_of(rec, "category"), id);
    index("level", &u64_of(rec, "level").to_string(), id);
}

/// register_dataset {owner, name, description?, schema, sample_hash, category, level, share_mode,
/// share_rule?, access, credential_schema?, price?} -> {id, version}
pub fn register(args: &Args) -> Result<Value, Error> {
    let owner = args.req_str("owner")?;
    let mut rec = Value::map().with("owner", owner);
    apply_fields(&mut rec, args, true)?;
    require_controller(owner, &env::caller())?;
    let id = storage::get_u64(next_id_key().bytes()) + 1;
    storage::set_u64(next_id_key().bytes(), id);
    set(&mut rec, "id", id);
    set(&mut rec, "version", 1u8);
    set(&mut rec, "active", true);
    set(&mut rec, "payout", env::caller());
    set(&mut rec, "created", env::block_height());
    set(&mut rec, "updated", env::block_height());
    save(id, &rec);
    all_list().push(&id.to_be_bytes());
    emit("DatasetRegistered", &Value::map().with("id", id).with("owner", owner).with("category", str_of(&rec, "category")).with("level", u64_of(&rec, "level")));
    Ok(Value::map().with("id", id).with("version", 1u8))
}

/// update_dataset {id, any of the register fields except owner, active?, payout?} -> {id, version}
pub fn update(args: &Args) -> Result<Value, Error> {
    let id = args.req_u64("id")?;
    let mut rec = load(id)?;
    ensure!(args.get("owner").is_none(), "the owner of a dataset cannot change");
    let fields = ["name", "description", "schema", "sample_hash", "category", "level", "share_mode", "share_rule", "access",
                  "credential_schema", "price", "active", "payout"];
    ensure!(fields.iter().any(|f| args.get(f).is_some()), "nothing to update: give one of {}", fields.join(", "));
    require_controller(str_of(&rec, "owner"), &env::caller())?;
    apply_fields(&mut rec, args, false)?;
    if args.get("payout").is_some() {
        set(&mut rec, "payout", args.req_address("payout")?);
    }
    let version = u64_of(&rec, "version") + 1;
    set(&mut rec, "version", version);
    set(&mut rec, "updated", env::block_height());
    save(id, &rec);
    emit("DatasetUpdated", &Value::map().with("id", id).with("version", version).with("active", bool_of(&rec, "active")));
    Ok(Value::map().with("id", id).with("version", version))
}

/// dataset {id, version?} -> record | nil (earlier versions stay readable)
pub fn get(args: &Args) -> Result<Value, Error> {
    let id = args.req_u64("id")?;
    let key = match args.opt_u64("version")? {
        Some(v) => version_key(id, v),
        None => current_key(id),
    };
    Ok(storage::get_value(key.bytes())?.unwrap_or(Value::Nil))
}

/// search {owner?, category?, level?, active_only?, offset?, limit?} -> {items, next, total}
///
/// Walks the narrowest index from `offset`, returns up to `limit` current records matching every
/// filter, looking at no more than MAX_SCAN entries; `next` is the offset to continue from (nil
/// at the end), `total` the length of the walked index.
pub fn search(args: &Args) -> Result<Value, Error> {
    let owner = args.opt_str("owner")?;
    if let Some(o) = owner {
        ensure!(o.starts_with("did:consortia:") && o.len() <= 78, "owner must be a DID 'did:consortia:<id>'");
    }
    let category = args.opt_str("category")?;
    if let Some(c) = category {
        check::token("category", c, 64)?;
    }
    let level = args.opt_u64("level")?;
    let active_only = match args.get("active_only") {
        Some(_) => args.req_bool("active_only")?,
        None => true,
    };
    let (offset, limit) = check::page(args)?;
    let level_text = level.map(|l| l.to_string());
    let list = if let Some(o) = owner {
        index_list("owner", o)
    } else if let Some(c) = category {
        index_list("category", c)
    } else if let Some(l) = &level_text {
        index_list("level", l)
    } else {
        all_list()
    };
    let total = list.len();
    let end = total.min(offset.saturating_add(MAX_SCAN));
    let mut items = Vec::new();
    let mut pos = offset;
    while pos < end && (items.len() as u64) < limit {
        if let Some(raw) = list.get(pos) {
            let mut b = [0u8; 8];
            if raw.len() == 8 {
                b.copy_from_slice(&raw);
                let rec = load(u64::from_be_bytes(b))?;
                let ok = owner.map_or(true, |o| str_of(&rec, "owner") == o)
                    && category.map_or(true, |c| str_of(&rec, "category") == c)
                    && level.map_or(true, |l| u64_of(&rec, "level") == l)
                    && (!active_only || bool_of(&rec, "active"));
                if ok {
                    items.push(rec);
                }
            }
        }
        pos += 1;
    }
    let next = if pos < total { Value::from(pos) } else { Value::Nil };
    Ok(Value::map().with("items", items).with("next", next).with("total", total))
}
