//! Argument checks shared by the business contracts: identifiers, bounded text, hashes, paging.
//!
//! Every check returns an `Error` naming the argument, so a refusal reads as a clear revert.

use crate::{ensure, Args, Error, Value};

/// Most items one page of a listing returns.
pub const MAX_PAGE: u64 = 100;

/// An identifier: 1 to `max` characters of `A-Z a-z 0-9 . _ -`.
pub fn ident(name: &str, value: &str, max: usize) -> Result<(), Error> {
    ensure!(!value.is_empty() && value.len() <= max, "{} must be 1 to {} characters", name, max);
    ensure!(
        value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-'),
        "{} may only contain A-Z, a-z, 0-9, '.', '_' and '-'",
        name
    );
    Ok(())
}

/// A lowercase token: 1 to `max` characters of `a-z 0-9 . _ -` (categories, kinds, modes).
pub fn token(name: &str, value: &str, max: usize) -> Result<(), Error> {
    ensure!(!value.is_empty() && value.len() <= max, "{} must be 1 to {} characters", name, max);
    ensure!(
        value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'_' || b == b'-'),
        "{} may only contain a-z, 0-9, '.', '_' and '-'",
        name
    );
    Ok(())
}

/// Free text of `min` to `max` bytes without control characters.
pub fn text(name: &str, value: &str, min: usize, max: usize) -> Result<(), Error> {
    ensure!(value.len() >= min && value.len() <= max, "{} must be {} to {} bytes", name, min, max);
    ensure!(!value.chars().any(|c| c.is_control()), "{} must not contain control characters", name);
    Ok(())
}

/// A digest: 16 to 64 bytes.
pub fn digest(name: &str, value: &[u8]) -> Result<(), Error> {
    ensure!(value.len() >= 16 && value.len() <= 64, "{} must be a 16 to 64 byte hash, got {} bytes", name, value.len());
    Ok(())
}

/// `offset` (default 0) and `limit` (default and at most `MAX_PAGE`, at least 1).
pub fn page(args: &Args) -> Result<(u64, u64), Error> {
    let offset = args.opt_u64("offset")?.unwrap_or(0);
    let limit = args.opt_u64("limit")?.unwrap_or(MAX_PAGE);
    ensure!(limit >= 1 && limit <= MAX_PAGE, "limit must be 1 to {}", MAX_PAGE);
    Ok((offset, limit))
}

/// An optional array argument (absent or nil means empty) of at most `max` items.
pub fn opt_array<'a>(args: &'a Args, name: &str, max: usize) -> Result<&'a [Value], Error> {
    match args.get(name) {
        None => Ok(&[]),
        Some(v) => {
            let items = v.as_array().ok_or_else(|| Error::new(format!("argument '{}' must be an array", name)))?;
            ensure!(items.len() <= max, "argument '{}' has more than {} items", name, max);
            Ok(items)
        }
    }
}

/// A string field of a map inside an argument (`what` names it in messages).
pub fn field_str<'a>(item: &'a Value, key: &str, what: &str) -> Result<&'a str, Error> {
    item.get(key)
        .and_then(|v| v.as_str())
        .ok_or_else(|| Error::new(format!("{} needs a string '{}'", what, key)))
}

/// A bytes field of a map inside an argument.
pub fn field_bin<'a>(item: &'a Value, key: &str, what: &str) -> Result<&'a [u8], Error> {
    item.get(key)
        .and_then(|v| v.as_bin())
        .ok_or_else(|| Error::new(format!("{} needs bytes '{}'", what, key)))
}

/// The stored msgpack record under `key`, as a map; a missing record is `what` "not found".
pub fn load_map(key: &[u8], what: &str) -> Result<Value, Error> {
    match crate::storage::get_value(key)? {
        Some(v @ Value::Map(_)) => Ok(v),
        Some(_) => Err(Error::new(format!("corrupt stored {}", what))),
        None => Err(Error::new(format!("{} not found", what))),
    }
}

/// Set one entry of a map value (a no-op on non-maps, which `load_map` never returns).
pub fn set(record: &mut Value, key: &str, value: impl Into<Value>) {
    if let Value::Map(m) = record {
        m.insert(key.to_string(), value.into());
    }
}

/// An unsigned field of a stored record (0 if absent).
pub fn u64_of(record: &Value, key: &str) -> u64 {
    record.get(key).and_then(|v| v.as_u64()).unwrap_or(0)
}

/// A string field of a stored record ("" if absent).
pub fn str_of<'a>(record: &'a Value, key: &str) -> &'a str {
    record.get(key).and_then(|v| v.as_str()).unwrap_or("")
}

/// A bool field of a stored record (false if absent).
pub fn bool_of(record: &Value, key: &str) -> bool {
    record.get(key).and_then(|v| v.as_bool()).unwrap_or(false)
}

/// A bytes field of a stored record (empty if absent).
pub fn bin_of<'a>(record: &'a Value, key: &str) -> &'a [u8] {
    record.get(key).and_then(|v| v.as_bin()).unwrap_or(&[])
}
