//! A fault-injection TCP relay (for Redis connections): forwards bytes both ways between
//! each accepted connection and `127.0.0.1:<upstream>`, and on request delays them,
//! blackholes them (stops forwarding without closing: no FIN, no RST, the sockets stay
//! open and silent), or cuts them (closes both sides). It tracks every connection and
//! recognises pub/sub subscribers (a client that sent `SUBSCRIBE`), so a test can silence
//! only the subscriber connection. Runs on its own thread and runtime, so a test that
//! blocks its own runtime does not stall the relay.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

#[derive(Debug)]
struct Conn {
    subscriber: AtomicBool,
    blackholed: AtomicBool,
    cut: watch::Sender<bool>,
    open: AtomicBool,
}

#[derive(Debug, Default)]
struct State {
    conns: Mutex<Vec<Arc<Conn>>>,
    /// Sticky: every subscriber connection, present and future, is blackholed.
    blackhole_subscribers: AtomicBool,
    /// Sticky: every connection, present and future, is blackholed.
    blackhole_all: AtomicBool,
    delay_ms: AtomicU64,
}

pub struct Relay {
    pub port: u16,
    state: Arc<State>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

async fn pump(
    mut src: tokio::net::tcp::OwnedReadHalf,
    mut dst: tokio::net::tcp::OwnedWriteHalf,
    conn: Arc<Conn>,
    state: Arc<State>,
    from_client: bool,
) {
    let mut cut = conn.cut.subscribe();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = tokio::select! {
            r = src.read(&mut buf) => match r {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            },
            _ = cut.changed() => break,
        };
        if from_client && contains(&buf[..n], b"SUBSCRIBE") {
            conn.subscriber.store(true, Ordering::SeqCst);
            if state.blackhole_subscribers.load(Ordering::SeqCst) {
                conn.blackholed.store(true, Ordering::SeqCst);
            }
        }
        if conn.blackholed.load(Ordering::SeqCst) || state.blackhole_all.load(Ordering::SeqCst) {
            continue; // swallowed: nothing forwarded, nothing closed
        }
        let delay = state.delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        if dst.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = dst.shutdown().await;
    conn.open.store(false, Ordering::SeqCst);
    let _ = conn.cut.send(true); // the other direction ends too
}

impl Relay {
    /// Relay `127.0.0.1:<free port>` to `127.0.0.1:upstream`.
    pub fn start(upstream: u16) -> Self {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        std_listener.set_nonblocking(true).unwrap();
        let port = std_listener.local_addr().unwrap().port();
        let state = Arc::new(State::default());
        let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
        let st = state.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = TcpListener::from_std(std_listener).unwrap();
                loop {
                    let accepted = tokio::select! {
                        a = listener.accept() => a,
                        _ = &mut stop_rx => break,
                    };
                    let Ok((client, _)) = accepted else { continue };
                    let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await else {
                        continue; // upstream down: the client sees its connection close
                    };
                    let (cut, _) = watch::channel(false);
                    let conn = Arc::new(Conn {
                        subscriber: AtomicBool::new(false),
                        blackholed: AtomicBool::new(false),
                        cut,
                        open: AtomicBool::new(true),
                    });
                    st.conns.lock().unwrap().push(conn.clone());
                    let (cr, cw) = client.into_split();
                    let (sr, sw) = server.into_split();
                    tokio::spawn(pump(cr, sw, conn.clone(), st.clone(), true));
                    tokio::spawn(pump(sr, cw, conn, st.clone(), false));
                }
            });
            // dropping the runtime drops every pump and closes every socket
        });
        Self {
            port,
            state,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Stop forwarding on every subscriber connection, now and for new ones, without
    /// closing anything. Returns how many open subscriber connections went silent.
    pub fn blackhole_subscribers(&self) -> usize {
        self.state
            .blackhole_subscribers
            .store(true, Ordering::SeqCst);
        let conns = self.state.conns.lock().unwrap();
        let mut n = 0;
        for c in conns.iter().filter(|c| c.open.load(Ordering::SeqCst)) {
            if c.subscriber.load(Ordering::SeqCst) {
                c.blackholed.store(true, Ordering::SeqCst);
                n += 1;
            }
        }
        n
    }

    /// Stop forwarding on every connection, now and for new ones, without closing anything.
    pub fn blackhole_all(&self) {
        self.state.blackhole_all.store(true, Ordering::SeqCst);
    }

    /// Delay every forwarded chunk by `ms` (0: none).
    pub fn set_delay(&self, ms: u64) {
        self.state.delay_ms.store(ms, Ordering::SeqCst);
    }

    /// Close every open connection (both sides see FIN).
    pub fn cut_all(&self) {
        for c in self.state.conns.lock().unwrap().iter() {
            let _ = c.cut.send(true);
        }
    }

    /// Forward again. Connections that were blackholed are cut (their byte streams lost
    /// data and cannot be resumed).
    pub fn heal(&self) {
        self.state
            .blackhole_subscribers
            .store(false, Ordering::SeqCst);
        self.state.blackhole_all.store(false, Ordering::SeqCst);
        for c in self.state.conns.lock().unwrap().iter() {
            if c.blackholed.swap(false, Ordering::SeqCst) {
                let _ = c.cut.send(true);
            }
        }
    }

    /// Open connections, and how many of them are subscribers.
    pub fn open_connections(&self) -> (usize, usize) {
        let conns = self.state.conns.lock().unwrap();
        let open: Vec<_> = conns
            .iter()
            .filter(|c| c.open.load(Ordering::SeqCst))
            .collect();
        let subs = open
            .iter()
            .filter(|c| c.subscriber.load(Ordering::SeqCst))
            .count();
        (open.len(), subs)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
