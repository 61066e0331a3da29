//! The host interface: what a contract can ask of the node while it runs.
//!
//! On `wasm32` these are imports from the host module `consortia` (see `docs/contracts.md` for
//! the ABI). Natively they run against an in-memory mock, so contract logic is unit-testable
//! with plain `cargo test`.

/// A 20-byte account or contract address.
pub type Address = [u8; 20];

/// Size of the first buffer tried for variable-length host results; larger results take a second call.
const FIRST_TRY: usize = 512;

#[cfg(target_arch = "wasm32")]
mod sys {
    #[link(wasm_import_module = "consortia")]
    extern "C" {
        pub fn read_method(ptr: *mut u8, cap: u32) -> u32;
        pub fn read_args(ptr: *mut u8, cap: u32) -> u32;
        pub fn set_return(ptr: *const u8, len: u32);
        pub fn revert(ptr: *const u8, len: u32) -> !;
        pub fn storage_get(key: *const u8, key_len: u32, out: *mut u8, cap: u32) -> i32;
        pub fn emit(name: *const u8, name_len: u32, data: *const u8, data_len: u32);
        pub fn hash(data: *const u8, len: u32, out: *mut u8);
        pub fn call_contract(addr: *const u8, method: *const u8, method_len: u32, args: *const u8, args_len: u32, fuel: u64) -> u32;
        pub fn read_result(ptr: *mut u8, cap: u32) -> u32;
        pub fn context(out: *mut u8);
        pub fn storage_write_batch(ptr: *const u8, len: u32);
        pub fn has_role(role: *const u8, role_len: u32, addr: *const u8) -> u32;
    }
}

/// Read a variable-length host result: try a small buffer, then exactly the size the host reported.
#[cfg(target_arch = "wasm32")]
fn read_var(f: impl Fn(*mut u8, u32) -> i64) -> Option<Vec<u8>> {
    // Uninitialised capacity: the host writes the bytes before the length is set.
    let mut buf: Vec<u8> = Vec::with_capacity(FIRST_TRY);
    let n = f(buf.as_mut_ptr(), FIRST_TRY as u32);
    if n < 0 {
        return None;
    }
    let n = n as usize;
    if n > FIRST_TRY {
        buf = Vec::with_capacity(n);
        f(buf.as_mut_ptr(), n as u32);
    }
    unsafe { buf.set_len(n) };
    Some(buf)
}

#[cfg(target_arch = "wasm32")]
mod imp {
    use super::*;
    use std::cell::RefCell;

    /// caller, origin, self address, height, timestamp: fetched once per call with one host call.
    struct Context {
        caller: Address,
        origin: Address,
        self_address: Address,
        height: u64,
        timestamp: u64,
    }

    thread_local! {
        static CONTEXT: RefCell<Option<Context>> = RefCell::new(None);
        /// Writes of this call, already in the host's batch format; reads look here first.
        static WRITES: RefCell<WriteLog> = RefCell::new(WriteLog { buf: Vec::new(), entries: 0 });
    }

    /// Flushed when it grows past these, so lookups stay short scans.
    const MAX_LOG_ENTRIES: usize = 64;
    const MAX_LOG_BYTES: usize = 64 * 1024;
    const REMOVED: u32 = u32::MAX;

    /// Buffered writes, in order: u32 LE key length, key, then u32 LE value length (0xFFFFFFFF
    /// for a removal) and value. The host applies them in order, so the last write of a key wins.
    struct WriteLog {
        buf: Vec<u8>,
        entries: usize,
    }

    impl WriteLog {
        fn push(&mut self, key: &[u8], value: Option<&[u8]>) {
            if self.buf.capacity() == 0 {
                self.buf.reserve(4096); // one allocation for a typical call's writes
            }
            self.buf.extend_from_slice(&(key.len() as u32).to_le_bytes());
            self.buf.extend_from_slice(key);
            match value {
                Some(v) => {
                    self.buf.extend_from_slice(&(v.len() as u32).to_le_bytes());
                    self.buf.extend_from_slice(v);
                }
                None => self.buf.extend_from_slice(&REMOVED.to_le_bytes()),
            }
            self.entries += 1;
        }

        /// The latest buffered write of `key`: Some(Some(value)), Some(None) if removed, None if not written.
        fn lookup(&self, key: &[u8]) -> Option<Option<&[u8]>> {
            let (buf, mut pos, mut found) = (&self.buf[..], 0usize, None);
            let read_u32 = |at: usize| u32::from_le_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]);
            while pos < buf.len() {
                let klen = read_u32(pos) as usize;
                let k = &buf[pos + 4..pos + 4 + klen];
                pos += 4 + klen;
                let vlen = read_u32(pos);
                pos += 4;
                let value = if vlen == REMOVED {
                    None
                } else {
                    let v = &buf[pos..pos + vlen as usize];
                    pos += vlen as usize;
                    Some(v)
                };
                if k == key {
                    found = Some(value);
                }
            }
            found
        }
    }

    fn with_context<R>(f: impl FnOnce(&Context) -> R) -> R {
        CONTEXT.with(|c| {
            let mut c = c.borrow_mut();
            if c.is_none() {
                let mut raw = [0u8; 76];
                unsafe { sys::context(raw.as_mut_ptr()) };
                let addr = |i: usize| {
                    let mut a = [0u8; 20];
                    a.copy_from_slice(&raw[i..i + 20]);
                    a
                };
                let num = |i: usize| {
                    let mut n = [0u8; 8];
                    n.copy_from_slice(&raw[i..i + 8]);
                    u64::from_le_bytes(n)
                };
                *c = Some(Context { caller: addr(0), origin: addr(20), self_address: addr(40), height: num(60), timestamp: num(68) });
            }
            f(c.as_ref().unwrap())
        })
    }

    fn cached(key: &[u8]) -> Option<Option<Vec<u8>>> {
        WRITES.with(|w| w.borrow().lookup(key).map(|v| v.map(|v| v.to_vec())))
    }

    fn log_write(key: &[u8], value: Option<&[u8]>) {
        let full = WRITES.with(|w| {
            let mut w = w.borrow_mut();
            w.push(key, value);
            w.entries >= MAX_LOG_ENTRIES || w.buf.len() >= MAX_LOG_BYTES
        });
        if full {
            flush_writes();
        }
    }

    /// Send the buffered writes to the host in one call.
    pub fn flush_writes() {
        WRITES.with(|w| {
            let mut w = w.borrow_mut();
            if w.entries == 0 {
                return;
            }
            unsafe { sys::storage_write_batch(w.buf.as_ptr(), w.buf.len() as u32) };
            w.buf.clear();
            w.entries = 0;
        })
    }

    pub fn method() -> Vec<u8> {
        read_var(|p, c| unsafe { sys::read_method(p, c) as i64 }).unwrap_or_default()
    }
    pub fn args() -> Vec<u8> {
        read_var(|p, c| unsafe { sys::read_args(p, c) as i64 }).unwrap_or_default()
    }
    pub fn set_return(data: &[u8]) {
        unsafe { sys::set_return(data.as_ptr(), data.len() as u32) }
    }
    pub fn revert(msg: &str) -> ! {
        unsafe { sys::revert(msg.as_ptr(), msg.len() as u32) }
    }
    pub fn storage_get(key: &[u8]) -> Option<Vec<u8>> {
        if let Some(v) = cached(key) {
            return v;
        }
        read_var(|p, c| unsafe { sys::storage_get(key.as_ptr(), key.len() as u32, p, c) as i64 })
    }
    pub fn storage_len(key: &[u8]) -> Option<usize> {
        if let Some(v) = cached(key) {
            return v.map(|v| v.len());
        }
        let n = unsafe { sys::storage_get(key.as_ptr(), key.len() as u32, core::ptr::null_mut(), 0) };
        if n < 0 { None } else { Some(n as usize) }
    }
    pub fn storage_read_into(key: &[u8], out: &mut [u8]) -> Option<usize> {
        if let Some(v) = cached(key) {
            return v.map(|v| {
                if v.len() <= out.len() {
                    out[..v.len()].copy_from_slice(&v);
                }
                v.len()
            });
        }
        let n = unsafe { sys::storage_get(key.as_ptr(), key.len() as u32, out.as_mut_ptr(), out.len() as u32) };
        if n < 0 { None } else { Some(n as usize) }
    }
    pub fn storage_set(key: &[u8], value: &[u8]) {
        log_write(key, Some(value));
    }
    pub fn storage_remove(key: &[u8]) {
        log_write(key, None);
    }
    pub fn caller() -> Address {
        with_context(|c| c.caller)
    }
    pub fn origin() -> Address {
        with_context(|c| c.origin)
    }
    pub fn self_address() -> Address {
        with_context(|c| c.self_address)
    }
    pub fn block_height() -> u64 {
        with_context(|c| c.height)
    }
    pub fn block_timestamp() -> u64 {
        with_context(|c| c.timestamp)
    }
    pub fn emit(name: &str, data: &[u8]) {
        unsafe { sys::emit(name.as_ptr(), name.len() as u32, data.as_ptr(), data.len() as u32) }
    }
    pub fn hash(data: &[u8]) -> [u8; 32] {
        let mut out = [0u8; 32];
        unsafe { sys::hash(data.as_ptr(), data.len() as u32, out.as_mut_ptr()) };
        out
    }
    pub fn has_role(role: &str, addr: &Address) -> bool {
        unsafe { sys::has_role(role.as_ptr(), role.len() as u32, addr.as_ptr()) == 1 }
    }
    pub fn call_contract(addr: &Address, method: &str, args: &[u8], fuel: u64) -> Result<Vec<u8>, String> {
        flush_writes(); // the callee may call back into this contract and must see our writes
        let status = unsafe {
            sys::call_contract(addr.as_ptr(), method.as_ptr(), method.len() as u32, args.as_ptr(), args.len() as u32, fuel)
        };
        let data = read_var(|p, c| unsafe { sys::read_result(p, c) as i64 }).unwrap_or_default();
        if status == 0 {
            Ok(data)
        } else {
            Err(String::from_utf8_lossy(&data).into_owned())
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use super::*;
    use crate::testing::with_env;

    pub fn method() -> Vec<u8> {
        with_env(|e| e.method.clone().into_bytes())
    }
    pub fn args() -> Vec<u8> {
        with_env(|e| e.args.clone())
    }
    pub fn set_return(data: &[u8]) {
        with_env(|e| e.returned = data.to_vec())
    }
    pub fn revert(msg: &str) -> ! {
        panic!("revert: {}", msg)
    }
    pub fn storage_get(key: &[u8]) -> Option<Vec<u8>> {
        with_env(|e| e.storage.get(key).cloned())
    }
    pub fn storage_len(key: &[u8]) -> Option<usize> {
        with_env(|e| e.storage.get(key).map(|v| v.len()))
    }
    pub fn storage_read_into(key: &[u8], out: &mut [u8]) -> Option<usize> {
        with_env(|e| {
            e.storage.get(key).map(|v| {
                if v.len() <= out.len() {
                    out[..v.len()].copy_from_slice(v);
                }
                v.len()
            })
        })
    }
    pub fn storage_set(key: &[u8], value: &[u8]) {
        with_env(|e| {
            e.storage.insert(key.to_vec(), value.to_vec());
        })
    }
    pub fn storage_remove(key: &[u8]) {
        with_env(|e| {
            e.storage.remove(key);
        })
    }
    pub fn caller() -> Address {
        with_env(|e| e.caller)
    }
    pub fn origin() -> Address {
        with_env(|e| e.origin)
    }
    pub fn self_address() -> Address {
        with_env(|e| e.self_address)
    }
    pub fn block_height() -> u64 {
        with_env(|e| e.height)
    }
    pub fn block_timestamp() -> u64 {
        with_env(|e| e.timestamp_ms)
    }
    pub fn emit(name: &str, data: &[u8]) {
        with_env(|e| e.events.push((name.to_string(), data.to_vec())))
    }
    pub fn hash(data: &[u8]) -> [u8; 32] {
        crate::testing::mock_hash(data)
    }
    pub fn has_role(role: &str, addr: &Address) -> bool {
        with_env(|e| e.roles.contains(&(role.to_string(), *addr)))
    }
    pub fn call_contract(addr: &Address, method: &str, args: &[u8], _fuel: u64) -> Result<Vec<u8>, String> {
        crate::testing::call_mock(addr, method, args)
    }
    pub fn flush_writes() {}
}

/// Name of the method being called.
pub fn method() -> String {
    String::from_utf8_lossy(&imp::method()).into_owned()
}
/// The raw msgpack arguments of this call.
pub fn args_bytes() -> Vec<u8> {
    imp::args()
}
/// Set this call's return value (msgpack bytes).
pub fn set_return(data: &[u8]) {
    imp::set_return(data)
}
/// Hand buffered storage writes to the host (the SDK does this when a method returns).
pub fn flush_writes() {
    imp::flush_writes()
}
/// End the call as failed with `msg`; all its state changes are dropped. Never returns.
pub fn revert(msg: &str) -> ! {
    imp::revert(msg)
}
/// The value stored under `key` in this contract's storage.
pub fn storage_get(key: &[u8]) -> Option<Vec<u8>> {
    imp::storage_get(key)
}
/// Length of the value under `key` without copying it (None if absent).
pub fn storage_len(key: &[u8]) -> Option<usize> {
    imp::storage_len(key)
}
/// Copy the value under `key` into `out` if it fits; returns its full length (None if absent).
pub fn storage_read_into(key: &[u8], out: &mut [u8]) -> Option<usize> {
    imp::storage_read_into(key, out)
}
pub fn storage_set(key: &[u8], value: &[u8]) {
    imp::storage_set(key, value)
}
pub fn storage_remove(key: &[u8]) {
    imp::storage_remove(key)
}
/// The account or contract that called this contract.
pub fn caller() -> Address {
    imp::caller()
}
/// The account that signed the transaction (differs from `caller` inside contract-to-contract calls).
pub fn origin() -> Address {
    imp::origin()
}
/// This contract's own address.
pub fn self_address() -> Address {
    imp::self_address()
}
pub fn block_height() -> u64 {
    imp::block_height()
}
/// Block timestamp in milliseconds since the Unix epoch (the same on every node).
pub fn block_timestamp() -> u64 {
    imp::block_timestamp()
}
/// Emit an event; it lands in the receipt only if the call succeeds.
pub fn emit_raw(name: &str, data: &[u8]) {
    imp::emit(name, data)
}
/// The chain's hash function (SM3 or SHA-256, fixed at genesis).
pub fn hash(data: &[u8]) -> [u8; 32] {
    imp::hash(data)
}
/// Whether `addr` holds `role` in the chain's permissions (the `acl` system contract): one of
/// `consortium_leader`, `regulator`, `credential_issuer`, `algorithm_provider`.
pub fn has_role(role: &str, addr: &Address) -> bool {
    imp::has_role(role, addr)
}
/// Call another contract with at most `fuel`; its state changes are kept only if it succeeds.
pub fn call_contract(addr: &Address, method: &str, args: &[u8], fuel: u64) -> Result<Vec<u8>, String> {
    imp::call_contract(addr, method, args, fuel)
}
