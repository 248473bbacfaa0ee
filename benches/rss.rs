//! Memory of a gateway *process* (the release `sso-gateway` binary, not the in-process
//! gateways of the rest of the bench): VmRSS idle after a login, and the peak (VmHWM)
//! after a forward-auth wrk run. `deploy/scripts/bench.sh` builds the binary and passes
//! it in `SSO_GATEWAY_BIN`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use sso_integration_tests::procs::{free_port, OpClient};
use sso_integration_tests::world::{urlencode, GatewayOptions};
use sso_integration_tests::Browser;

use crate::side_by_side::{wait_port, System};

pub struct ProcGateway {
    child: Child,
    dir: PathBuf,
}

impl Drop for ProcGateway {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn bin() -> Option<PathBuf> {
    std::env::var_os("SSO_GATEWAY_BIN")
        .map(PathBuf::from)
        .filter(|p| p.exists())
}

pub struct ProcPort(pub u16);

impl ProcPort {
    pub fn new() -> Self {
        Self(free_port())
    }
    pub fn client(&self) -> OpClient {
        OpClient {
            client_id: "gw-proc".into(),
            client_secret: "gw-proc-secret".into(),
            gateway_port: self.0,
            host: "auth.a.localhost".into(),
            auth_method: "client_secret_basic",
        }
    }
}

pub fn start(bin: &std::path::Path, port: u16, issuer: &str, redis_url: &str) -> ProcGateway {
    let dir = std::env::temp_dir().join(format!("sso-bench-gw-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut o = GatewayOptions::new("a", issuer, Some(redis_url.to_string()));
    o.client_id = "gw-proc".into();
    o.client_secret = "gw-proc-secret".into();
    let conf = dir.join("gateway.toml");
    std::fs::write(&conf, o.toml(port)).unwrap();
    let log = dir.join("gateway.log");
    let f = std::fs::File::create(&log).unwrap();
    let child = Command::new(bin)
        .arg("--config")
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(f.try_clone().unwrap())
        .stderr(f)
        .spawn()
        .expect("start sso-gateway");
    let g = ProcGateway { child, dir };
    wait_port(port, &log);
    g
}

/// Log bob in through the process gateway; the `Cookie` header a browser sends to its apps.
pub async fn login(port: u16) -> String {
    let b = Browser::new();
    let rd = "http://app1.a.localhost:9/";
    let start = format!(
        "http://auth.a.localhost:{port}/sso/login?rd={}",
        urlencode(rd)
    );
    let stop = |u: &url::Url| u.host_str() == Some("app1.a.localhost");
    let hops = b.follow(&start, stop).await;
    let last = hops.last().unwrap();
    assert!(
        last.body.contains("id=\"login\""),
        "no login form: {}",
        last.body
    );
    let hops = b.submit_login(last, "bob", "bob-password", stop).await;
    assert!(hops.last().unwrap().status.is_redirection());
    let mut v: Vec<String> = b
        .jar
        .cookies_for(rd)
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    v.sort();
    v.join("; ")
}

pub fn system(port: u16, cookie: String) -> System {
    System {
        name: "sso-gateway process".into(),
        url: format!("http://127.0.0.1:{port}/sso/auth"),
        headers: vec![
            ("Cookie".into(), cookie),
            ("X-Original-URL".into(), "http://app1.a.localhost:9/".into()),
        ],
        expect: 200,
    }
}

/// `VmRSS` and `VmHWM` (peak) of a process, KiB.
pub fn rss_hwm(pid: u32) -> (u64, u64) {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        s.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

impl ProcGateway {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}
