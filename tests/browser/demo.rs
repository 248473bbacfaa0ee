//! The demo app (`crates/demo-app`) in-process on a pre-bound loopback listener.

use std::thread::JoinHandle;

use sso_demo_app::DemoConfig;
use sso_integration_tests::world::{bind, World};

pub struct DemoApp {
    pub port: u16,
    system: Option<actix_rt::System>,
    thread: Option<JoinHandle<()>>,
}

impl DemoApp {
    /// Wired to both gateways of `w`: `*.a.localhost` → A, `*.b.localhost` → B.
    pub fn start(w: &World) -> Self {
        Self::start_with(DemoConfig {
            issuer: w.op.issuer.clone(),
            gateways: vec![
                ("a.localhost".into(), w.a.base()),
                ("b.localhost".into(), w.b.base()),
            ],
            ..Default::default()
        })
    }

    pub fn start_with(cfg: DemoConfig) -> Self {
        let (listener, _) = bind();
        Self::start_on(listener, cfg)
    }

    /// On a listener bound beforehand (its port goes into the gateways' CORS config).
    pub fn start_on(listener: std::net::TcpListener, cfg: DemoConfig) -> Self {
        let port = listener.local_addr().unwrap().port();
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let sys = actix_rt::System::new();
            let started = sys.block_on(async move {
                let server = sso_demo_app::serve(listener, cfg).map_err(|e| e.to_string())?;
                actix_rt::spawn(server);
                Ok::<_, String>(actix_rt::System::current())
            });
            let ok = started.is_ok();
            let _ = tx.send(started);
            if ok {
                let _ = sys.run();
            }
        });
        let system = rx
            .recv()
            .unwrap()
            .unwrap_or_else(|e| panic!("demo app start: {e}"));
        Self {
            port,
            system: Some(system),
            thread: Some(thread),
        }
    }

    /// `http://{host}:{port}/`, e.g. host `app1.a.localhost`.
    pub fn url(&self, host: &str) -> String {
        format!("http://{host}:{}/", self.port)
    }

    pub fn stop(&mut self) {
        if let Some(s) = self.system.take() {
            s.stop();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for DemoApp {
    fn drop(&mut self) {
        self.stop();
    }
}
