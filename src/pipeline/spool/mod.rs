//! The disk spool: batches ClickHouse has not taken yet, kept in files so
//! that they outlast an outage longer than memory allows, and a restart.
//!
//! A spool directory holds:
//! - `LOCK`, locked exclusively while a process uses the spool, so two
//!   processes never interleave their batches;
//! - `cursor`, where replay stands (a segment number and an offset), so
//!   acknowledged batches are not sent again after a restart;
//! - segment files `<number>.seg`: an 8-byte magic, then records
//!   `len: u32 LE | crc32: u32 LE | payload[len]`, the CRC over the payload.
//!
//! Records are only appended. A segment is closed when it reaches
//! `segment_bytes` and deleted once all its batches were acknowledged.
//! Opening the spool scans every segment, so the rows waiting are known
//! exactly (and so are the rows dropped when the spool is full). A bad
//! checksum, a length past the end of the file or a payload that does not
//! decode ends the segment there: the rest is skipped and reported, never
//! appended to, and never crashes the replay.

mod append;
mod segment;
mod store;

pub(crate) use append::Appended;
pub use segment::read_segment_image;
pub(crate) use segment::record_len;
pub(crate) use store::Spool;

#[cfg(test)]
mod full_tests;
#[cfg(test)]
mod segment_props;
#[cfg(test)]
pub(crate) mod tests;
