//! Benchmark peers, each a client of the same test OP as the gateways, with a real
//! session from the OP's login form:
//! - Apache httpd + mod_auth_openidc (Debian packages), shm cache, a static file behind
//!   `AuthType openid-connect`;
//! - oauth2-proxy v7.15.6 (`go install`), its auth endpoint (202 for a valid session) with
//!   the cookie session store and with the Redis session store.
//!
//! `deploy/scripts/bench.sh` installs them and fails loudly when it cannot.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use sso_integration_tests::procs::{free_port, OpClient};
use sso_integration_tests::Browser;

use crate::side_by_side::{wait_port, System};

pub const APACHE_HOST: &str = "apache.localhost";
pub const O2P_COOKIE_HOST: &str = "proxy.localhost";
pub const O2P_REDIS_HOST: &str = "proxyr.localhost";

/// Ports for the peers, chosen before the OP starts (their redirect URIs are registered).
pub struct PeerPorts {
    pub apache: u16,
    pub o2p_cookie: u16,
    pub o2p_redis: u16,
}

impl PeerPorts {
    pub fn new() -> Self {
        Self {
            apache: free_port(),
            o2p_cookie: free_port(),
            o2p_redis: free_port(),
        }
    }

    /// The OP clients: redirect URI `http://<host>:<port>/sso/callback` (the harness's
    /// convention; oauth2-proxy runs with `--proxy-prefix=/sso` to match it).
    pub fn clients(&self) -> Vec<OpClient> {
        [
            ("peer-apache", APACHE_HOST, self.apache),
            ("peer-o2p-cookie", O2P_COOKIE_HOST, self.o2p_cookie),
            ("peer-o2p-redis", O2P_REDIS_HOST, self.o2p_redis),
        ]
        .into_iter()
        .map(|(id, host, port)| OpClient {
            client_id: id.into(),
            client_secret: format!("{id}-secret"),
            gateway_port: port,
            host: host.into(),
            auth_method: "client_secret_basic",
        })
        .collect()
    }
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("sso-bench-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A child process stopped with SIGTERM (then waited for) on drop.
pub struct Proc {
    child: Child,
    dir: PathBuf,
    #[allow(dead_code)]
    pub log: PathBuf,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn have(bin: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {bin}"))
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

// ------------------------------------------------------------------ Apache

const APACHE_MODULES: &str = "/usr/lib/apache2/modules";

pub fn apache_installed() -> bool {
    have("apache2") || std::path::Path::new("/usr/sbin/apache2").exists()
}

pub fn start_apache(port: u16, issuer: &str) -> Proc {
    let dir = temp_dir("apache");
    let d = dir.display();
    std::fs::create_dir_all(dir.join("htdocs")).unwrap();
    std::fs::write(dir.join("htdocs/static.txt"), "static upstream\n").unwrap();
    let m = APACHE_MODULES;
    // As root, Apache's children run as www-data: the cache files must be theirs.
    let conf = format!(
        r#"ServerRoot "{d}"
ServerName {APACHE_HOST}
Listen 127.0.0.1:{port}
PidFile "{d}/httpd.pid"
ErrorLog "{d}/error.log"
LogLevel warn
LoadModule mpm_event_module {m}/mod_mpm_event.so
LoadModule authn_core_module {m}/mod_authn_core.so
LoadModule authz_core_module {m}/mod_authz_core.so
LoadModule authz_user_module {m}/mod_authz_user.so
LoadModule auth_openidc_module {m}/mod_auth_openidc.so
User www-data
Group www-data
Mutex file:{d}
DefaultRuntimeDir "{d}"
# event MPM sized for 2 cores and 64 connections
StartServers 2
ServerLimit 2
ThreadsPerChild 64
MaxRequestWorkers 128
KeepAlive On
MaxKeepAliveRequests 0
DocumentRoot "{d}/htdocs"
OIDCProviderMetadataURL {issuer}/.well-known/openid-configuration
OIDCClientID peer-apache
OIDCClientSecret peer-apache-secret
OIDCRedirectURI http://{APACHE_HOST}:{port}/sso/callback
OIDCCryptoPassphrase bench-passphrase-0123456789abcdef
OIDCScope "openid email profile"
OIDCPKCEMethod S256
OIDCCacheType shm
OIDCSessionType server-cache
<Location />
    AuthType openid-connect
    Require valid-user
</Location>
"#
    );
    let conf_path = dir.join("httpd.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let _ = Command::new("chown")
        .args(["-R", "www-data:www-data"])
        .arg(&dir)
        .status();
    let child = Command::new("/usr/sbin/apache2")
        .arg("-f")
        .arg(&conf_path)
        .arg("-DFOREGROUND")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start apache2 (apt-get install apache2 libapache2-mod-auth-openidc)");
    let log = dir.join("error.log");
    let p = Proc {
        child,
        dir: dir.clone(),
        log: log.clone(),
    };
    wait_port(port, &log);
    p
}

// ------------------------------------------------------------------ oauth2-proxy

pub fn o2p_bin() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("OAUTH2_PROXY") {
        return Some(PathBuf::from(p));
    }
    let home = std::env::var_os("HOME").map(PathBuf::from)?;
    let gopath = std::env::var_os("GOPATH")
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join("go"));
    let p = gopath.join("bin/oauth2-proxy");
    if p.exists() {
        return Some(p);
    }
    have("oauth2-proxy").then(|| PathBuf::from("oauth2-proxy"))
}

pub fn start_o2p(
    bin: &std::path::Path,
    host: &str,
    port: u16,
    issuer: &str,
    client: &str,
    redis_url: Option<&str>,
) -> Proc {
    let dir = temp_dir(&format!("o2p-{port}"));
    let log = dir.join("o2p.log");
    let mut cmd = Command::new(bin);
    cmd.args([
        "--provider=oidc",
        &format!("--oidc-issuer-url={issuer}"),
        &format!("--client-id={client}"),
        &format!("--client-secret={client}-secret"),
        &format!("--redirect-url=http://{host}:{port}/sso/callback"),
        "--proxy-prefix=/sso",
        &format!("--http-address=127.0.0.1:{port}"),
        "--cookie-secret=0123456789abcdef0123456789abcdef",
        "--cookie-secure=false",
        "--email-domain=*",
        "--upstream=static://200",
        "--skip-provider-button=true",
        "--code-challenge-method=S256",
        "--insecure-oidc-allow-unverified-email=true",
        "--scope=openid email profile",
        "--request-logging=false",
        "--auth-logging=false",
        "--standard-logging=false",
    ]);
    match redis_url {
        Some(u) => {
            cmd.arg("--session-store-type=redis");
            cmd.arg(format!("--redis-connection-url={u}"));
        }
        None => {
            cmd.arg("--session-store-type=cookie");
        }
    }
    let out = std::fs::File::create(&log).unwrap();
    let child = cmd
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .expect("start oauth2-proxy");
    let p = Proc {
        child,
        dir,
        log: log.clone(),
    };
    wait_port(port, &log);
    p
}

// ------------------------------------------------------------------ sessions

/// Log in through `start_url` at a peer (OP login form), return its cookie header.
pub async fn peer_login(host: &str, port: u16, start_path: &str, user: &str, pw: &str) -> String {
    let b = Browser::new();
    let start = format!("http://{host}:{port}{start_path}");
    let on_peer_page = |u: &url::Url| u.host_str() == Some(host) && !u.path().starts_with("/sso/");
    let hops = b.follow(&start, |_| false).await;
    let last = hops.last().unwrap();
    assert!(
        last.body.contains("id=\"login\""),
        "{host}: expected the OP's login form, got {} {}",
        last.status,
        last.body
    );
    let hops = b.submit_login(last, user, pw, on_peer_page).await;
    let last = hops.last().unwrap();
    assert!(
        last.status.is_redirection(),
        "{host}: login did not end in a redirect back: {} {}",
        last.status,
        last.body
    );
    let cookies = b.jar.cookies_for(&format!("http://{host}:{port}/"));
    assert!(!cookies.is_empty(), "{host}: no session cookie after login");
    let mut v: Vec<String> = cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
    v.sort();
    v.join("; ")
}

pub fn apache_system(port: u16, cookie: String) -> System {
    System {
        name: "Apache + mod_auth_openidc (shm)".into(),
        url: format!("http://127.0.0.1:{port}/static.txt"),
        headers: vec![
            ("Host".into(), format!("{APACHE_HOST}:{port}")),
            ("Cookie".into(), cookie),
        ],
        expect: 200,
    }
}

pub fn o2p_system(name: &str, host: &str, port: u16, cookie: String) -> System {
    System {
        name: name.into(),
        url: format!("http://127.0.0.1:{port}/sso/auth"),
        headers: vec![
            ("Host".into(), format!("{host}:{port}")),
            ("Cookie".into(), cookie),
        ],
        expect: 202,
    }
}
