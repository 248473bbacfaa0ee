//! The Spring Boot resource server example (`examples/spring-boot`) as a child process:
//! `java -jar examples/spring-boot/target/sso-spring-example.jar` on a free loopback port,
//! killed in `Drop`. The jar is built by `make test` (deploy/scripts/install-deps.sh) or by
//! `mvn -B -q -f examples/spring-boot/pom.xml package`; a missing jar fails loudly.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where `<finalName>` in examples/spring-boot/pom.xml puts the executable jar.
pub const JAR: &str = "examples/spring-boot/target/sso-spring-example.jar";
const BUILD: &str = "mvn -B -q -f examples/spring-boot/pom.xml package";
/// JVM start to first answer; ~5-15 s on 2 busy cores, so leave plenty of room.
const START_DEADLINE: Duration = Duration::from_secs(60);

/// A running Spring app; `SPRING_LOG=1` in the environment shows its log on stderr.
pub struct SpringApp {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl SpringApp {
    /// `issuer`: the exact `iss` (e.g. `http://127.0.0.1:PORT/realms/demo`); `jwks_uri`: the
    /// issuer's JWKS, or `""` to take `jwks_uri` from the issuer's discovery document;
    /// `accepted_clients`: the gateway client ids a token's `azp`/`client_id` must name.
    /// Returns once `GET /api/me` answers (401 without a token).
    pub fn start(issuer: &str, jwks_uri: &str, accepted_clients: &[&str]) -> SpringApp {
        let jar = crate::root().join(JAR);
        assert!(
            jar.is_file(),
            "{} is missing: build it with `{BUILD}` (needs a JDK 17+ and Maven; \
             `make test` / deploy/scripts/install-deps.sh builds it)",
            jar.display()
        );
        warn_if_stale(&jar);
        assert!(
            Command::new("java")
                .arg("-version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success()),
            "`java` is not installed: apt-get install openjdk-17-jdk-headless \
             (run `make test`, which installs it)"
        );
        let mut last = String::new();
        // A port from free_port() can be taken by someone else before the JVM binds it
        // (the app then exits at once): try a few ports.
        for attempt in 1..=3 {
            match Self::try_start(&jar, issuer, jwks_uri, accepted_clients) {
                Ok(app) => return app,
                Err(why) => {
                    eprintln!("spring app start {attempt}/3 failed: {why}");
                    last = why;
                }
            }
        }
        panic!("{JAR} did not start in 3 tries: {last}");
    }

    fn try_start(
        jar: &std::path::Path,
        issuer: &str,
        jwks_uri: &str,
        accepted_clients: &[&str],
    ) -> Result<SpringApp, String> {
        let port = crate::procs::free_port();
        let log =
            std::env::temp_dir().join(format!("sso-test-spring-{}-{port}.log", std::process::id()));
        let show = std::env::var_os("SPRING_LOG").is_some();
        let out = if show {
            Stdio::inherit()
        } else {
            Stdio::from(std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?)
        };
        let err = if show {
            Stdio::inherit()
        } else {
            Stdio::from(std::fs::OpenOptions::new().append(true).open(&log).unwrap())
        };
        let mut cmd = Command::new("java");
        // C1 only and the serial GC: a short-lived test app starts faster with them.
        cmd.args([
            "-XX:TieredStopAtLevel=1",
            "-XX:+UseSerialGC",
            "-Xshare:auto",
            "-jar",
        ])
        .arg(jar)
        .env("SSO_ISSUER", issuer)
        .env("SSO_JWKS_URI", jwks_uri)
        .env("SSO_ACCEPTED_CLIENTS", accepted_clients.join(","))
        .env("SERVER_PORT", port.to_string())
        .env("SERVER_ADDRESS", "127.0.0.1")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
        crate::procs::die_with_parent(&mut cmd);
        let started = Instant::now();
        let child = cmd.spawn().map_err(|e| format!("spawn java: {e}"))?;
        let mut app = SpringApp { child, port, log };
        while started.elapsed() < START_DEADLINE {
            if let Some(status) = probe(port) {
                if status == 401 {
                    eprintln!(
                        "spring app on 127.0.0.1:{port}: first 401 after {:.1} s",
                        started.elapsed().as_secs_f64()
                    );
                    return Ok(app);
                }
                return Err(format!(
                    "GET /api/me without a token answered {status}, not 401{}",
                    app.log_tail()
                ));
            }
            if let Ok(Some(status)) = app.child.try_wait() {
                return Err(format!("java exited ({status}){}", app.log_tail()));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!(
            "no answer on 127.0.0.1:{port} within {} s{}",
            START_DEADLINE.as_secs(),
            app.log_tail()
        ))
    }

    /// `http://127.0.0.1:<port>`
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(30).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        format!("; its log:\n{}", tail.join("\n"))
    }
}

impl Drop for SpringApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// The status of `GET /api/me` (no token), or `None` while nothing answers.
fn probe(port: u16) -> Option<u16> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET /api/me HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head).ok()?;
    // "HTTP/1.1 401"
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

/// A jar older than a file under src/ or pom.xml: say so (the tests would run old code).
fn warn_if_stale(jar: &std::path::Path) {
    fn newest(p: &std::path::Path) -> Option<std::time::SystemTime> {
        let meta = std::fs::metadata(p).ok()?;
        if meta.is_dir() {
            std::fs::read_dir(p)
                .ok()?
                .filter_map(|e| newest(&e.ok()?.path()))
                .max()
        } else {
            meta.modified().ok()
        }
    }
    let dir = crate::root().join("examples/spring-boot");
    let jar_time = std::fs::metadata(jar).and_then(|m| m.modified()).ok();
    let src_time = [newest(&dir.join("src")), newest(&dir.join("pom.xml"))]
        .into_iter()
        .flatten()
        .max();
    if let (Some(j), Some(s)) = (jar_time, src_time) {
        if s > j {
            eprintln!(
                "WARNING: {JAR} is older than examples/spring-boot/src or pom.xml: rebuild it with `{BUILD}`"
            );
        }
    }
}
