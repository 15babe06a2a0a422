//! Where trace context travels: HTTP headers, message headers, metadata.

use std::collections::HashMap;
use std::hash::BuildHasher;

use super::{TRACEPARENT, TRACESTATE};

/// Fields a trace context is read from: HTTP headers, message headers,
/// gRPC metadata. Field names are lower case.
pub trait Extractor {
    /// Every value of field `name`, in the order received.
    fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a;
}

/// Fields a trace context is written into.
pub trait Injector {
    /// Sets field `name` to `value` (replacing what was there).
    fn set(&mut self, name: &'static str, value: &str);
}

impl Extractor for http::HeaderMap {
    fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.get_all(name)
            .into_iter()
            .map(http::HeaderValue::as_bytes)
    }
}

impl Injector for http::HeaderMap {
    fn set(&mut self, name: &'static str, value: &str) {
        const PARENT: http::HeaderName = http::HeaderName::from_static(TRACEPARENT);
        const STATE: http::HeaderName = http::HeaderName::from_static(TRACESTATE);
        let name = match name {
            TRACEPARENT => PARENT,
            TRACESTATE => STATE,
            other => http::HeaderName::from_static(other),
        };
        // Our values are printable ASCII.
        if let Ok(value) = http::HeaderValue::from_str(value) {
            self.insert(name, value);
        }
    }
}

impl<V: AsRef<[u8]>, H: BuildHasher> Extractor for HashMap<String, V, H> {
    fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.get(name).map(AsRef::as_ref).into_iter()
    }
}

impl<H: BuildHasher> Injector for HashMap<String, String, H> {
    fn set(&mut self, name: &'static str, value: &str) {
        self.insert(name.to_owned(), value.to_owned());
    }
}

/// Key/value pairs (message headers); names compare case-insensitively.
impl<K: AsRef<str>, V: AsRef<[u8]>> Extractor for [(K, V)] {
    fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.iter()
            .filter(move |(k, _)| k.as_ref().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
    }
}

impl<K: AsRef<str>, V: AsRef<[u8]>> Extractor for Vec<(K, V)> {
    fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.as_slice().values(name)
    }
}

impl Injector for Vec<(String, String)> {
    fn set(&mut self, name: &'static str, value: &str) {
        self.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self.push((name.to_owned(), value.to_owned()));
    }
}
