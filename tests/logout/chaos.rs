//! Randomised fault run (issue 8): logins and logouts over two root domains with two
//! replicas each, while faults are injected on a fixed schedule (a replica's subscription
//! blackholed, Redis flushed, Redis restarted empty, delayed and cut connections, the
//! schedule repeated every 100 rounds): 240 logins at both domains, about 220 logouts
//! (none in the last 10 rounds). At the
//! end every logged-out token is refused on every replica of its domain and every session
//! that was not logged out still works. The seed is printed; set `SSO_CHAOS_SEED` to replay.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use sso_integration_tests::world::{bind, login, World};
use sso_integration_tests::{Browser, GatewayHandle, Relay};

use crate::{auth_with_cookies, eventually};

const FAST: &str = "[revocation]\nheartbeat_interval_secs = 1\nheartbeat_timeout_secs = 3\nresync_interval_secs = 2\n";
const ROUNDS: usize = 240;

/// xorshift64*: small, deterministic, good enough to pick users and actions.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

struct Sess {
    user: &'static str,
    browser: Browser,
    a: HashMap<String, String>,
    b: HashMap<String, String>,
    /// Not logged out at A / at B.
    alive_a: bool,
    alive_b: bool,
    /// Unix second of the login (start and end).
    login_secs: (i64, i64),
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

async fn ready(g: &GatewayHandle) -> bool {
    Browser::new().get(&g.url("/readyz")).await.status == 200
}

#[tokio::test]
async fn random_logouts_under_faults_are_never_lost() {
    let seed = std::env::var("SSO_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("chaos seed: SSO_CHAOS_SEED={seed}");
    let mut rng = Rng(seed);
    let t0 = Instant::now();
    let mut w = World::start_split(Default::default(), |o| {
        let f = World::fanout_toml(o, true);
        o.extra.push_str(&f);
        o.extra.push_str(FAST);
        // hundreds of logins from one address in seconds: what the per-address limits are for
        o.extra.push_str("[rate_limit]\nenabled = false\n");
    });
    let relay_a = Relay::start(w.redis.port);
    let relay_b = Relay::start(w.redis_b.as_ref().unwrap().port);
    let mut oa = w.a_opts.clone();
    oa.redis_url = Some(relay_a.url());
    let a2 = GatewayHandle::start(bind().0, &oa);
    let mut ob = w.b_opts.clone();
    ob.redis_url = Some(relay_b.url());
    let b2 = GatewayHandle::start(bind().0, &ob);
    assert!(eventually(10, || async { ready(&a2).await && ready(&b2).await }).await);

    let users: [(&str, &str); 2] = [("alice", "alice-password"), ("bob", "bob-password")];
    let mut subs: HashMap<&str, String> = HashMap::new();
    let mut sessions: Vec<Sess> = Vec::new();
    let mut logouts = 0;
    let mut faults = Vec::new();
    let mut log: Vec<String> = Vec::new();
    // (user, unix second) of every whole-user logout
    let mut whole_user: Vec<(&str, i64)> = Vec::new();
    for round in 0..ROUNDS {
        // faults on a fixed schedule, repeated every 100 rounds
        let fault = match round % 100 {
            10 => Some("blackhole A2's subscriber"),
            20 => Some("FLUSHALL Redis A"),
            30 => Some("heal relay A"),
            40 => Some("restart Redis B empty"),
            50 => Some("delay relay B 150 ms"),
            60 => Some("cut every connection of relay A"),
            70 => Some("no delay on relay B"),
            80 => Some("blackhole B2's subscriber"),
            90 => Some("restart Redis A empty"),
            _ => None,
        };
        if let Some(f) = fault {
            faults.push(format!("round {round}: {f}"));
            match round % 100 {
                10 => {
                    relay_a.blackhole_subscribers();
                }
                20 => assert_eq!(w.redis.cli(&["FLUSHALL"]), "OK"),
                30 => relay_a.heal(),
                40 => {
                    w.redis_b.as_mut().unwrap().restart_empty();
                    assert!(eventually(15, || async { ready(&w.b).await }).await);
                }
                50 => relay_b.set_delay(150),
                60 => relay_a.cut_all(),
                70 => relay_b.set_delay(0),
                80 => {
                    relay_b.blackhole_subscribers();
                }
                90 => {
                    w.redis.restart_empty();
                    assert!(eventually(15, || async { ready(&w.a).await }).await);
                }
                _ => {}
            }
        }
        // a login at both domains
        let (user, password) = users[rng.below(2) as usize];
        let b = Browser::new();
        let login_start = unix_now();
        login(&b, &w.a, user, password).await;
        login(&b, &w.b, user, password).await;
        let login_end = unix_now();
        if !subs.contains_key(user) {
            let s = b.get(&w.a.url("/sso/session")).await.json();
            subs.insert(user, s["sub"].as_str().unwrap().to_string());
        }
        sessions.push(Sess {
            user,
            a: sso_integration_tests::world::access_cookies_only(&b, &w.a),
            b: sso_integration_tests::world::access_cookies_only(&b, &w.b),
            browser: b,
            alive_a: true,
            alive_b: true,
            login_secs: (login_start, login_end),
        });
        // one logout per round: mostly one browser at one domain (its redirect to the OP
        // never followed: the other domain stays signed in), sometimes a whole user
        // (the last 10 rounds only sign in, and whole-user logouts stop after round 50, so
        // plenty of sessions must survive every fault until the end)
        if round >= ROUNDS - 10 {
            continue;
        }
        let kind = rng.below(20);
        if kind < 17 || round >= 50 {
            let live: Vec<usize> = (0..sessions.len())
                .filter(|i| sessions[*i].alive_a || sessions[*i].alive_b)
                .collect();
            if live.is_empty() {
                continue;
            }
            let i = live[rng.below(live.len() as u64) as usize];
            let at_a = rng.below(2) == 0;
            let g = if at_a { &w.a } else { &w.b };
            // a fresh client with that browser's cookies: a pooled connection idle for many
            // rounds can be closed by the server just as it is reused (a client-side race)
            let cookies: Vec<String> = sessions[i]
                .browser
                .jar
                .cookies_for(&g.url("/"))
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let r = Browser::new()
                .get_with(
                    &format!(
                        "{}?rd={}",
                        g.url("/sso/logout"),
                        sso_integration_tests::world::urlencode(&g.app_url())
                    ),
                    &[("Cookie", &cookies.join("; "))],
                )
                .await;
            assert!(
                r.status.is_redirection(),
                "round {round}: logout answered {} {}",
                r.status,
                r.body
            );
            log.push(format!(
                "round {round}: RP logout of session {i} ({}) at {}",
                sessions[i].user,
                if at_a { "A" } else { "B" }
            ));
            if at_a {
                sessions[i].alive_a = false;
            } else {
                sessions[i].alive_b = false;
            }
        } else {
            let (victim, _) = users[rng.below(2) as usize];
            match kind {
                17 => {
                    w.op.admin_logout(victim).await;
                }
                18 if subs.contains_key(victim) => {
                    w.a.gw.revoke_subject(&subs[victim]).await.unwrap();
                }
                19 if subs.contains_key(victim) => {
                    w.b.gw.revoke_subject(&subs[victim]).await.unwrap();
                }
                _ => continue,
            }
            log.push(format!(
                "round {round}: whole-user logout {kind} of {victim}"
            ));
            whole_user.push((victim, unix_now()));
            for s in sessions.iter_mut().filter(|s| s.user == victim) {
                s.alive_a = false;
                s.alive_b = false;
            }
        }
        logouts += 1;
    }
    // heal everything, wait for every replica to be ready, then check every token
    relay_a.heal();
    relay_b.heal();
    relay_b.set_delay(0);
    assert!(
        eventually(30, || async {
            ready(&w.a).await && ready(&a2).await && ready(&w.b).await && ready(&b2).await
        })
        .await,
        "every replica ready again"
    );
    // poll with a deadline: replicas converge asynchronously
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut problems;
    loop {
        problems = Vec::new();
        for (i, s) in sessions.iter().enumerate() {
            // A whole-user revocation reaches the other domain later, and applies to tokens
            // issued up to its second: a login in that same second (after it, by a few ms)
            // cannot be told apart from one just before it and may be ended (fail safe). Such
            // a session is not required to survive.
            let ambiguous = whole_user
                .iter()
                .any(|(u, t)| *u == s.user && s.login_secs.0 - 1 <= *t && *t <= s.login_secs.1 + 1);
            for (g, cookies, name, alive) in [
                (&w.a, &s.a, "A1", s.alive_a),
                (&a2, &s.a, "A2", s.alive_a),
                (&w.b, &s.b, "B1", s.alive_b),
                (&b2, &s.b, "B2", s.alive_b),
            ] {
                let want = if alive { 200 } else { 401 };
                let got = auth_with_cookies(g, cookies).await.status.as_u16();
                if got != want && !(alive && ambiguous && got == 401) {
                    problems.push(format!(
                        "session {i} ({}, alive here {alive}) on {name}: {got}",
                        s.user
                    ));
                }
            }
        }
        if problems.is_empty() || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let settled = problems.is_empty();
    let dead = sessions.iter().filter(|s| !s.alive_a).count()
        + sessions.iter().filter(|s| !s.alive_b).count();
    assert!(
        2 * sessions.len() - dead >= 20,
        "too few surviving sessions to check"
    );
    eprintln!(
        "chaos: {ROUNDS} logins at both domains, {logouts} logouts, {dead} of {} domain sessions logged out, {} checks per round of the final pass, faults: {faults:?}, {} ms",
        2 * sessions.len(),
        4 * sessions.len(),
        t0.elapsed().as_millis()
    );
    assert!(
        settled,
        "seed {seed}: {} problems: {problems:#?}\nlog: {log:#?}",
        problems.len()
    );
}
