//! The tables, from `schema.sql`.
//!
//! `schema.sql` at the crate's root is the single source of truth; it is
//! embedded in the library. [`statements`] fills in its placeholders from a
//! [`Config`](crate::Config) (the database name is a validated identifier, TTLs are numbers),
//! and [`apply`] runs them. Every statement is `IF NOT EXISTS`, so applying
//! twice changes nothing; existing tables keep their TTLs.
//!
//! ```no_run
//! # async fn run() -> tracing_clickhouse::Result<()> {
//! let config = tracing_clickhouse::Config::from_env()?;
//! tracing_clickhouse::schema::apply(&config).await?;
//! # Ok(()) }
//! ```

mod ddl;
mod insert;

pub(crate) use ddl::apply_with;
pub use ddl::{DEDUP_WINDOW, SCHEMA_SQL, apply, statements};
pub(crate) use insert::insert_sql;
