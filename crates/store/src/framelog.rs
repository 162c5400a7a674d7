//! The frame log, batched: frames wait in memory per station and go to the store as one row per
//! station and flush (about every second, or sooner when much is waiting).
//!
//! A frame is diagnostic data, not something a station was told is safe, so it may wait; in
//! exchange the log costs one row per station per second instead of two rows per message,
//! which was most of the storage work under load. A frame is at most a second late in the log,
//! and a crash loses at most the last second of it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arus_domain::Time;
use arus_domain::store::{Direction, FrameRecord};
use chrono::{DateTime, Utc};
use tokio::sync::Notify;

/// How often waiting frames are written.
const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// Flush early once this many bytes wait.
const FLUSH_BYTES: usize = 8 << 20;
/// The most frames in one row.
const ROW_FRAMES: usize = 512;

/// A station's frames of one flush.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FrameBatch {
    pub station_id: String,
    pub frames: Vec<FrameRecord>,
}

impl FrameBatch {
    pub fn first_at(&self) -> Time {
        self.frames.first().map(|f| f.at).unwrap_or_default()
    }

    pub fn last_at(&self) -> Time {
        self.frames.last().map(|f| f.at).unwrap_or_default()
    }

    /// The row's text: each frame as `at \t direction \t length \t text`, one after another.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(self.frames.iter().map(|f| f.text.len() + 40).sum());
        for f in &self.frames {
            out.push_str(&f.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true));
            out.push('\t');
            out.push_str(f.direction.as_str());
            out.push('\t');
            out.push_str(&f.text.len().to_string());
            out.push('\t');
            out.push_str(&f.text);
        }
        out
    }
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

/// Frames waiting to be written, in [`SHARDS`] shards by station.
///
/// The shards are flushed in turn, one every `FLUSH_EVERY / SHARDS`: each station still gets
/// about one row a second, but the writer receives a tenth of the log ten times a second rather
/// than all of it at once, so no single commit grows large enough to hold up the commits that
/// stations wait for.
pub(crate) struct FrameBuffer {
    shards: [Mutex<HashMap<String, Vec<FrameRecord>>>; SHARDS],
    bytes: AtomicUsize,
    full: Notify,
}

/// How many parts the waiting frames are kept in (and flushed in turn).
const SHARDS: usize = 10;

impl Default for FrameBuffer {
    fn default() -> FrameBuffer {
        FrameBuffer {
            shards: std::array::from_fn(|_| Mutex::new(HashMap::new())),
            bytes: AtomicUsize::new(0),
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
    pub fn push(&self, station_id: String, frame: FrameRecord) {
        let len = frame.text.len();
        if let Ok(mut w) = self.shards[shard_of(&station_id)].lock() {
            w.entry(station_id).or_default().push(frame);
        }
        if self.bytes.fetch_add(len, Ordering::Relaxed) + len > FLUSH_BYTES {
            self.full.notify_one();
        }
    }

    /// Everything waiting in one shard, as rows.
    fn take_shard(&self, shard: usize, out: &mut Vec<FrameBatch>) {
        let waiting = match self.shards[shard].lock() {
            Ok(mut w) => std::mem::take(&mut *w),
            Err(_) => return,
        };
        let mut taken = 0;
        for (station_id, mut frames) in waiting {
            taken += frames.iter().map(|f| f.text.len()).sum::<usize>();
            while !frames.is_empty() {
                let rest = frames.split_off(frames.len().min(ROW_FRAMES));
                out.push(FrameBatch {
                    station_id: station_id.clone(),
                    frames,
                });
                frames = rest;
            }
        }
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
    fn round_trip() {
        let at = Utc::now();
        let frames = vec![
            FrameRecord {
                at,
                direction: Direction::In,
                text: "[2,\"1\",\"Heartbeat\",{}]".into(),
            },
            FrameRecord {
                at,
                direction: Direction::Out,
                text: "line\nbreak\ttab é".into(),
            },
        ];
        let b = FrameBatch {
            station_id: "CS".into(),
            frames: frames.clone(),
        };
        let back = decode(&b.encode());
        assert_eq!(back.len(), 2);
        assert_eq!(back[1].text, frames[1].text);
        assert_eq!(back[0].direction, Direction::In);
    }

    #[test]
    fn rows_are_bounded() {
        let buf = FrameBuffer::default();
        for i in 0..1200 {
            buf.push(
                "CS".into(),
                FrameRecord {
                    at: Utc::now(),
                    direction: Direction::In,
                    text: i.to_string(),
                },
            );
        }
        let rows = buf.take();
        assert_eq!(rows.iter().map(|r| r.frames.len()).sum::<usize>(), 1200);
        assert!(rows.iter().all(|r| r.frames.len() <= ROW_FRAMES));
        assert!(buf.take().is_empty());
    }
}
