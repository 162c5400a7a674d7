//! The frame log, batched: frames wait in memory per station and go to the store as one row per
//! station and flush (about every second, or sooner when much is waiting).
//!
//! A frame is diagnostic data, not something a station was told is safe, so it may wait; in
//! exchange the log costs one row per station per second instead of two rows per message,
//! which was most of the storage work under load. A frame is at most a second late in the log,
//! and a crash loses at most the last second of it.
//!
//! Frames waiting, in this buffer and in the writer's queue, take at most [`MAX_PENDING`] bytes:
//! beyond, a frame is dropped and counted (`arus_frame_log_dropped`), so a database that cannot
//! keep up never makes the log grow in memory. A queued row gives its bytes back when the
//! writer is done with it ([`Held`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arus_domain::Time;
use arus_domain::store::{Direction, FrameRecord, Write};
use chrono::{DateTime, Utc};
use tokio::sync::Notify;

/// How often waiting frames are written.
const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// Flush early once this many bytes wait.
const FLUSH_BYTES: usize = 8 << 20;
/// The most frames in one row.
const ROW_FRAMES: usize = 512;
/// The most bytes of frames waiting to be written, buffered or queued.
pub(crate) const MAX_PENDING: usize = 64 << 20;

/// A row of the frame log: up to [`ROW_FRAMES`] frames of one station, already encoded.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FrameBatch {
    pub station_id: String,
    pub first_at: Time,
    pub last_at: Time,
    pub count: usize,
    /// The frames, each as `at \t direction \t length \t text`, one after another.
    pub text: String,
    /// The frames' own bytes (their texts' lengths), as the buffer counts them.
    pub frame_bytes: usize,
}

impl FrameBatch {
    fn new(station_id: String, at: Time) -> FrameBatch {
        FrameBatch {
            station_id,
            first_at: at,
            last_at: at,
            count: 0,
            text: String::new(),
            frame_bytes: 0,
        }
    }

    /// A row of one frame.
    pub fn single(station_id: &str, direction: Direction, at: Time, text: &str) -> FrameBatch {
        let mut b = FrameBatch::new(station_id.to_string(), at);
        b.add(direction, at, text);
        b
    }

    /// The row of a frame that came as a [`Write::Frame`] rather than through the
    /// [`FrameBuffer`]: frames normally come batched, and one that does not is a batch of one.
    /// `None` for any other write.
    pub fn of_write(w: &Write) -> Option<FrameBatch> {
        frame_of(w).map(|(station_id, direction, at, text)| {
            FrameBatch::single(station_id, direction, at, text)
        })
    }

    /// Appends a frame, encoded.
    fn add(&mut self, direction: Direction, at: Time, text: &str) {
        if self.count == 0 {
            self.first_at = at;
            self.text.reserve(text.len() + 48);
        }
        self.last_at = at;
        self.count += 1;
        self.frame_bytes += text.len();
        push_ts(&mut self.text, &at);
        self.text.push('\t');
        self.text.push_str(direction.as_str());
        self.text.push('\t');
        push_number(&mut self.text, text.len());
        self.text.push('\t');
        self.text.push_str(text);
    }
}

/// What a [`Write::Frame`] logs: the station, the direction, the time and the text; `None` for
/// any other write.
pub(crate) fn frame_of(w: &Write) -> Option<(&str, Direction, Time, &str)> {
    match w {
        Write::Frame {
            station_id,
            direction,
            at,
            text,
        } => Some((station_id, *direction, *at, text)),
        _ => None,
    }
}

/// Writes `2024-05-01T12:00:00.123456Z` (what `decode` reads back). By hand: chrono's
/// formatter cost more than the rest of logging a frame.
fn push_ts(out: &mut String, t: &Time) {
    use chrono::{Datelike, Timelike};
    fn two(out: &mut String, n: u32) {
        out.push(char::from(b'0' + (n / 10 % 10) as u8));
        out.push(char::from(b'0' + (n % 10) as u8));
    }
    let year = t.year().clamp(0, 9999) as u32;
    two(out, year / 100);
    two(out, year % 100);
    out.push('-');
    two(out, t.month());
    out.push('-');
    two(out, t.day());
    out.push('T');
    two(out, t.hour());
    out.push(':');
    two(out, t.minute());
    out.push(':');
    two(out, t.second());
    out.push('.');
    let micros = t.nanosecond() / 1000 % 1_000_000;
    two(out, micros / 10_000);
    two(out, micros / 100 % 100);
    two(out, micros % 100);
    out.push('Z');
}

fn push_number(out: &mut String, n: usize) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for d in &digits[i..] {
        out.push(char::from(*d));
    }
}

/// A row's frames as stored: LZ4-compressed (with the length in front). OCPP frames repeat
/// their keys and most values from one message to the next, so a row shrinks several times,
/// and every byte saved is one the database does not write, sync and checkpoint.
pub(crate) fn pack(text: &str) -> Vec<u8> {
    lz4_flex::compress_prepend_size(text.as_bytes())
}

/// The text of a stored row: [`pack`]ed bytes, or text as rows were first written. `None` when
/// the bytes are damaged.
pub(crate) fn unpack(stored: StoredRow<'_>) -> Option<String> {
    match stored {
        StoredRow::Text(t) => Some(t.to_string()),
        StoredRow::Packed(b) => {
            let size = u32::from_le_bytes(b.get(..4)?.try_into().ok()?) as usize;
            // LZ4 expands at most 255 times: a larger claimed size is a damaged prefix, and
            // would be allocated before decoding.
            (size <= b.len().saturating_mul(255)).then_some(())?;
            // The decoder stops quietly at the end of a truncated input: the length says.
            let text = lz4_flex::decompress(&b[4..], size).ok()?;
            (text.len() == size).then_some(())?;
            String::from_utf8(text).ok()
        }
    }
}

/// A frame-log row as the database returns it.
pub(crate) enum StoredRow<'a> {
    /// Uncompressed text.
    Text(&'a str),
    /// [`pack`]ed bytes.
    Packed(&'a [u8]),
}

/// Reads a row's frames back (in the order they were logged).
pub(crate) fn decode(mut s: &str) -> Vec<FrameRecord> {
    let mut out = Vec::new();
    while !s.is_empty() {
        let mut fields = s.splitn(4, '\t');
        let (Some(at), Some(dir), Some(len), Some(rest)) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            break;
        };
        let (Ok(at), Ok(len)) = (DateTime::parse_from_rfc3339(at), len.parse::<usize>()) else {
            break;
        };
        let Some(text) = rest.get(..len) else {
            break;
        };
        out.push(FrameRecord {
            at: at.with_timezone(&Utc),
            direction: if dir == "in" {
                Direction::In
            } else {
                Direction::Out
            },
            text: text.to_string(),
        });
        s = &rest[len..];
    }
    out
}

/// Frames waiting to be written, in [`SHARDS`] shards by station, already encoded as rows.
///
/// The shards are flushed in turn, one every `FLUSH_EVERY / SHARDS`: each station still gets
/// about one row a second, but the writer receives a tenth of the log ten times a second rather
/// than all of it at once, so no single commit grows large enough to hold up the commits that
/// stations wait for.
pub(crate) struct FrameBuffer {
    shards: [Mutex<Shard>; SHARDS],
    /// Bytes in the shards (what decides an early flush).
    bytes: AtomicUsize,
    /// Bytes in the shards or taken and not yet written (what [`MAX_PENDING`] bounds).
    pending: Arc<AtomicUsize>,
    full: Notify,
}

/// The bytes of taken rows, counted as pending until this is dropped (with the writer's job).
pub(crate) struct Held {
    pending: Arc<AtomicUsize>,
    bytes: usize,
}

impl Drop for Held {
    fn drop(&mut self) {
        let n = self.bytes;
        let _ = self
            .pending
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                Some(b.saturating_sub(n))
            });
    }
}

/// One shard: the row being filled for each station, and rows already full.
#[derive(Default)]
struct Shard {
    open: HashMap<String, FrameBatch>,
    full: Vec<FrameBatch>,
}

/// How many parts the waiting frames are kept in (and flushed in turn).
const SHARDS: usize = 10;

impl Default for FrameBuffer {
    fn default() -> FrameBuffer {
        FrameBuffer {
            shards: std::array::from_fn(|_| Mutex::new(Shard::default())),
            bytes: AtomicUsize::new(0),
            pending: Arc::new(AtomicUsize::new(0)),
            full: Notify::new(),
        }
    }
}

/// The shard of a station: a cheap, stable hash of its id (FNV-1a).
fn shard_of(station_id: &str) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in station_id.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    (h % SHARDS as u64) as usize
}

impl FrameBuffer {
    /// Adds a frame to its station's row; drops it (counted) when [`MAX_PENDING`] bytes wait.
    pub fn push(&self, station_id: &str, direction: Direction, at: Time, text: &str) {
        let len = text.len();
        if self
            .pending
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |p| {
                (p + len <= MAX_PENDING).then_some(p + len)
            })
            .is_err()
        {
            arus_telemetry::metrics().frame_log_dropped.inc();
            return;
        }
        if let Ok(mut shard) = self.shards[shard_of(station_id)].lock() {
            let shard = &mut *shard;
            // Looked up by &str: the id is copied only for a station's first frame of a row.
            let full = match shard.open.get_mut(station_id) {
                Some(row) => {
                    row.add(direction, at, text);
                    row.count >= ROW_FRAMES
                }
                None => {
                    let mut row = FrameBatch::new(station_id.to_string(), at);
                    row.add(direction, at, text);
                    shard.open.insert(station_id.to_string(), row);
                    false
                }
            };
            if full && let Some(row) = shard.open.remove(station_id) {
                shard.full.push(row);
            }
        }
        if self.bytes.fetch_add(len, Ordering::Relaxed) + len > FLUSH_BYTES {
            self.full.notify_one();
        }
    }

    /// Everything waiting in one shard, as rows.
    fn take_shard(&self, shard: usize, out: &mut Vec<FrameBatch>) {
        let (open, full) = match self.shards[shard].lock() {
            Ok(mut s) => (std::mem::take(&mut s.open), std::mem::take(&mut s.full)),
            Err(_) => return,
        };
        let before = out.len();
        out.extend(full);
        out.extend(open.into_values());
        let taken: usize = out[before..].iter().map(|b| b.frame_bytes).sum();
        // Saturating: pushes racing with the take may have counted bytes not yet taken.
        let _ = self
            .bytes
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                Some(b.saturating_sub(taken))
            });
    }

    /// Everything waiting, as rows.
    pub fn take(&self) -> Vec<FrameBatch> {
        let mut out = Vec::new();
        for shard in 0..SHARDS {
            self.take_shard(shard, &mut out);
        }
        out
    }

    /// What holds `batches`' bytes as pending until it is dropped.
    pub fn hold(&self, batches: &[FrameBatch]) -> Held {
        Held {
            pending: self.pending.clone(),
            bytes: batches.iter().map(|b| b.frame_bytes).sum(),
        }
    }

    /// Hands what waits to `write` until the process ends: one shard in turn every
    /// `FLUSH_EVERY / SHARDS`, and everything at once when much waits.
    pub async fn flush_forever(self: Arc<Self>, write: impl Fn(Vec<FrameBatch>)) {
        let mut tick = tokio::time::interval(FLUSH_EVERY / SHARDS as u32);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut next = 0;
        loop {
            let batches = tokio::select! {
                _ = tick.tick() => {
                    let mut out = Vec::new();
                    self.take_shard(next, &mut out);
                    next = (next + 1) % SHARDS;
                    out
                }
                () = self.full.notified() => self.take(),
            };
            if !batches.is_empty() {
                write(batches);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_rows_read_back_and_old_text_rows_still_read() {
        let text = "2024-05-01T12:00:00.000000Z\tin\t2\t[]".repeat(50);
        let packed = pack(&text);
        assert!(
            packed.len() < text.len() / 4,
            "{} of {}",
            packed.len(),
            text.len()
        );
        assert_eq!(
            unpack(StoredRow::Packed(&packed)).as_deref(),
            Some(text.as_str())
        );
        assert_eq!(
            unpack(StoredRow::Text(&text)).as_deref(),
            Some(text.as_str())
        );
        assert_eq!(unpack(StoredRow::Packed(&packed[..packed.len() / 2])), None);
        let mut huge = packed.clone();
        huge[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(unpack(StoredRow::Packed(&huge)), None);
    }

    #[test]
    fn round_trip() {
        let at = Utc::now();
        let mut b = FrameBatch::single("CS", Direction::In, at, "[2,\"1\",\"Heartbeat\",{}]");
        b.add(Direction::Out, at, "line\nbreak\ttab é");
        let back = decode(&b.text);
        assert_eq!(back.len(), 2);
        assert_eq!(b.count, 2);
        assert_eq!(back[1].text, "line\nbreak\ttab é");
        assert_eq!(back[0].direction, Direction::In);
        assert_eq!(back[1].direction, Direction::Out);
        // Microseconds survive the text form.
        use chrono::Timelike;
        let micros = at
            .with_nanosecond(at.nanosecond() / 1000 * 1000)
            .unwrap_or(at);
        assert_eq!(back[0].at, micros);
    }

    #[test]
    fn timestamps_match_chrono() {
        for t in [0i64, 1_700_000_000, 4_102_444_799] {
            let at = DateTime::<Utc>::from_timestamp(t, 7_000).unwrap_or_default();
            let mut ours = String::new();
            push_ts(&mut ours, &at);
            assert_eq!(
                ours,
                at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
            );
        }
        let mut n = String::new();
        push_number(&mut n, 0);
        push_number(&mut n, 1234567);
        assert_eq!(n, "01234567");
    }

    #[test]
    fn rows_are_bounded() {
        let buf = FrameBuffer::default();
        for i in 0..1200 {
            buf.push("CS", Direction::In, Utc::now(), &i.to_string());
        }
        buf.push("OTHER", Direction::Out, Utc::now(), "x");
        let rows = buf.take();
        assert_eq!(rows.iter().map(|r| r.count).sum::<usize>(), 1201);
        assert!(rows.iter().all(|r| r.count <= ROW_FRAMES));
        let texts: Vec<String> = rows
            .iter()
            .filter(|r| r.station_id == "CS")
            .flat_map(|r| decode(&r.text))
            .map(|f| f.text)
            .collect();
        assert_eq!(texts.len(), 1200);
        let mut sorted: Vec<usize> = texts.iter().filter_map(|t| t.parse().ok()).collect();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..1200).collect::<Vec<_>>());
        assert!(buf.take().is_empty());
    }

    /// Frames waiting, taken or not, are bounded in bytes; written rows give theirs back.
    #[test]
    fn pending_frames_are_bounded_in_bytes() {
        let buf = FrameBuffer::default();
        let frame = "x".repeat(1 << 20);
        let now = Utc::now();
        for _ in 0..MAX_PENDING / frame.len() {
            buf.push("CS1", Direction::In, now, &frame);
        }
        let dropped = arus_telemetry::metrics().frame_log_dropped.get();
        buf.push("CS1", Direction::In, now, &frame);
        assert!(arus_telemetry::metrics().frame_log_dropped.get() > dropped);
        let rows = buf.take();
        assert_eq!(rows.iter().map(|r| r.count).sum::<usize>(), 64);
        // Taken for the writer but not written: still pending.
        let held = buf.hold(&rows);
        buf.push("CS1", Direction::In, now, &frame);
        assert!(buf.take().is_empty(), "no room until the rows are written");
        drop(held);
        buf.push("CS1", Direction::In, now, &frame);
        assert_eq!(buf.take().len(), 1);
    }
}
