//! K Smart charging's pure part: the charging profile model ([`profile`]), the
//! specification's rules on a profile before it is sent ([`check`]), and composite schedules
//! ([`composite`]): the limit an EVSE or a station is held to, merged from its profiles as a
//! station merges them.
//!
//! Plain data in, plain data out: no clock, no I/O, no wire format. The domain stores and sends
//! profiles; the gateway writes them in each version's terms.

pub mod check;
pub mod composite;
pub mod profile;

/// An instant, in UTC.
pub type Time = chrono::DateTime<chrono::Utc>;
