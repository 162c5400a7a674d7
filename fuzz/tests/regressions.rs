//! Every input a fuzz target once failed on (`fuzz/regressions/<target>/`, put there by
//! `fuzz/run`), and every seed, replayed through the target's body: a fixed fault stays fixed.

use std::path::Path;

fn replay(dir: &str, target: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return 0;
    };
    let mut n = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_file() && path.file_name().is_some_and(|f| f != ".gitkeep") {
            let data = std::fs::read(&path).expect("readable");
            target(&data);
            n += 1;
        }
    }
    n
}

#[test]
fn failures_once_found_stay_fixed() {
    replay("regressions/ws_frames", arus_fuzz::ws_frames);
    replay("regressions/handshake", arus_fuzz::handshake);
    replay("regressions/ocpp_messages", arus_fuzz::ocpp_messages);
}

#[test]
fn the_seeds_pass() {
    assert!(replay("seeds/ocpp_messages", arus_fuzz::ocpp_messages) > 100);
    assert!(replay("seeds/handshake", arus_fuzz::handshake) >= 4);
}
