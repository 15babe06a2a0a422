//! The tables, from `schema.sql`.
//!
//! `schema.sql` at the crate's root is the single source of truth; it is
//! embedded in the library. [`statements`] fills in its placeholders from a
//! [`Config`](crate::Config) (the database name is a validated identifier, TTLs are numbers),
//! and [`apply`] brings a database to [`SCHEMA_VERSION`]: it creates what
//! is missing, runs the migrations an older database needs (recorded in
//! the `schema_version` table), and refuses a database newer than this
//! crate. Applying twice changes nothing; existing tables keep their TTLs.
//! The server's version is checked first: one older than
//! [`MIN_SERVER_VERSION`] is refused, and what an older server cannot take
//! is left out of the statements, [`Applied::notes`] saying what.
//!
//! ```no_run
//! # async fn run() -> tracing_clickhouse::Result<()> {
//! let config = tracing_clickhouse::Config::from_env()?;
//! tracing_clickhouse::schema::apply(&config).await?;
//! # Ok(()) }
//! ```

mod cluster;
mod ddl;
mod insert;
mod server;
mod status;
mod versions;

pub(crate) use cluster::LOCAL_SUFFIX;
#[cfg(test)]
pub(crate) use ddl::SCHEMA_SQL;
pub use ddl::{statements, statements_of};
pub(crate) use insert::insert_sql_for;
pub use server::{MIN_SERVER_VERSION, ServerVersion, fit_to};
pub use status::{PendingMigration, SchemaStatus, TableStatus, status};
pub(crate) use versions::apply_with;
pub use versions::{Applied, SCHEMA_VERSION, apply};
