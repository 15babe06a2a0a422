//! Bound parameters for the rules' SQL.
//!
//! The query module's `Sql` builder is private to `query/` (and binds no
//! arrays of integers), so the alert module has this small one of its own,
//! on the same principle: the text is only our fragments and the
//! placeholders handed out here; every value travels beside it as a query
//! parameter that ClickHouse parses as a literal of the placeholder's type.

/// A bound value.
#[derive(Clone, Debug, PartialEq)]
enum Value {
    Str(String),
    Strs(Vec<String>),
    Int(i64),
    Ints(Vec<i64>),
}

/// SQL text with its parameters.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Bound {
    pub(crate) text: String,
    params: Vec<(String, Value)>,
}

impl Bound {
    fn bind(&mut self, value: Value, type_name: &str) -> String {
        let name = format!("a{}", self.params.len());
        let placeholder = format!("{{{name}:{type_name}}}");
        self.params.push((name, value));
        placeholder
    }

    /// A `String` parameter's placeholder.
    pub(crate) fn str(&mut self, value: &str) -> String {
        self.bind(Value::Str(value.to_owned()), "String")
    }

    /// An `Array(String)` parameter's placeholder.
    pub(crate) fn strs(&mut self, values: &[String]) -> String {
        self.bind(Value::Strs(values.to_vec()), "Array(String)")
    }

    /// An `Int64` parameter's placeholder.
    pub(crate) fn int(&mut self, value: i64) -> String {
        self.bind(Value::Int(value), "Int64")
    }

    /// An `Array(Int64)` parameter's placeholder.
    pub(crate) fn ints(&mut self, values: &[i64]) -> String {
        self.bind(Value::Ints(values.to_vec()), "Array(Int64)")
    }

    /// Appends our own text.
    pub(crate) fn push(&mut self, fragment: &str) {
        self.text.push_str(fragment);
    }

    /// The bound values as `Debug` prints them (for tests).
    #[cfg(test)]
    pub(crate) fn values(&self) -> Vec<String> {
        self.params.iter().map(|(_, v)| format!("{v:?}")).collect()
    }

    /// The text and each parameter as `name = value`.
    pub(crate) fn parts(self) -> (String, Vec<String>) {
        let params = self
            .params
            .iter()
            .map(|(n, v)| format!("{n} = {v:?}"))
            .collect();
        (self.text, params)
    }

    /// The query, ready to run on `client`.
    pub(crate) fn query(self, client: &clickhouse::Client) -> clickhouse::query::Query {
        let query = client.query(&self.text);
        self.params
            .into_iter()
            .fold(query, |query, (name, value)| match value {
                Value::Str(v) => query.param(&name, v),
                Value::Strs(v) => query.param(&name, v),
                Value::Int(v) => query.param(&name, v),
                Value::Ints(v) => query.param(&name, v),
            })
    }
}
