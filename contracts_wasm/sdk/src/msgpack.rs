//! MessagePack values: the encoding of every contract argument, return value, event and stored record.
//!
//! Encoding is canonical (smallest integer and length forms, map keys sorted), so the same value
//! always produces the same bytes on every node. Floats and extension types are refused: they
//! have no place in deterministic contract state.

use std::collections::BTreeMap;
use std::fmt;

/// Deepest nesting a decoder accepts; deeper input is hostile, not data.
pub const MAX_DEPTH: usize = 32;

/// A msgpack value. Maps have string keys, like the node's own argument maps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Nil,
    Bool(bool),
    /// Any integer msgpack can carry: -2^63 ..= 2^64-1.
    Int(i128),
    Str(String),
    Bin(Vec<u8>),
    Array(Vec<Value>),
    Map(BTreeMap<String, Value>),
}

/// Why bytes could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

const INT_MIN: i128 = i64::MIN as i128;
const INT_MAX: i128 = u64::MAX as i128;

impl Value {
    /// An empty map, to be filled with [`Value::with`].
    pub fn map() -> Value {
        Value::Map(BTreeMap::new())
    }

    /// This map with one more entry (builder style). Panics if `self` is not a map.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Value {
        match &mut self {
            Value::Map(m) => {
                m.insert(key.to_string(), value.into());
            }
            _ => panic!("Value::with on a non-map value"),
        }
        self
    }

    pub fn is_nil(&self) -> bool {
        matches!(self, Value::Nil)
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_bin(&self) -> Option<&[u8]> {
        match self {
            Value::Bin(b) => Some(b),
            _ => None,
        }
    }
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }
    pub fn as_int(&self) -> Option<i128> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Int(i) if *i >= 0 && *i <= u64::MAX as i128 => Some(*i as u64),
            _ => None,
        }
    }
    pub fn as_array(&self) -> Option<&Vec<Value>> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }
    pub fn as_map(&self) -> Option<&BTreeMap<String, Value>> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }
    /// The entry `key` of a map, or None (also for non-maps).
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_map().and_then(|m| m.get(key))
    }

    /// The canonical msgpack bytes of this value.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        encode_into(self, &mut out);
        out
    }

    /// Decode exactly one value that spans all of `bytes`.
    pub fn decode(bytes: &[u8]) -> Result<Value, DecodeError> {
        let mut reader = Reader { data: bytes, pos: 0 };
        let value = reader.value(0)?;
        if reader.pos != bytes.len() {
            return Err(DecodeError(format!("{} trailing bytes after the value", bytes.len() - reader.pos)));
        }
        Ok(value)
    }
}

// ----- conversions -----------------------------------------------------------------------

impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Bool(v)
    }
}
macro_rules! from_int {
    ($($t:ty),*) => { $(impl From<$t> for Value { fn from(v: $t) -> Value { Value::Int(v as i128) } })* };
}
from_int!(u8, u16, u32, u64, usize, i8, i16, i32, i64);
impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Str(v.to_string())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Str(v)
    }
}
impl From<&[u8]> for Value {
    fn from(v: &[u8]) -> Value {
        Value::Bin(v.to_vec())
    }
}
impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Value {
        Value::Bin(v)
    }
}
impl<const N: usize> From<[u8; N]> for Value {
    fn from(v: [u8; N]) -> Value {
        Value::Bin(v.to_vec())
    }
}
impl From<Vec<Value>> for Value {
    fn from(v: Vec<Value>) -> Value {
        Value::Array(v)
    }
}
impl From<BTreeMap<String, Value>> for Value {
    fn from(v: BTreeMap<String, Value>) -> Value {
        Value::Map(v)
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        match v {
            Some(x) => x.into(),
            None => Value::Nil,
        }
    }
}

// ----- encoding ------------------------------------------------------------------------

fn encode_len(out: &mut Vec<u8>, len: usize, fix_base: u8, fix_max: usize, tags: [u8; 3]) {
    if len <= fix_max && fix_base != 0 {
        out.push(fix_base | len as u8);
    } else if len <= u8::MAX as usize && tags[0] != 0 {
        out.push(tags[0]);
        out.push(len as u8);
    } else if len <= u16::MAX as usize {
        out.push(tags[1]);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(tags[2]);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
}

fn encode_int(v: i128, out: &mut Vec<u8>) {
    assert!((INT_MIN..=INT_MAX).contains(&v), "integer out of msgpack range");
    if v >= 0 {
        let u = v as u64;
        if u <= 0x7f {
            out.push(u as u8);
        } else if u <= u8::MAX as u64 {
            out.push(0xcc);
            out.push(u as u8);
        } else if u <= u16::MAX as u64 {
            out.push(0xcd);
            out.extend_from_slice(&(u as u16).to_be_bytes());
        } else if u <= u32::MAX as u64 {
            out.push(0xce);
            out.extend_from_slice(&(u as u32).to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&u.to_be_bytes());
        }
    } else {
        let i = v as i64;
        if i >= -32 {
            out.push(i as i8 as u8);
        } else if i >= i8::MIN as i64 {
            out.push(0xd0);
            out.push(i as i8 as u8);
        } else if i >= i16::MIN as i64 {
            out.push(0xd1);
            out.extend_from_slice(&(i as i16).to_be_bytes());
        } else if i >= i32::MIN as i64 {
            out.push(0xd2);
            out.extend_from_slice(&(i as i32).to_be_bytes());
        } else {
            out.push(0xd3);
            out.extend_from_slice(&i.to_be_bytes());
        }
    }
}

fn encode_str(s: &str, out: &mut Vec<u8>) {
    encode_len(out, s.len(), 0xa0, 31, [0xd9, 0xda, 0xdb]);
    out.extend_from_slice(s.as_bytes());
}

fn encode_into(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Nil => out.push(0xc0),
        Value::Bool(false) => out.push(0xc2),
        Value::Bool(true) => out.push(0xc3),
        Value::Int(v) => encode_int(*v, out),
        Value::Str(s) => encode_str(s, out),
        Value::Bin(b) => {
            encode_len(out, b.len(), 0, 0, [0xc4, 0xc5, 0xc6]);
            out.extend_from_slice(b);
        }
        Value::Array(items) => {
            encode_len(out, items.len(), 0x90, 15, [0, 0xdc, 0xdd]);
            for item in items {
                encode_into(item, out);
            }
        }
        Value::Map(entries) => {
            encode_len(out, entries.len(), 0x80, 15, [0, 0xde, 0xdf]);
            for (k, v) in entries {
                encode_str(k, out);
                encode_into(v, out);
            }
        }
    }
}

// ----- decoding ------------------------------------------------------------------------

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.data.len() - self.pos < n {
            return Err(DecodeError("truncated msgpack".to_string()));
        }
        let slice = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(slice)
    }
    fn byte(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }
    fn uint(&mut self, n: usize) -> Result<u64, DecodeError> {
        let mut v: u64 = 0;
        for b in self.take(n)? {
            v = (v << 8) | *b as u64;
        }
        Ok(v)
    }
    /// A length that cannot exceed what is left of the input (each element takes at least one byte).
    fn len(&mut self, n: usize) -> Result<usize, DecodeError> {
        let len = self.uint(n)? as usize;
        if len > self.data.len() - self.pos {
            return Err(DecodeError("length exceeds the input".to_string()));
        }
        Ok(len)
    }
    fn string(&mut self, len: usize) -> Result<Value, DecodeError> {
        let raw = self.take(len)?;
        match std::str::from_utf8(raw) {
            Ok(s) => Ok(Value::Str(s.to_string())),
            Err(_) => Err(DecodeError("string is not valid UTF-8".to_string())),
        }
    }
    fn array(&mut self, len: usize, depth: usize) -> Result<Value, DecodeError> {
        let mut items = Vec::with_capacity(len);
        for _ in 0..len {
            items.push(self.value(depth + 1)?);
        }
        Ok(Value::Array(items))
    }
    fn map(&mut self, len: usize, depth: usize) -> Result<Value, DecodeError> {
        let mut entries = BTreeMap::new();
        for _ in 0..len {
            let key = match self.value(depth + 1)? {
                Value::Str(s) => s,
                _ => return Err(DecodeError("map keys must be strings".to_string())),
            };
            let value = self.value(depth + 1)?;
            if entries.insert(key, value).is_some() {
                return Err(DecodeError("duplicate map key".to_string()));
            }
        }
        Ok(Value::Map(entries))
    }
    fn value(&mut self, depth: usize) -> Result<Value, DecodeError> {
        if depth > MAX_DEPTH {
            return Err(DecodeError("msgpack nested too deeply".to_string()));
        }
        let tag = self.byte()?;
        match tag {
            0x00..=0x7f => Ok(Value::Int(tag as i128)),
            0x80..=0x8f => self.map((tag & 0x0f) as usize, depth),
            0x90..=0x9f => self.array((tag & 0x0f) as usize, depth),
            0xa0..=0xbf => self.string((tag & 0x1f) as usize),
            0xc0 => Ok(Value::Nil),
            0xc2 => Ok(Value::Bool(false)),
            0xc3 => Ok(Value::Bool(true)),
            0xc4 | 0xc5 | 0xc6 => {
                let n = self.len(1 << (tag - 0xc4))?;
                Ok(Value::Bin(self.take(n)?.to_vec()))
            }
            0xca | 0xcb => Err(DecodeError("floats are not supported".to_string())),
            0xcc..=0xcf => Ok(Value::Int(self.uint(1 << (tag - 0xcc))? as i128)),
            0xd0 => Ok(Value::Int(self.uint(1)? as u8 as i8 as i128)),
            0xd1 => Ok(Value::Int(self.uint(2)? as u16 as i16 as i128)),
            0xd2 => Ok(Value::Int(self.uint(4)? as u32 as i32 as i128)),
            0xd3 => Ok(Value::Int(self.uint(8)? as i64 as i128)),
            0xd9 | 0xda | 0xdb => {
                let n = self.len(1 << (tag - 0xd9))?;
                self.string(n)
            }
            0xdc | 0xdd => {
                let n = self.len(2 << (tag - 0xdc))?;
                self.array(n, depth)
            }
            0xde | 0xdf => {
                let n = self.len(2 << (tag - 0xde))?;
                self.map(n, depth)
            }
            0xe0..=0xff => Ok(Value::Int(tag as i8 as i128)),
            _ => Err(DecodeError(format!("unsupported msgpack type 0x{:02x}", tag))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_kind() {
        let v = Value::map()
            .with("nil", Value::Nil)
            .with("t", true)
            .with("small", 5u8)
            .with("neg", -100i64)
            .with("big", u64::MAX)
            .with("min", i64::MIN)
            .with("s", "hello")
            .with("b", vec![1u8, 2, 3])
            .with("a", vec![Value::from(1u8), Value::from("x")]);
        assert_eq!(Value::decode(&v.encode()).unwrap(), v);
    }

    #[test]
    fn encodes_like_python_msgpack() {
        // msgpack.packb({"a": 1, "b": b"\x01"}, use_bin_type=True)
        let v = Value::map().with("b", vec![1u8]).with("a", 1u8);
        assert_eq!(v.encode(), vec![0x82, 0xa1, b'a', 0x01, 0xa1, b'b', 0xc4, 0x01, 0x01]);
        assert_eq!(Value::from(300u32).encode(), vec![0xcd, 0x01, 0x2c]);
        assert_eq!(Value::from(-33i32).encode(), vec![0xd0, 0xdf]);
    }

    #[test]
    fn refuses_hostile_input() {
        assert!(Value::decode(&[0xcb, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
        assert!(Value::decode(&[0xdd, 0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(Value::decode(&[0xc4, 0x05, 1]).is_err());
        assert!(Value::decode(&[0x81, 0x01, 0x01]).is_err());
        assert!(Value::decode(&[0x01, 0x01]).is_err());
        assert!(Value::decode(&[0xc1]).is_err());
        let deep = vec![0x91u8; 100];
        assert!(Value::decode(&deep).is_err());
    }
}

/// Writes msgpack straight into bytes, without building a [`Value`] first: for hot paths such
/// as records written on every call. Give map keys in sorted order to keep the encoding canonical.
#[derive(Default)]
pub struct Writer(Vec<u8>);

impl Writer {
    pub fn new() -> Writer {
        Writer(Vec::with_capacity(256))
    }
    pub fn map(mut self, len: usize) -> Writer {
        encode_len(&mut self.0, len, 0x80, 15, [0, 0xde, 0xdf]);
        self
    }
    pub fn array(mut self, len: usize) -> Writer {
        encode_len(&mut self.0, len, 0x90, 15, [0, 0xdc, 0xdd]);
        self
    }
    pub fn str(mut self, s: &str) -> Writer {
        encode_str(s, &mut self.0);
        self
    }
    pub fn bin(mut self, b: &[u8]) -> Writer {
        encode_len(&mut self.0, b.len(), 0, 0, [0xc4, 0xc5, 0xc6]);
        self.0.extend_from_slice(b);
        self
    }
    pub fn uint(mut self, v: u64) -> Writer {
        encode_int(v as i128, &mut self.0);
        self
    }
    pub fn int(mut self, v: i64) -> Writer {
        encode_int(v as i128, &mut self.0);
        self
    }
    pub fn bool(mut self, v: bool) -> Writer {
        self.0.push(if v { 0xc3 } else { 0xc2 });
        self
    }
    pub fn nil(mut self) -> Writer {
        self.0.push(0xc0);
        self
    }
    pub fn opt_str(self, s: Option<&str>) -> Writer {
        match s {
            Some(s) => self.str(s),
            None => self.nil(),
        }
    }
    pub fn value(mut self, v: &Value) -> Writer {
        encode_into(v, &mut self.0);
        self
    }
    /// Key then value, for maps.
    pub fn entry_str(self, key: &str, v: &str) -> Writer {
        self.str(key).str(v)
    }
    pub fn finish(self) -> Vec<u8> {
        self.0
    }
    /// Continue writing after bytes that are already msgpack.
    pub fn from_bytes(bytes: Vec<u8>) -> Writer {
        Writer(bytes)
    }
}

#[cfg(test)]
mod writer_tests {
    use super::*;

    #[test]
    fn writer_matches_value_encoding() {
        let v = Value::map().with("a", 1u8).with("b", vec![1u8, 2]).with("c", Value::Nil).with("d", "x");
        let w = Writer::new().map(4).str("a").uint(1).str("b").bin(&[1, 2]).str("c").nil().str("d").str("x").finish();
        assert_eq!(v.encode(), w);
    }
}
