//! Consortia contract SDK: write a contract as a list of methods over msgpack values.
//!
//! ```ignore
//! use consortia_sdk::{contract, Args, Error, Value, storage};
//! fn put(args: &Args) -> Result<Value, Error> {
//!     storage::set(args.req_bin("key")?, args.req_bin("value")?);
//!     Ok(Value::Nil)
//! }
//! contract! { "put" => put }
//! ```

#[cfg(all(target_arch = "wasm32", feature = "bump-alloc"))]
pub mod alloc;
pub mod check;
pub mod env;
pub mod msgpack;
pub mod storage;
pub mod testing;

use std::collections::BTreeMap;
use std::fmt;

pub use env::Address;

#[cfg(all(target_arch = "wasm32", feature = "bump-alloc"))]
#[global_allocator]
static ALLOCATOR: alloc::BumpAllocator = alloc::BumpAllocator::new();
pub use msgpack::Value;

/// Why a method refused the call; becomes the revert message in the receipt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error(pub String);

impl Error {
    pub fn new(msg: impl Into<String>) -> Error {
        Error(msg.into())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Return `Err(Error)` from the enclosing method unless `cond` holds.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err($crate::Error::new(format!($($msg)+)));
        }
    };
}

/// A contract method: decoded arguments in, a msgpack value (or a revert reason) out.
pub type Handler = fn(&Args) -> Result<Value, Error>;

/// The arguments of a call: a msgpack map with string keys (empty input means no arguments).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Args(pub BTreeMap<String, Value>);

impl Args {
    pub fn decode(bytes: &[u8]) -> Result<Args, Error> {
        if bytes.is_empty() {
            return Ok(Args::default());
        }
        match Value::decode(bytes) {
            Ok(Value::Map(m)) => Ok(Args(m)),
            Ok(_) => Err(Error::new("arguments must be a msgpack map")),
            Err(e) => Err(Error::new(format!("arguments are not valid msgpack: {}", e))),
        }
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        match self.0.get(name) {
            Some(Value::Nil) | None => None,
            Some(v) => Some(v),
        }
    }
    fn require(&self, name: &str) -> Result<&Value, Error> {
        self.get(name).ok_or_else(|| Error::new(format!("missing argument '{}'", name)))
    }
    fn wrong(name: &str, kind: &str) -> Error {
        Error::new(format!("argument '{}' must be {}", name, kind))
    }

    pub fn req_str(&self, name: &str) -> Result<&str, Error> {
        self.require(name)?.as_str().ok_or_else(|| Args::wrong(name, "a string"))
    }
    pub fn req_bin(&self, name: &str) -> Result<&[u8], Error> {
        self.require(name)?.as_bin().ok_or_else(|| Args::wrong(name, "bytes"))
    }
    pub fn req_u64(&self, name: &str) -> Result<u64, Error> {
        self.require(name)?.as_u64().ok_or_else(|| Args::wrong(name, "a non-negative integer"))
    }
    pub fn req_bool(&self, name: &str) -> Result<bool, Error> {
        self.require(name)?.as_bool().ok_or_else(|| Args::wrong(name, "a boolean"))
    }
    /// A 20-byte address argument.
    pub fn req_address(&self, name: &str) -> Result<Address, Error> {
        let raw = self.req_bin(name)?;
        let mut out = [0u8; 20];
        ensure!(raw.len() == 20, "argument '{}' must be a 20-byte address", name);
        out.copy_from_slice(raw);
        Ok(out)
    }
    pub fn opt_str(&self, name: &str) -> Result<Option<&str>, Error> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v.as_str().map(Some).ok_or_else(|| Args::wrong(name, "a string")),
        }
    }
    pub fn opt_bin(&self, name: &str) -> Result<Option<&[u8]>, Error> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v.as_bin().map(Some).ok_or_else(|| Args::wrong(name, "bytes")),
        }
    }
    pub fn opt_u64(&self, name: &str) -> Result<Option<u64>, Error> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v.as_u64().map(Some).ok_or_else(|| Args::wrong(name, "a non-negative integer")),
        }
    }
}

/// Emit event `name` with a msgpack payload.
pub fn emit(name: &str, data: &Value) {
    env::emit_raw(name, &data.encode())
}

/// Lowercase hex, for messages.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// Run the method named by the host with the decoded arguments; the `call` export does only this.
pub fn dispatch(methods: &[(&str, Handler)]) {
    install_panic_hook();
    let name = env::method();
    let handler = match methods.iter().find(|(n, _)| *n == name) {
        Some((_, h)) => *h,
        None => env::revert(&format!("unknown method '{}'", name)),
    };
    let args = match Args::decode(&env::args_bytes()) {
        Ok(a) => a,
        Err(e) => env::revert(&e.0),
    };
    match handler(&args) {
        Ok(value) => {
            env::flush_writes();
            if !value.is_nil() {
                env::set_return(&value.encode());
            }
        }
        Err(e) => env::revert(&e.0),
    }
}

/// A panic (a bug or an unchecked index) reverts with its message instead of a bare trap.
fn install_panic_hook() {
    #[cfg(target_arch = "wasm32")]
    std::panic::set_hook(Box::new(|info| {
        let msg = match info.payload().downcast_ref::<&str>() {
            Some(s) => s.to_string(),
            None => match info.payload().downcast_ref::<String>() {
                Some(s) => s.clone(),
                None => "panic".to_string(),
            },
        };
        env::revert(&format!("contract panicked: {}", msg))
    }));
}

/// Declare a contract's methods; on wasm32 this also generates the `call` export.
#[macro_export]
macro_rules! contract {
    ($($name:literal => $handler:path),* $(,)?) => {
        /// The method table, also used by native tests through `consortia_sdk::testing`.
        pub const METHODS: &[(&str, $crate::Handler)] = &[$(($name, $handler)),*];

        #[cfg(target_arch = "wasm32")]
        #[no_mangle]
        pub extern "C" fn call() {
            $crate::dispatch(METHODS)
        }
    };
}
