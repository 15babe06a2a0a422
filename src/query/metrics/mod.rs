//! Metrics by name, attributes and time range; histogram
//! quantiles over a range; minute, hour and day aggregations.

mod filter;
mod names;
mod point;
mod points;
mod summaries;

pub use filter::MetricQuery;
pub use names::MetricName;
pub use point::MetricPoint;
pub use summaries::{Aggregate, Granularity, Quantiles};
