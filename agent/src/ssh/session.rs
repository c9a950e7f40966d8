//! One SSH connection: the authentication decisions (public keys only), and per session channel
//! the prompt or the command it asked for.

use super::limits::MAX_SESSIONS_PER_CONNECTION;
use super::line::{Key, LineEditor, MAX_LEN};
use super::{ConnectionState, Shared};
use crate::access::keys::{self, AuthorizedKey};
use crate::access::request::Request;
use crate::exit::Status;
use crate::unlock::agent::{self, Request as AskRequest};
use crate::unlock::line::LineBuffer;
use crate::unlock::outcome::verdict;
use crate::unlock::{Attempt, Choice, Chosen, Mode, Passphrase};
use russh::keys::ssh_key::{Algorithm, PublicKey};
use russh::server::{Auth, ChannelOpenHandle, Msg, PublicKeyOffer, Session, VerifiedPublicKey};
use russh::{Channel, ChannelId, ChannelMsg, MethodKind, MethodSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

pub(crate) const EXIT_OK: u32 = 0;
pub(crate) const EXIT_WRONG: u32 = Status::BadInput.code() as u32;
pub(crate) const EXIT_FAILED: u32 = Status::Failed.code() as u32;
/// Ctrl-C / Ctrl-D at the prompt, as a shell reports an interrupt.
pub(crate) const EXIT_LEFT: u32 = 130;

pub(crate) struct Client {
    shared: Arc<Shared>,
    peer: SocketAddr,
    state: Arc<ConnectionState>,
    /// The authorized key this connection logged in with.
    key: Option<AuthorizedKey>,
}

impl Client {
    pub(crate) fn new(shared: Arc<Shared>, peer: SocketAddr, state: Arc<ConnectionState>) -> Client {
        Client { shared, peer, state, key: None }
    }

    fn refuse(&self, user: &str, what: &str) -> Auth {
        self.state.authenticating.store(true, Ordering::SeqCst);
        self.state.refused.fetch_add(1, Ordering::SeqCst);
        log::warn!("ssh: {}: refused {what} for user {user:?}", self.peer);
        Auth::Reject { proceed_with_methods: Some(public_key_only()), partial_success: false }
    }

    /// The authorized entry for `key` that this client's address may use.
    fn lookup(&self, key: &PublicKey) -> Option<AuthorizedKey> {
        let ip = self.peer.ip().to_canonical();
        let found = keys::find_for(&self.shared.authorized, key, ip).cloned();
        if found.is_none() && keys::find(&self.shared.authorized, key).is_some() {
            log::warn!("ssh: {}: key {} is not allowed from {ip} (from=)", self.peer, keys::fingerprint(key));
        }
        found
    }
}

fn public_key_only() -> MethodSet {
    MethodSet::from(&[MethodKind::PublicKey][..])
}

impl russh::server::Handler for Client {
    type Error = russh::Error;

    async fn auth_none(&mut self, _user: &str) -> Result<Auth, Self::Error> {
        self.state.authenticating.store(true, Ordering::SeqCst);
        Ok(Auth::Reject { proceed_with_methods: Some(public_key_only()), partial_success: false })
    }

    async fn auth_password(&mut self, user: &str, _password: &str) -> Result<Auth, Self::Error> {
        Ok(self.refuse(user, "a password login (public keys only)"))
    }

    async fn auth_keyboard_interactive<'a>(
        &'a mut self,
        user: &str,
        _submethods: &str,
        _response: Option<russh::server::Response<'a>>,
    ) -> Result<Auth, Self::Error> {
        Ok(self.refuse(user, "a keyboard-interactive login (public keys only)"))
    }

    async fn auth_publickey_offered(
        &mut self,
        user: &str,
        offer: PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        self.state.authenticating.store(true, Ordering::SeqCst);
        if *offer.algorithm == (Algorithm::Rsa { hash: None }) {
            // An RSA key signed with SHA-1 (`ssh-rsa`): OpenSSH >= 7.2 signs with rsa-sha2-*.
            return Ok(self.refuse(user, "an RSA key signed with SHA-1 (ssh-rsa; use rsa-sha2-256/512)"));
        }
        if self.lookup(offer.public_key).is_some() {
            Ok(Auth::Accept)
        } else {
            Ok(self.refuse(user, &format!("unknown key {}", keys::fingerprint(offer.public_key))))
        }
    }

    async fn auth_publickey(&mut self, user: &str, key: VerifiedPublicKey<'_>) -> Result<Auth, Self::Error> {
        match self.lookup(key.public_key) {
            Some(found) => {
                log::info!(
                    "ssh: {}: user {user:?} logged in with {} ({})",
                    self.peer,
                    keys::fingerprint(key.public_key),
                    found.origin
                );
                self.key = Some(found);
                Ok(Auth::Accept)
            }
            None => Ok(self.refuse(user, &format!("unknown key {}", keys::fingerprint(key.public_key)))),
        }
    }

    async fn auth_openssh_certificate(
        &mut self,
        user: &str,
        _certificate: &russh::keys::Certificate,
    ) -> Result<Auth, Self::Error> {
        Ok(self.refuse(user, "a certificate login (plain public keys only)"))
    }

    async fn auth_succeeded(&mut self, _session: &mut Session) -> Result<(), Self::Error> {
        self.state.logged_in.store(true, Ordering::SeqCst);
        self.shared.penalties.lock().unwrap().logged_in(self.peer.ip().to_canonical(), Instant::now());
        Ok(())
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        let Some(key) = self.key.clone() else {
            // Cannot happen after a login, but never serve a channel without one.
            return Ok(());
        };
        let open = self.state.sessions.fetch_add(1, Ordering::SeqCst);
        if open >= MAX_SESSIONS_PER_CONNECTION {
            self.state.sessions.fetch_sub(1, Ordering::SeqCst);
            log::warn!(
                "ssh: {}: refused a session channel: {open} already open on this connection",
                self.peer
            );
            return Ok(()); // dropping `reply` rejects the channel
        }
        reply.accept().await;
        let shared = self.shared.clone();
        let state = self.state.clone();
        let peer = self.peer;
        tokio::spawn(async move {
            let id = channel.id();
            let mut s = SessionChannel { channel, shared, peer, key, pty: false };
            s.run().await;
            state.sessions.fetch_sub(1, Ordering::SeqCst);
            log::debug!("ssh: {peer}: channel {id} done");
        });
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        _col_width: u32,
        _row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)?;
        Ok(())
    }

    async fn shell_request(&mut self, channel: ChannelId, session: &mut Session) -> Result<(), Self::Error> {
        session.channel_success(channel)?;
        Ok(())
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        _data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        // Accepted whatever it is: the session then explains an unknown command on stderr,
        // which says more than OpenSSH's "exec request failed".
        session.channel_success(channel)?;
        Ok(())
    }

    async fn subsystem_request(
        &mut self,
        channel: ChannelId,
        name: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        log::info!("ssh: {}: refused subsystem {name:?}", self.peer);
        session.channel_failure(channel)?;
        Ok(())
    }

    async fn x11_request(
        &mut self,
        channel: ChannelId,
        _single_connection: bool,
        _x11_auth_protocol: &str,
        _x11_auth_cookie: &str,
        _x11_screen_number: u32,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)?;
        Ok(())
    }
}

/// What the client sent on the channel, as far as the prompt cares.
enum Input {
    Data(Zeroizing<Vec<u8>>),
    /// The client will send nothing more (end of its stdin).
    Eof,
    /// The channel or the connection is gone.
    Gone,
}

/// How a read of the passphrase ended.
enum Read {
    Line(Zeroizing<Vec<u8>>),
    /// Longer than the cap: said so, and asked again.
    TooLong,
    Leave,
    Gone,
    /// Another prompt opened everything meanwhile.
    Done,
}

struct SessionChannel {
    channel: Channel<Msg>,
    shared: Arc<Shared>,
    peer: SocketAddr,
    key: AuthorizedKey,
    pty: bool,
}

impl SessionChannel {
    async fn run(&mut self) {
        // Requests come first (pty-req, then shell or exec); data may follow before we ask.
        let request = loop {
            match self.channel.wait().await {
                Some(ChannelMsg::RequestPty { .. }) => self.pty = !self.key.no_pty,
                Some(ChannelMsg::RequestShell { .. }) => break None,
                // `ssh host "$PASS"` makes the passphrase the command: every copy is zeroized.
                Some(ChannelMsg::Exec { command, .. }) => break Some(Zeroizing::new(command)),
                Some(ChannelMsg::Eof | ChannelMsg::Close) | None => return,
                Some(_) => {}
            }
        };
        let command: Option<Zeroizing<String>> = match (&self.key.forced_command, request) {
            (Some(forced), _) => Some(Zeroizing::new(forced.clone())),
            (None, Some(bytes)) => Some(Zeroizing::new(String::from_utf8_lossy(&bytes).into_owned())),
            (None, None) => None,
        };
        let length = command.as_ref().map_or(0, |c| c.len());
        let status = match command.as_deref().map(|c| Request::parse(c).map_err(Zeroizing::new)) {
            None if self.shared.unlocker.mode() == Mode::SystemdAgent => self.interactive_agent(None).await,
            None => self.interactive(None).await,
            Some(Ok(Request::Unlock { target })) if self.pty => match self.shared.unlocker.mode() {
                Mode::SystemdAgent => self.interactive_agent(target.as_deref().map(String::as_str)).await,
                _ => self.interactive(target.as_deref().map(String::as_str)).await,
            },
            Some(Ok(Request::Unlock { target })) => {
                self.scripted(target.as_deref().map(String::as_str)).await
            }
            Some(Ok(Request::Status)) => self.status().await,
            Some(Err(e)) => {
                // `ssh host "$PASS"` makes the passphrase the command line: its text (and the
                // reason, which quotes it) stays out of the log, which reaches the console.
                log::info!(
                    "ssh: {}: refused a command of {length} bytes (its text is not logged)",
                    self.peer
                );
                let message = Zeroizing::new(format!(
                    "lethe: {}; this initrd runs only: {} (there is no shell)",
                    e.as_str(),
                    Request::NAMES.join(", ")
                ));
                self.stderr(&message).await;
                Some(EXIT_FAILED)
            }
        };
        if let Some(status) = status {
            let _ = self.channel.exit_status(status).await;
            let _ = self.channel.eof().await;
            let _ = self.channel.close().await;
        }
    }

    fn newline(&self) -> &'static str {
        if self.pty {
            "\r\n"
        } else {
            "\n"
        }
    }

    /// Writes `text` to the client's terminal, each `\n` as the terminal needs it.
    async fn say(&self, text: &str) {
        let text = text.replace('\n', self.newline());
        let _ = self.channel.data_bytes(text.into_bytes()).await;
    }

    /// One line on the client's stderr.
    async fn stderr(&self, line: &str) {
        let text = format!("{line}{}", self.newline());
        let _ = self.channel.extended_data_bytes(1, text.into_bytes()).await;
    }

    async fn input(&mut self) -> Input {
        loop {
            match self.channel.wait().await {
                Some(ChannelMsg::Data { data }) => return Input::Data(take_data(data)),
                Some(ChannelMsg::Eof) => return Input::Eof,
                Some(ChannelMsg::Close) | None => return Input::Gone,
                Some(_) => {}
            }
        }
    }

    /// Reads one line with the editor, unless everything gets opened elsewhere first.
    /// One passphrase typed at the prompt (the line editor cleared first): `Ok(None)` when there
    /// is none to try (an empty line, or one over the cap, said so): the caller asks again;
    /// `Err` when the session ends.
    async fn read_passphrase(&mut self, editor: &mut LineEditor) -> Result<Option<Zeroizing<Vec<u8>>>, Read> {
        editor.clear();
        match self.read_line(editor).await {
            Read::Line(line) => {
                self.say("\n").await;
                Ok((!line.is_empty()).then_some(line))
            }
            Read::TooLong => {
                self.say(&format!("\nLonger than {MAX_LEN} bytes: not tried. Type it again.\n")).await;
                Ok(None)
            }
            end => Err(end),
        }
    }

    async fn read_line(&mut self, editor: &mut LineEditor) -> Read {
        let unlocker = self.shared.unlocker.clone();
        loop {
            let input = tokio::select! {
                input = self.input() => input,
                () = unlocker.done() => return Read::Done,
            };
            match input {
                Input::Data(bytes) => match editor.feed_all(&bytes) {
                    Key::Pending => {}
                    Key::Enter(line) => return Read::Line(line),
                    Key::TooLong => return Read::TooLong,
                    Key::Leave => return Read::Leave,
                },
                Input::Eof => return Read::Leave,
                Input::Gone => return Read::Gone,
            }
        }
    }

    /// Waits `delay` after a wrong passphrase; what is typed meanwhile is dropped, but Ctrl-C
    /// still leaves at once.
    async fn penalty(&mut self, delay: Duration) -> Option<Read> {
        let unlocker = self.shared.unlocker.clone();
        let sleep = tokio::time::sleep(delay);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                () = &mut sleep => return None,
                () = unlocker.done() => return Some(Read::Done),
                input = self.input() => match input {
                    Input::Data(bytes) if bytes.iter().any(|&b| b == 0x03 || b == 0x04) => return Some(Read::Leave),
                    Input::Data(_) => {}
                    Input::Eof => return Some(Read::Leave),
                    Input::Gone => return Some(Read::Gone),
                },
            }
        }
    }

    /// Waits `delay` for a script whose stdin is read already: its end (EOF) is no reason to
    /// stop waiting, only the client leaving is.
    async fn idle(&mut self, delay: Duration) -> Option<Read> {
        let sleep = tokio::time::sleep(delay);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                () = &mut sleep => return None,
                input = self.input() => if let Input::Gone = input { return Some(Read::Gone) },
            }
        }
    }

    /// Waits until something asks for a passphrase (systemdAgent mode, before systemd-cryptsetup
    /// posted its request). False when everything got opened meanwhile or the client left.
    async fn wait_for_pending(&mut self) -> Result<String, Read> {
        let mut told = false;
        loop {
            let what = self.shared.unlocker.describe_pending();
            if !what.is_empty() {
                return Ok(what);
            }
            if self.shared.unlocker.is_done() {
                return Err(Read::Done);
            }
            if !told {
                self.say("Nothing asks for a passphrase yet; waiting (Ctrl-C leaves)...\n").await;
                told = true;
            }
            if let Some(end) = self.penalty(Duration::from_millis(250)).await {
                return Err(end);
            }
        }
    }

    /// The prompt (direct modes): asks until every pending device (or the one `target` names)
    /// is open, a limit of wrong passphrases, or the user leaves. Returns the exit status, or
    /// None when the client is gone.
    async fn interactive(&mut self, target: Option<&str>) -> Option<u32> {
        let unlocker = self.shared.unlocker.clone();
        let max_tries = unlocker.max_tries();
        let mut wrong = 0;
        let mut editor = LineEditor::new();
        let chosen = match unlocker.choose(target) {
            Choice::Ready(chosen) => chosen,
            Choice::Wait(m) | Choice::Refuse(m) => {
                self.say(&format!("lethe: {m}\n")).await;
                return Some(EXIT_WRONG);
            }
        };
        self.say("lethe: this host waits for its disk passphrase (no shell here).\n").await;
        loop {
            let what = match self.wait_for_pending().await {
                Ok(what) => what,
                Err(end) => return self.ended(end).await,
            };
            let what = match &chosen {
                Chosen::Devices(Some(name)) if unlocker.is_done_for(name) => {
                    return self.ended(Read::Done).await
                }
                Chosen::Devices(Some(name)) => name.clone(),
                _ => what,
            };
            self.say(&prompt(unlocker.mode(), &what)).await;
            let line = match self.read_passphrase(&mut editor).await {
                Ok(Some(line)) => line,
                Ok(None) => continue,
                Err(end) => return self.ended(end).await,
            };
            let (attempt, delay) = match self.attempt(line, chosen.clone(), true).await {
                Ok(tried) => tried,
                Err(end) => return self.ended(end).await,
            };
            match attempt {
                Attempt::Unlocked { opened } => {
                    let opened = opened.join(", ");
                    if matches!(chosen, Chosen::Devices(Some(_))) {
                        self.say(&format!("Unlocked {opened}.\n")).await;
                        return Some(EXIT_OK);
                    }
                    log::info!("ssh: {}: unlocked {opened}", self.peer);
                    if unlocker.is_done() {
                        self.say(&format!("Unlocked {opened}. The boot continues.\n")).await;
                        return Some(EXIT_OK);
                    }
                    self.say(&format!("Unlocked {opened}.\n")).await;
                }
                Attempt::Wrong => {
                    wrong += 1;
                    log::warn!("ssh: {}: wrong passphrase ({wrong} of {max_tries})", self.peer);
                    // Counted for the address and key even when closing: the next session waits.
                    if wrong >= max_tries {
                        self.say(&format!("Wrong passphrase. {max_tries} wrong passphrases: closing.\n"))
                            .await;
                        return Some(EXIT_WRONG);
                    }
                    let left = max_tries - wrong;
                    self.say(&format!(
                        "Wrong passphrase. Try again in {} s ({left} {} left).\n",
                        delay.as_secs(),
                        if left == 1 { "try" } else { "tries" }
                    ))
                    .await;
                    if let Some(end) = self.penalty(delay).await {
                        return self.ended(end).await;
                    }
                }
                Attempt::Failed(message) => {
                    log::warn!("ssh: {}: unlock failed: {message}", self.peer);
                    self.say(&format!("Unlock failed: {message}\n")).await;
                    return Some(EXIT_FAILED);
                }
                Attempt::NothingPending => return self.ended(Read::Done).await,
            }
        }
    }

    /// Waits until a request (the ones `target` names, when given) asks for a passphrase.
    async fn wait_for_requests(&mut self, target: Option<&str>) -> Result<Vec<AskRequest>, Read> {
        let mut told = false;
        loop {
            let mut requests = self.shared.unlocker.requests();
            requests.retain(|r| target.is_none_or(|t| agent::names(r).contains(&t)));
            if !requests.is_empty() {
                return Ok(requests);
            }
            if !told {
                let what = target.map_or("a passphrase".to_string(), |t| format!("the passphrase of {t}"));
                self.say(&format!("Nothing asks for {what} yet; waiting (Ctrl-C leaves)...\n")).await;
                told = true;
            }
            if let Some(end) = self.penalty(Duration::from_millis(250)).await {
                return Err(end);
            }
        }
    }

    /// The prompt in systemdAgent mode: one prompt per pending request (those `target` names,
    /// when given), oldest first, each showing the request's own message; the passphrase goes
    /// to that request alone. An empty line skips to the next request. Ends once nothing else
    /// waits after an answer, or when the user leaves.
    async fn interactive_agent(&mut self, target: Option<&str>) -> Option<u32> {
        let unlocker = self.shared.unlocker.clone();
        let mut editor = LineEditor::new();
        let mut listed: Vec<PathBuf> = Vec::new();
        let mut last: Option<PathBuf> = None;
        self.say("lethe: this host waits for its disk passphrase (no shell here).\n").await;
        loop {
            let requests = match self.wait_for_requests(target).await {
                Ok(requests) => requests,
                Err(end) => return self.ended(end).await,
            };
            let files: Vec<PathBuf> = requests.iter().map(|r| r.file.clone()).collect();
            if requests.len() > 1 && files != listed {
                self.say(&agent::list(&requests)).await;
            }
            listed = files;
            let at = agent::next(&requests, last.as_deref());
            let request = requests[at].clone();
            last = Some(request.file.clone());
            let counter =
                if requests.len() > 1 { format!("[{}/{}] ", at + 1, requests.len()) } else { String::new() };
            self.say(&format!("{counter}{}", prompt(Mode::SystemdAgent, &request.message))).await;
            let line = match self.read_passphrase(&mut editor).await {
                Ok(Some(line)) => line,
                Ok(None) => continue, // the next request's prompt
                Err(end) => return self.ended(end).await,
            };
            let what = request.message.trim_end_matches([':', ' ']).to_string();
            let attempt = match self.attempt(line, Chosen::Request(request), true).await {
                Ok((attempt, _)) => attempt,
                Err(end) => return self.ended(end).await,
            };
            match attempt {
                Attempt::Unlocked { .. } => {
                    log::info!("ssh: {}: passphrase sent to {what:?}", self.peer);
                    // The asker alone knows whether it was right; if not, it asks again.
                    self.say(&format!(
                        "Passphrase sent to systemd ({what}). If it was wrong, systemd asks again.\n"
                    ))
                    .await;
                    let mut left = unlocker.requests();
                    left.retain(|r| target.is_none_or(|t| agent::names(r).contains(&t)));
                    if left.is_empty() {
                        return Some(EXIT_OK);
                    }
                }
                Attempt::NothingPending => {
                    self.say(&format!("({what}: answered elsewhere meanwhile; not sent.)\n")).await;
                }
                Attempt::Failed(message) => {
                    log::warn!("ssh: {}: unlock failed: {message}", self.peer);
                    self.say(&format!("Unlock failed: {message}\n")).await;
                    return Some(EXIT_FAILED);
                }
                Attempt::Wrong => {} // systemdAgent mode cannot tell
            }
        }
    }

    /// One passphrase try, when it is this address's and this key's turn
    /// ([`super::limits::Penalties::claim_try`]): the key derivation never runs ahead of the
    /// delay earned by earlier wrong tries, however many channels or connections ask at once.
    /// A try that opens nothing counts as wrong even when another device failed: the
    /// derivation ran all the same. Returns the attempt and the wait it earned before the next.
    async fn attempt(
        &mut self,
        line: Zeroizing<Vec<u8>>,
        chosen: Chosen,
        interactive: bool,
    ) -> Result<(Attempt, Duration), Read> {
        let ip = self.peer.ip().to_canonical();
        let key = keys::fingerprint(&self.key.key);
        let mut told = false;
        loop {
            let claimed = self.shared.penalties.lock().unwrap().claim_try(ip, &key, Instant::now());
            let Err(wait) = claimed else { break };
            if !told {
                let secs = wait.as_secs() + 1;
                log::info!("ssh: {}: a passphrase try waits up to {secs} s for its turn", self.peer);
            }
            if interactive && !told {
                let secs = wait.as_secs() + 1;
                self.say(&format!(
                    "Waiting up to {secs} s for this try's turn (earlier tries from your address or key).\n"
                ))
                .await;
                told = true;
            }
            let ended = if interactive { self.penalty(wait).await } else { self.pause(wait).await };
            if let Some(end) = ended {
                return Err(end);
            }
        }
        log::info!("ssh: {}: trying a passphrase (key {key})", self.peer);
        let attempt = self.shared.unlocker.try_chosen(chosen, passphrase(line)).await;
        let mut penalties = self.shared.penalties.lock().unwrap();
        let delay = match attempt {
            Attempt::Wrong | Attempt::Failed(_) => penalties.wrong_passphrase(ip, &key, Instant::now()),
            Attempt::Unlocked { .. } | Attempt::NothingPending => {
                penalties.try_settled(ip, &key, Instant::now());
                Duration::ZERO
            }
        };
        Ok((attempt, delay))
    }

    /// Waits `delay` without reading input (a script's stdin is consumed already), unless
    /// everything gets opened meanwhile.
    async fn pause(&self, delay: Duration) -> Option<Read> {
        tokio::select! {
            () = tokio::time::sleep(delay) => None,
            () = self.shared.unlocker.done() => Some(Read::Done),
        }
    }

    async fn ended(&mut self, how: Read) -> Option<u32> {
        match how {
            Read::Done => {
                self.say("\nEverything is unlocked (from elsewhere). The boot continues.\n").await;
                Some(EXIT_OK)
            }
            Read::Leave => {
                self.say("\nLeft without unlocking.\n").await;
                Some(EXIT_LEFT)
            }
            Read::Gone | Read::Line(_) | Read::TooLong => None,
        }
    }

    /// `echo -n PASS | ssh host unlock [TARGET]`: the first line of stdin (or all of it, up to
    /// EOF), one attempt on what [`crate::unlock::Unlocker::choose`] picks for `target` (waiting
    /// for it to be asked for), one line on stderr, the exit status.
    async fn scripted(&mut self, target: Option<&str>) -> Option<u32> {
        let unlocker = self.shared.unlocker.clone();
        let mut buffer = LineBuffer::new();
        loop {
            match self.input().await {
                Input::Data(bytes) => {
                    let end = bytes.iter().position(|&b| b == b'\n');
                    bytes[..end.unwrap_or(bytes.len())].iter().for_each(|&b| buffer.push(b));
                    if end.is_some() {
                        break;
                    }
                }
                Input::Eof => break,
                Input::Gone => return None,
            }
        }
        let line = match buffer.finish() {
            Ok(line) => line,
            Err(too_long) => {
                self.stderr(&format!("lethe: {too_long}")).await;
                return Some(EXIT_FAILED);
            }
        };
        if line.is_empty() {
            self.stderr(
                "lethe: no passphrase on stdin (use: echo -n PASSPHRASE | ssh root@HOST unlock [TARGET])",
            )
            .await;
            return Some(EXIT_FAILED);
        }
        let mut told = false;
        let (attempt, delay) = loop {
            let chosen = match unlocker.choose(target) {
                Choice::Ready(chosen) => chosen,
                Choice::Refuse(message) => {
                    log::info!("ssh: {}: scripted unlock refused: no single device or request fits (said to the client)", self.peer);
                    self.stderr(&format!("lethe: {message}")).await;
                    return Some(EXIT_WRONG);
                }
                Choice::Wait(_) if unlocker.is_done() => {
                    self.stderr("lethe: nothing to unlock: every device is open").await;
                    return Some(EXIT_OK);
                }
                Choice::Wait(message) => {
                    if !told {
                        self.stderr(&format!("lethe: {message}; waiting (Ctrl-C leaves)")).await;
                        told = true;
                    }
                    if let Some(end) = self.idle(Duration::from_millis(250)).await {
                        return self.ended(end).await;
                    }
                    continue;
                }
            };
            let agent = matches!(chosen, Chosen::Request(_));
            // A copy (zeroized too): the request may go away before the send, and then the
            // passphrase is kept for the next choice.
            match self.attempt(line.clone(), chosen, false).await {
                // Answered elsewhere meanwhile (or a new request replaced it): choose again.
                Ok((Attempt::NothingPending, _)) if agent => {}
                Ok(tried) => break tried,
                Err(end) => return self.ended(end).await,
            }
        };
        if attempt == Attempt::Wrong {
            // The answer waits, so a script cannot guess faster by reconnecting.
            tokio::time::sleep(delay).await;
        }
        // The rule `lethe unlock` follows too: one status and one wording for both.
        let (status, message) = match verdict(&unlocker, attempt) {
            Ok(said) => (EXIT_OK, format!("lethe: {said}")),
            Err(e) => (u32::from(e.status.code()), format!("lethe: {}", e.message)),
        };
        log::info!("ssh: {}: scripted unlock: {message}", self.peer);
        self.stderr(&message).await;
        Some(status)
    }

    async fn status(&mut self) -> Option<u32> {
        let unlocker = self.shared.unlocker.clone();
        let pending = match unlocker.mode() {
            Mode::SystemdAgent => unlocker.requests().iter().map(agent::describe).collect(),
            _ => unlocker.pending(),
        };
        let text = if pending.is_empty() {
            if unlocker.mode() == Mode::SystemdAgent {
                "nothing asks for a passphrase now\n".to_string()
            } else {
                "nothing pending: every device is open\n".to_string()
            }
        } else {
            pending.iter().map(|p| format!("pending: {p}\n")).collect()
        };
        self.say(&text).await;
        Some(EXIT_OK)
    }
}

/// The prompt line: device names in direct mode; systemd's own question in agent mode.
fn prompt(mode: Mode, what: &str) -> String {
    match mode {
        Mode::SystemdAgent if what.ends_with(':') => format!("{what} "),
        Mode::SystemdAgent => format!("{what}: "),
        _ => format!("Passphrase for {what}: "),
    }
}

/// The bytes of a data message, in a zeroizing buffer; russh's own buffer is overwritten too
/// when this is its only handle (the usual case). When russh still shares it, that copy is
/// beyond lethe's reach (see README, "What cannot be zeroized").
fn take_data(data: bytes::Bytes) -> Zeroizing<Vec<u8>> {
    use zeroize::Zeroize;
    let copy = Zeroizing::new(data.to_vec());
    if let Ok(mut original) = data.try_into_mut() {
        original.as_mut().zeroize();
    }
    copy
}

fn passphrase(mut line: Zeroizing<Vec<u8>>) -> Passphrase {
    Passphrase::new(std::mem::take(&mut *line))
}
