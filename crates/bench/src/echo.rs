//! A bare WebSocket echo server: it accepts any upgrade (agreeing to the first subprotocol
//! offered) and sends every text message back. It does what Arus's gateway does for a frame —
//! read, unmask, write — and nothing else, so its throughput per CPU-second is the ceiling
//! Arus is measured against.

use std::cell::RefCell;
use std::io;

use arus_ws::frame::{CloseCode, Decoder, Event, encode_close, encode_pong, encode_text};
use arus_ws::handshake::{self, Request};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

thread_local! {
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(vec![0; 64 * 1024]);
}

/// Serves until the process ends.
pub async fn serve(listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(Box::pin(connection(stream)));
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
        }
    }
}

async fn connection(mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut head = Vec::with_capacity(1024);
    let request = loop {
        if stream.readable().await.is_err() {
            return;
        }
        let mut chunk = [0u8; 2048];
        match stream.try_read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => head.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(_) => return,
        }
        match Request::parse(&head) {
            Ok(Some((req, _))) => break req,
            Ok(None) if head.len() < 16 * 1024 => {}
            _ => return,
        }
    };
    let Some(key) = request.header("sec-websocket-key") else {
        return;
    };
    let protocol = request.protocols().first().map(|p| p.to_string());
    let response = handshake::switching_protocols(key, protocol.as_deref(), None);
    drop(head);
    drop(request);
    if stream.write_all(&response).await.is_err() {
        return;
    }
    let mut decoder = Decoder::new(1 << 20, false);
    loop {
        if stream.readable().await.is_err() {
            return;
        }
        let read = SCRATCH.with_borrow_mut(|buf| match stream.try_read(buf) {
            Ok(0) => Err(()),
            Ok(n) => {
                let mut events = Vec::new();
                decoder
                    .feed(&mut buf[..n], &mut events)
                    .map(|()| events)
                    .map_err(|_| ())
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(Vec::new()),
            Err(_) => Err(()),
        });
        let Ok(events) = read else {
            return;
        };
        let mut out = Vec::new();
        for e in events {
            match e {
                Event::Text(t) => encode_text(&mut out, &t, false),
                Event::Ping(d) => encode_pong(&mut out, &d),
                Event::Close(..) => {
                    encode_close(&mut out, CloseCode::NORMAL, "");
                    let _ = stream.write_all(&out).await;
                    return;
                }
                _ => {}
            }
        }
        if !out.is_empty() && stream.write_all(&out).await.is_err() {
            return;
        }
    }
}
