//! The SSH server of the initrd: public keys only, and a session is the passphrase prompt (or
//! the `unlock` / `status` commands), never a shell.
//!
//! The accept loop is ours rather than russh's `run_on_socket`, because it decides per
//! connection: locked-out addresses are turned away before the key exchange, connections that
//! have not logged in are admitted by [`limits::admit`] (a per-address cap, a per-network cap
//! and a large table whose full state cuts a silent connection from the busiest network), the
//! login grace time is enforced and counts as a failed login, failed logins are counted per
//! source address when a connection ends, and closing the listener (after the unlock) is
//! dropping it.

pub(crate) mod limits;
pub(crate) mod line;
mod session;

use crate::access::keys;
use crate::config::ssh::Ssh;
use crate::error::{Context, Result};
use crate::unlock::Unlocker;
use keys::AuthorizedKey;
use limits::Penalties;
use russh::server::Config as RusshConfig;
use russh::{MethodKind, MethodSet};
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// After the unlock, how long sessions get to print their last words before being cut.
const DRAIN: Duration = Duration::from_secs(3);

/// What every connection shares.
pub(crate) struct Shared {
    pub authorized: Vec<AuthorizedKey>,
    pub unlocker: Arc<Unlocker>,
    pub penalties: Mutex<Penalties>,
    pub login_grace: Duration,
}

pub(crate) struct Server {
    shared: Arc<Shared>,
    russh: Arc<RusshConfig>,
    port: u16,
}

impl Server {
    /// Loads the host keys and authorized keys named by `config`. Any unusable host key is an
    /// error naming it and why: serving with fewer keys than configured would change the
    /// host's identity under its users' known_hosts.
    pub(crate) fn new(config: &Ssh, unlocker: Arc<Unlocker>) -> Result<Server> {
        let mut host_keys = Vec::new();
        for path in &config.host_keys {
            let key = keys::load_host_key(path).context("ssh.hostKeys")?;
            log::info!("ssh: host key {} ({})", path.display(), keys::fingerprint(key.public_key()));
            host_keys.push(key);
        }
        let authorized = keys::load_authorized(&config.authorized_keys, &config.authorized_keys_files)?;
        log::info!("ssh: {} authorized key(s)", authorized.len());
        let russh = RusshConfig {
            server_id: russh::SshId::Standard(format!("SSH-2.0-lethe_{}", env!("CARGO_PKG_VERSION")).into()),
            methods: MethodSet::from(&[MethodKind::PublicKey][..]),
            // Refusals take this long, so their timing does not tell which keys exist; the
            // client's first "none" probe is answered at once.
            auth_rejection_time: Duration::from_millis(500),
            auth_rejection_time_initial: Some(Duration::ZERO),
            keys: host_keys,
            // russh counts the client's opening "none" probe as an attempt; sshd does not.
            max_auth_attempts: config.max_auth_tries as usize + 1,
            inactivity_timeout: Some(Duration::from_secs(900)),
            keepalive_interval: Some(Duration::from_secs(30)),
            keepalive_max: 4,
            preferred: algorithms(),
            // (`nodelay` is not read by run_stream: connection() sets TCP_NODELAY itself.)
            ..Default::default()
        };
        Ok(Server {
            shared: Arc::new(Shared {
                authorized,
                unlocker,
                penalties: Mutex::new(Penalties::default()),
                login_grace: Duration::from_secs(config.login_grace_seconds.into()),
            }),
            russh: Arc::new(russh),
            port: config.port,
        })
    }

    /// Binds the configured port on every address: IPv6 with IPv4 mapped when the kernel has
    /// IPv6, else IPv4 only (an initrd often lacks the ipv6 module).
    pub(crate) async fn bind(&self) -> Result<TcpListener> {
        match TcpListener::bind(("::", self.port)).await {
            Ok(l) => Ok(l),
            Err(_) => TcpListener::bind(("0.0.0.0", self.port))
                .await
                .with_context(|| format!("ssh: cannot listen on port {}", self.port)),
        }
    }

    /// Serves until `stop` resolves, then closes the listener at once, lets the sessions say
    /// their last words for a moment, and disconnects the rest.
    pub(crate) async fn run(self, listener: TcpListener, stop: impl Future<Output = ()>) -> Result<()> {
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let mut connections = JoinSet::new();
        // The open connections, oldest first, for the admission decision (limits::admit).
        let mut live: Vec<(IpAddr, Arc<ConnectionState>)> = Vec::new();
        tokio::pin!(stop);
        loop {
            tokio::select! {
                () = &mut stop => break,
                accepted = listener.accept() => {
                    let (socket, peer) = match accepted {
                        Ok(a) => a,
                        Err(e) => {
                            // EMFILE and the like: say so, back off a little, keep serving.
                            log::warn!("ssh: accept failed: {e}");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                    };
                    while connections.try_join_next().is_some() {}
                    live.retain(|(_, state)| !state.ended.load(Ordering::SeqCst));
                    // IPv4 clients of the dual-stack socket read as 192.0.2.1, not [::ffff:192.0.2.1].
                    let peer = SocketAddr::new(peer.ip().to_canonical(), peer.port());
                    self.admit(&mut live, socket, peer, &mut connections, &shutdown_rx);
                }
            }
        }
        drop(listener);
        log::info!("ssh: listener closed");
        let drain = async { while connections.join_next().await.is_some() {} };
        if tokio::time::timeout(DRAIN, drain).await.is_err() {
            let _ = shutdown_tx.send(true);
            let _ = tokio::time::timeout(Duration::from_secs(1), async {
                while connections.join_next().await.is_some() {}
            })
            .await;
        }
        Ok(())
    }

    /// Decides on one accepted connection: turned away (locked out, or over a cap: the reason
    /// is logged and sent), or started, possibly cutting another one to make room.
    fn admit(
        &self,
        live: &mut Vec<(IpAddr, Arc<ConnectionState>)>,
        socket: TcpStream,
        peer: SocketAddr,
        connections: &mut JoinSet<()>,
        shutdown: &watch::Receiver<bool>,
    ) {
        let ip = peer.ip();
        let locked = self.shared.penalties.lock().unwrap().locked(ip, Instant::now());
        if let Some(left) = locked {
            let secs = left.as_secs() + 1;
            log::warn!("ssh: {peer}: refused: locked out for {secs} s more after failed logins");
            tokio::spawn(turn_away(
                socket,
                format!("too many failed logins from {ip}; try again in {secs} s"),
            ));
            return;
        }
        let slots: Vec<limits::Slot> = live.iter().map(|(ip, state)| state.slot(*ip)).collect();
        match limits::admit(&slots, ip) {
            limits::Admit::Yes => {}
            limits::Admit::Evict(i) => {
                let (victim, state) = live.remove(i);
                log::warn!(
                    "ssh: {victim}: cutting a connection that has not logged in, to make room for {ip}"
                );
                state.evict.notify_one();
            }
            limits::Admit::Refuse(why) => {
                log::warn!("ssh: {peer}: refused: {why}");
                // One more connection that will not log in: as a grace timeout, it counts.
                count_failed_login(&self.shared, ip);
                tokio::spawn(turn_away(socket, format!("{why}; try again later")));
                return;
            }
        }
        let state = Arc::new(ConnectionState::default());
        live.push((ip, state.clone()));
        let (shared, russh) = (self.shared.clone(), self.russh.clone());
        connections.spawn(connection(shared, russh, socket, peer, state, shutdown.clone()));
    }
}

/// What the server offers. Key exchange: only the hybrid post-quantum ML-KEM768 + X25519 and
/// curve25519 (both spellings), which cost the server well under a millisecond each; russh's
/// default finite-field groups (up to 8192 bits, and group exchange) cost hundreds of
/// milliseconds per handshake on the one runtime thread, so a few clients forcing them (DHEat)
/// starve everyone's login. Every client we test negotiates one of these: OpenSSH >= 6.5,
/// dropbear >= 2020.79, paramiko, asyncssh (agent/tests/ssh.rs). Host keys: the algorithms
/// `keys::load_host_key` accepts, and RSA with SHA-2 for user keys. MACs: encrypt-then-MAC only (the AEAD ciphers need none).
fn algorithms() -> russh::Preferred {
    use russh::keys::ssh_key::{Algorithm, EcdsaCurve, HashAlg};
    use russh::{cipher, kex, mac};
    use std::borrow::Cow;
    const KEX: &[kex::Name] = &[
        kex::MLKEM768X25519_SHA256,
        kex::CURVE25519,
        kex::CURVE25519_PRE_RFC_8731,
        kex::EXTENSION_SUPPORT_AS_SERVER,
        kex::EXTENSION_OPENSSH_STRICT_KEX_AS_SERVER,
    ];
    const KEYS: &[Algorithm] = &[
        Algorithm::Ed25519,
        Algorithm::Ecdsa { curve: EcdsaCurve::NistP256 },
        Algorithm::Ecdsa { curve: EcdsaCurve::NistP384 },
        Algorithm::Ecdsa { curve: EcdsaCurve::NistP521 },
        // For user keys only (no RSA host key loads): rsa-sha2-512/256, never SHA-1 ssh-rsa.
        Algorithm::Rsa { hash: Some(HashAlg::Sha512) },
        Algorithm::Rsa { hash: Some(HashAlg::Sha256) },
    ];
    const CIPHERS: &[cipher::Name] =
        &[cipher::CHACHA20_POLY1305, cipher::AES_256_GCM, cipher::AES_256_CTR, cipher::AES_128_CTR];
    const MACS: &[mac::Name] = &[mac::HMAC_SHA512_ETM, mac::HMAC_SHA256_ETM];
    russh::Preferred {
        kex: Cow::Borrowed(KEX),
        key: Cow::Borrowed(KEYS),
        host_key_certificates: Cow::Borrowed(&[]),
        cipher: Cow::Borrowed(CIPHERS),
        mac: Cow::Borrowed(MACS),
        compression: Cow::Borrowed(&[russh::compression::NONE]),
    }
}

/// One line before the SSH version string (RFC 4253 4.2 allows it; `ssh -v` shows it), then
/// close: the client sees why only in verbose mode, but the log says it too.
async fn turn_away(mut socket: TcpStream, why: String) {
    let _ = socket.write_all(format!("lethe: {why}\r\n").as_bytes()).await;
    let _ = socket.shutdown().await;
}

/// Per-connection facts the handler sets and the accept loop reads.
#[derive(Default)]
pub(crate) struct ConnectionState {
    /// The client asked to authenticate: its key exchange is done.
    pub authenticating: AtomicBool,
    pub logged_in: AtomicBool,
    pub refused: AtomicU32,
    /// Session channels open now.
    pub sessions: AtomicU32,
    /// The connection task has returned: its slot is free.
    pub ended: AtomicBool,
    /// The accept loop needs this (not logged-in) connection's slot.
    pub evict: tokio::sync::Notify,
}

impl ConnectionState {
    fn slot(&self, ip: IpAddr) -> limits::Slot {
        limits::Slot {
            ip,
            authenticating: self.authenticating.load(Ordering::SeqCst),
            logged_in: self.logged_in.load(Ordering::SeqCst),
        }
    }
}

/// Marks the connection ended however its task returns.
struct Ended(Arc<ConnectionState>);

impl Drop for Ended {
    fn drop(&mut self) {
        self.0.ended.store(true, Ordering::SeqCst);
    }
}

/// How a connection ended, for the log and the failed-login count.
enum End {
    /// The client or the session closed it (a logout, an error, too many refused keys).
    Closed,
    /// Its slot went to a newer connection before it logged in.
    Evicted,
    /// No login within the grace time.
    GraceOver,
    /// Everything is unlocked: the server stops.
    Shutdown,
}

async fn connection(
    shared: Arc<Shared>,
    russh: Arc<RusshConfig>,
    socket: TcpStream,
    peer: SocketAddr,
    state: Arc<ConnectionState>,
    shutdown: watch::Receiver<bool>,
) {
    let _ended = Ended(state.clone());
    // The grace time covers everything up to the login, the version exchange included: a
    // client that connects and says nothing must not hold a connection slot for long.
    let deadline = tokio::time::Instant::now() + shared.login_grace;
    // A second handle on the socket: russh's session owns the stream, and a peer that ignores
    // our disconnect (or is stuck mid key exchange) is cut by shutting the socket down.
    let hangup = match socket.as_fd().try_clone_to_owned() {
        Ok(fd) => fd,
        Err(e) => {
            log::warn!("ssh: {peer}: refused: cannot duplicate the socket: {e}");
            return;
        }
    };
    // russh's `nodelay` only reaches sockets its own accept loop accepted. With Nagle on, each
    // small packet of the key exchange and login that follows an unacknowledged one waits for
    // the client's delayed ACK (40 ms on Linux): connect -> prompt took 60 or 104 ms at random.
    if let Err(e) = socket.set_nodelay(true) {
        log::debug!("ssh: {peer}: cannot set TCP_NODELAY: {e}");
    }
    let handler = session::Client::new(shared.clone(), peer, state.clone());
    let setup = tokio::time::timeout_at(deadline, russh::server::run_stream(russh, socket, handler));
    let end = tokio::select! {
        setup = setup => match setup {
            Ok(Ok(session)) => serve(session, peer, &hangup, &state, &shared, deadline, shutdown).await,
            Ok(Err(e)) => {
                log::warn!("ssh: {peer}: connection setup failed: {e}");
                End::Closed
            }
            Err(_) => {
                log_grace_over(peer, &shared);
                End::GraceOver
            }
        },
        () = state.evict.notified() => End::Evicted,
    };
    let logged_in = state.logged_in.load(Ordering::SeqCst);
    // A connection that held a slot without logging in (silent until the grace time or until
    // it had to give it up) or that offered a refused key is a failed login: silent floods
    // lock their addresses out.
    let failed = match end {
        End::GraceOver | End::Evicted => true,
        End::Closed | End::Shutdown => state.refused.load(Ordering::SeqCst) > 0,
    };
    if failed && !logged_in {
        count_failed_login(&shared, peer.ip());
    }
}

/// Runs an established session until it ends, it is cut, its grace time runs out before the
/// login, or the server stops.
async fn serve(
    session: russh::server::RunningSession<session::Client>,
    peer: SocketAddr,
    hangup: &OwnedFd,
    state: &ConnectionState,
    shared: &Shared,
    deadline: tokio::time::Instant,
    mut shutdown: watch::Receiver<bool>,
) -> End {
    let handle = session.handle();
    tokio::pin!(session);
    let logged_in = || state.logged_in.load(Ordering::SeqCst);
    let grace = tokio::time::sleep_until(deadline);
    tokio::pin!(grace);
    let mut grace_over = false;
    let (end, reason, message, wait) = loop {
        tokio::select! {
            result = &mut session => {
                if let Err(e) = result {
                    // Before the login this is the key exchange or the authentication failing.
                    if logged_in() {
                        log::debug!("ssh: {peer}: session ended: {e}");
                    } else {
                        log::warn!("ssh: {peer}: key exchange or login failed: {e}");
                    }
                }
                return End::Closed;
            }
            () = state.evict.notified(), if !logged_in() => break (
                End::Evicted,
                russh::Disconnect::TooManyConnections,
                "too many connections from your network",
                Duration::ZERO,
            ),
            () = &mut grace, if !grace_over => {
                grace_over = true;
                if !logged_in() {
                    log_grace_over(peer, shared);
                    break (End::GraceOver, russh::Disconnect::ByApplication, "login grace time exceeded", Duration::from_secs(1));
                }
            }
            _ = shutdown.changed() => break (
                End::Shutdown,
                russh::Disconnect::ByApplication,
                "unlocked; the boot continues",
                Duration::from_millis(500),
            ),
        }
    };
    let _ = handle.disconnect(reason, message.into(), String::new()).await;
    if tokio::time::timeout(wait, &mut session).await.is_err() {
        let _ = rustix::net::shutdown(hangup, rustix::net::Shutdown::Both);
        let _ = (&mut session).await;
    }
    end
}

fn log_grace_over(peer: SocketAddr, shared: &Shared) {
    log::warn!("ssh: {peer}: no login within {} s; disconnecting", shared.login_grace.as_secs());
}

fn count_failed_login(shared: &Shared, ip: IpAddr) {
    if let Some(lockout) = shared.penalties.lock().unwrap().failed_login(ip, Instant::now()) {
        log::warn!("ssh: {ip}: locked out for {} s after repeated failed logins", lockout.as_secs());
    }
}
