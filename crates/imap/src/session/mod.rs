//! One IMAP connection: the read–dispatch–write loop over the framing layer, the session
//! state machine (not authenticated → authenticated → selected → logout), and the
//! untagged updates (EXISTS, EXPUNGE, FETCH FLAGS) that keep the client's view of the
//! selected mailbox in step with the store. One file per group of verbs, `handle_<verb>`.

mod append;
mod auth;
mod fetch;
mod idle;
mod mailbox;
mod messages;
mod search;
mod select;

use imap_codec::imap_types::command::CommandBody;
use mailward_mailstore::{Account, FolderId, StoreError};
use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

use crate::framing::{CommandReader, Discard, Event, decode_command};
use crate::respond::{self, Flow, Kind, Reply};
use crate::server::{ImapServer, Stream};
use crate::wire;

/// Output is written to the socket once it grows past this, even mid-command.
const FLUSH_AT: usize = 256 * 1024;
/// The same before authentication: a client that pipelines commands and never reads makes
/// the server hold at most this much of its answers.
const LOGIN_FLUSH_AT: usize = 4 * 1024;
/// The output buffer is released when it grew past this.
const KEEP_OUT: usize = 16 * 1024;

/// The connection is gone (or must be dropped); nothing more can be sent.
#[derive(Debug)]
pub(crate) struct Gone;

impl From<std::io::Error> for Gone {
    fn from(_: std::io::Error) -> Self {
        Gone
    }
}

type Result<T, E = Gone> = std::result::Result<T, E>;

/// An authenticated user and, when one is selected, the mailbox.
#[derive(Debug)]
pub(crate) struct Authed {
    pub account: Account,
    pub watch: watch::Receiver<u64>,
    /// Fires when identity revokes the user's access: the session ends with `BYE`.
    pub revocation: mailward_mailauth::RevocationWatch,
    pub selected: Option<Selected>,
}

/// The session's view of the selected mailbox.
#[derive(Debug)]
pub(crate) struct Selected {
    pub folder: FolderId,
    pub read_only: bool,
    /// UIDs in sequence-number order (ascending).
    pub uids: Vec<u32>,
    /// UIDs this session reports as `\Recent` (arrived while selected), ascending.
    pub recent: Vec<u32>,
    /// Highest modseq whose changes the client has been told about.
    pub last_modseq: u64,
    pub uid_next: u32,
    /// Flag changes this session made itself (UID, modseq), not to be echoed again.
    pub own: Vec<(u32, u64)>,
    /// Messages removed by someone else that could not be reported yet (an EXPUNGE may
    /// not be sent during FETCH, STORE or SEARCH); they stay in `uids` until then.
    pub gone: Vec<u32>,
}

impl Selected {
    pub fn is_recent(&self, uid: u32) -> bool {
        self.recent.binary_search(&uid).is_ok()
    }
}

#[derive(Debug)]
pub(crate) enum State {
    NotAuthenticated,
    Authenticated(Box<Authed>),
    Logout,
}

/// One connection.
#[derive(Debug)]
pub(crate) struct Session {
    pub server: Arc<ImapServer>,
    pub stream: Stream,
    pub reader: CommandReader,
    pub out: Vec<u8>,
    pub remote: SocketAddr,
    pub state: State,
    pub auth_failures: u32,
    /// `name/version` from the client's ID command, for the sign-in log.
    pub client_id: Option<String>,
    /// CONDSTORE enabled (ENABLE CONDSTORE, SELECT (CONDSTORE), or a MODSEQ use).
    pub condstore: bool,
    /// Until authentication: when the connection is closed if it has not authenticated.
    pub login_deadline: Option<tokio::time::Instant>,
}

/// Resolves when the session's user is revoked; never without a watch.
pub(crate) async fn revoked(watch: Option<&mut mailward_mailauth::RevocationWatch>) {
    match watch {
        Some(w) => w.revoked().await,
        None => std::future::pending().await,
    }
}

/// What a wrong-state command hears.
const NOT_AUTHENTICATED: &str = "Authenticate first";
const NOT_SELECTED: &str = "No mailbox selected";
const ALREADY_AUTHENTICATED: &str = "Already authenticated";

impl Session {
    pub(crate) fn new(server: Arc<ImapServer>, stream: Stream, remote: SocketAddr) -> Session {
        // Until authentication only small lines and literals are taken.
        let mut reader = CommandReader::new(server.limits.login_frame_limits());
        reader.set_abort_oversized(true);
        let login_deadline = Some(tokio::time::Instant::now() + server.limits.login_timeout);
        Session {
            server,
            stream,
            reader,
            out: Vec::new(),
            remote,
            state: State::NotAuthenticated,
            auth_failures: 0,
            client_id: None,
            condstore: false,
            login_deadline,
        }
    }

    /// Lifts the limits of the not-authenticated state (called on authentication).
    pub(crate) fn lift_login_limits(&mut self) {
        self.reader.set_limits(self.server.limits.frame_limits());
        self.reader.set_abort_oversized(false);
        self.login_deadline = None;
    }

    pub(crate) fn tls(&self) -> bool {
        self.stream.is_tls()
    }

    pub(crate) async fn run(mut self) {
        let caps = self.capabilities().await;
        let greeting = format!("CAPABILITY {caps}");
        respond::status(
            &mut self.out,
            None,
            Kind::Ok,
            Some(&greeting),
            "mailward IMAP4rev1 ready",
        );
        if self.flush().await.is_err() {
            return;
        }
        let _ = self.serve().await;
        let _ = self.stream.shutdown().await;
    }

    async fn serve(&mut self) -> Result<()> {
        loop {
            match self.reader.next_event() {
                Some(Event::Command) => {
                    let msg = self.reader.take_message();
                    let flow = self.command(&msg).await?;
                    drop(msg);
                    match flow {
                        Flow::Continue => {
                            let at = if self.login_deadline.is_some() {
                                LOGIN_FLUSH_AT
                            } else {
                                FLUSH_AT
                            };
                            if self.out.len() > at {
                                self.flush().await?;
                            }
                        }
                        Flow::Close => {
                            self.flush().await?;
                            return Ok(());
                        }
                        Flow::StartTls => {
                            self.flush().await?;
                            // Anything the client pipelined after STARTTLS was sent in
                            // the clear and must never run (RFC 3207 §6-style command
                            // injection): drop it.
                            self.reader.discard_buffered();
                            let acceptor = self.server.acceptor();
                            let timeout = self.server.limits.tls_handshake_timeout;
                            if let Err(e) = self.stream.upgrade(&acceptor, timeout).await {
                                tracing::debug!(remote = %self.remote, error = %e, "STARTTLS handshake failed");
                                return Err(Gone);
                            }
                        }
                    }
                }
                Some(Event::Continue) => {
                    self.out.extend_from_slice(b"+ Ready for literal data\r\n");
                    self.flush().await?;
                }
                Some(Event::LiteralRefused {
                    tag,
                    length,
                    append,
                }) => {
                    if self.login_deadline.is_some() {
                        // Before authentication: whatever the command, refused before any
                        // of the literal is sent.
                        let max = if append {
                            0
                        } else {
                            self.reader.limits().max_literal
                        };
                        let text = format!(
                            "Literal of {length} octets exceeds the limit of {max} before authentication"
                        );
                        respond::status(&mut self.out, tag.as_deref(), Kind::Bad, None, &text);
                        continue;
                    }
                    let max = if append {
                        self.server.limits.max_message_size
                    } else {
                        self.server.limits.max_literal
                    };
                    let text = format!("Literal of {length} octets exceeds the limit of {max}");
                    if append {
                        respond::status(
                            &mut self.out,
                            tag.as_deref(),
                            Kind::No,
                            Some("TOOBIG"),
                            &text,
                        );
                    } else {
                        respond::status(&mut self.out, tag.as_deref(), Kind::Bad, None, &text);
                    }
                }
                Some(Event::Overflow { tag, length }) => {
                    tracing::info!(remote = %self.remote, tag = tag.as_deref().unwrap_or(""), length, "IMAP literal over the limit before authentication; closing");
                    respond::bye(&mut self.out, "Literal too large before authentication");
                    self.flush().await?;
                    return Ok(());
                }
                Some(Event::Discarded { tag, why }) => {
                    let text = match why {
                        Discard::LineTooLong => "Command line too long",
                        Discard::LiteralTooBig => "Literal too large",
                        Discard::MessageTooBig => "Command too large",
                    };
                    respond::status(&mut self.out, tag.as_deref(), Kind::Bad, None, text);
                }
                None => {
                    self.flush().await?;
                    if !self.fill().await? {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Writes out everything buffered.
    pub(crate) async fn flush(&mut self) -> Result<()> {
        if let Some(deadline) = self.login_deadline {
            // Before authentication a client that does not read cannot hold the session
            // past the login deadline either.
            return match tokio::time::timeout_at(deadline, self.write_out()).await {
                Ok(r) => r,
                Err(_) => Err(Gone),
            };
        }
        self.write_out().await
    }

    async fn write_out(&mut self) -> Result<()> {
        if !self.out.is_empty() {
            self.stream.write_all(&self.out).await?;
            self.out.clear();
        }
        self.stream.flush().await?;
        if self.out.capacity() > KEEP_OUT {
            self.out = Vec::new();
        }
        Ok(())
    }

    /// Reads more client bytes. `Ok(false)` at end of stream; autologout after the idle
    /// timeout.
    pub(crate) async fn fill(&mut self) -> Result<bool> {
        if !self.reader.in_command() {
            self.reader.shrink();
        }
        let deadline = match self.login_deadline {
            Some(at) => at,
            None => tokio::time::Instant::now() + self.server.limits.idle_timeout,
        };
        let revocation = match &mut self.state {
            State::Authenticated(a) => Some(&mut a.revocation),
            _ => None,
        };
        let input = self.reader.input_mut();
        // Small reads while idle keep memory low; a busy connection reads more at a time.
        input.reserve(if input.capacity() >= 4096 { 4096 } else { 512 });
        let read = tokio::select! {
            biased;
            () = revoked(revocation) => None,
            r = tokio::time::timeout_at(deadline, self.stream.read_buf(input)) => Some(r),
        };
        match read {
            None => {
                self.end_revoked().await;
                Ok(false)
            }
            Some(Ok(Ok(0))) => Ok(false),
            Some(Ok(Ok(_))) => Ok(true),
            Some(Ok(Err(_))) => Err(Gone),
            Some(Err(_)) => {
                let text = if self.login_deadline.is_some() {
                    "Autologout; not authenticated in time"
                } else {
                    "Autologout; idle for too long"
                };
                respond::bye(&mut self.out, text);
                let _ = self.flush().await;
                Ok(false)
            }
        }
    }

    /// Ends a session whose user's access identity revoked.
    pub(crate) async fn end_revoked(&mut self) {
        tracing::info!(remote = %self.remote, "IMAP session ended: access revoked");
        respond::bye(&mut self.out, "Access revoked; sign in again");
        self.state = State::Logout;
        let _ = self.flush().await;
    }

    /// Reads one raw line (SASL answers, `DONE`), without CR LF. `Ok(None)` when the line
    /// was too long.
    pub(crate) async fn read_line(&mut self, max: usize) -> Result<Option<Vec<u8>>> {
        loop {
            match self.reader.next_line(max) {
                Some(Ok(line)) => return Ok(Some(line)),
                Some(Err(())) => return Ok(None),
                None => {
                    self.flush().await?;
                    if !self.fill().await? {
                        return Err(Gone);
                    }
                }
            }
        }
    }

    /// Decodes and runs one command, writes its untagged responses and tagged result.
    async fn command(&mut self, msg: &[u8]) -> Result<Flow> {
        let cmd = match decode_command(msg) {
            Ok(cmd) => cmd,
            Err(f) => {
                let text = match f.command.as_deref() {
                    Some(c) if KNOWN.contains(&c) => {
                        Cow::Owned(format!("Syntax error in {c} arguments"))
                    }
                    Some(_) => Cow::Borrowed("Unknown command"),
                    None => Cow::Borrowed("Syntax error"),
                };
                respond::status(&mut self.out, f.tag.as_deref(), Kind::Bad, None, &text);
                return Ok(Flow::Continue);
            }
        };
        let tag = cmd.tag.inner().to_owned();
        let name = cmd.body.name();
        let allow_expunge = !matches!(
            cmd.body,
            CommandBody::Fetch { uid: false, .. }
                | CommandBody::Store { uid: false, .. }
                | CommandBody::Search { uid: false, .. }
        );
        let reply = self.dispatch(&tag, cmd.body).await?;
        if reply.kind != Kind::Bad
            && !matches!(self.state, State::Logout)
            && let Err(e) = self.refresh(allow_expunge, false).await
        {
            tracing::warn!(error = %e, "IMAP mailbox refresh failed");
        }
        tracing::debug!(remote = %self.remote, command = name, result = ?reply.kind, "IMAP command");
        respond::status(
            &mut self.out,
            Some(&tag),
            reply.kind,
            reply.code.as_deref(),
            &reply.text,
        );
        Ok(reply.flow)
    }

    async fn dispatch(&mut self, tag: &str, body: CommandBody<'_>) -> Result<Reply> {
        let authed = matches!(self.state, State::Authenticated(_));
        let selected = self.selected().is_some();
        Ok(match body {
            // ---- any state
            CommandBody::Capability => {
                let caps = self.capabilities().await;
                self.out.extend_from_slice(b"* CAPABILITY ");
                self.out.extend_from_slice(caps.as_bytes());
                self.out.extend_from_slice(b"\r\n");
                Reply::ok("CAPABILITY completed")
            }
            CommandBody::Noop => Reply::ok("NOOP completed"),
            CommandBody::Logout => {
                respond::bye(&mut self.out, "Logging out");
                self.state = State::Logout;
                Reply::ok("LOGOUT completed").flow(Flow::Close)
            }
            CommandBody::Id { parameters } => self.handle_id(parameters),
            // ---- not authenticated
            CommandBody::StartTLS if authed => Reply::bad(ALREADY_AUTHENTICATED),
            CommandBody::StartTLS if self.tls() => Reply::bad("TLS is already active"),
            CommandBody::StartTLS => Reply::ok("Begin TLS negotiation now").flow(Flow::StartTls),
            CommandBody::Login { .. } | CommandBody::Authenticate { .. } if authed => {
                Reply::bad(ALREADY_AUTHENTICATED)
            }
            CommandBody::Login { username, password } => {
                let username = username.as_ref().to_vec();
                let password = mailward_types::Secret::new(password.declassify().as_ref().to_vec());
                self.handle_login(username, password).await?
            }
            CommandBody::Authenticate {
                mechanism,
                initial_response,
            } => {
                let ir =
                    initial_response.map(|s| mailward_types::Secret::new(s.declassify().to_vec()));
                let mechanism = mechanism.as_ref().to_owned();
                self.handle_authenticate(tag, &mechanism, ir).await?
            }
            _ if !authed => Reply::bad(NOT_AUTHENTICATED),
            // ---- authenticated
            CommandBody::Enable { capabilities } if selected => {
                let _ = capabilities;
                Reply::bad("ENABLE is only valid before SELECT")
            }
            CommandBody::Enable { capabilities } => self.handle_enable(capabilities.as_ref()),
            CommandBody::Namespace => {
                self.out
                    .extend_from_slice(b"* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n");
                Reply::ok("NAMESPACE completed")
            }
            CommandBody::Select {
                mailbox,
                parameters,
            } => self.handle_select(mailbox, false, parameters).await?,
            CommandBody::Examine {
                mailbox,
                parameters,
            } => self.handle_select(mailbox, true, parameters).await?,
            CommandBody::Create { mailbox } => self.handle_create(mailbox).await,
            CommandBody::Delete { mailbox } => self.handle_delete(mailbox).await,
            CommandBody::Rename { from, to } => self.handle_rename(from, to).await,
            CommandBody::Subscribe { mailbox } => self.handle_subscribe(mailbox, true).await,
            CommandBody::Unsubscribe { mailbox } => self.handle_subscribe(mailbox, false).await,
            CommandBody::List {
                reference,
                mailbox_wildcard,
            } => self.handle_list(reference, mailbox_wildcard, false).await,
            CommandBody::Lsub {
                reference,
                mailbox_wildcard,
            } => self.handle_list(reference, mailbox_wildcard, true).await,
            CommandBody::Status {
                mailbox,
                item_names,
            } => self.handle_status(mailbox, item_names.into_owned()).await,
            CommandBody::Append {
                mailbox,
                flags,
                date,
                message,
            } => {
                self.handle_append(mailbox, &flags, date.as_ref(), message)
                    .await
            }
            CommandBody::Idle => self.handle_idle(tag).await?,
            // ---- selected
            CommandBody::Check
            | CommandBody::Close
            | CommandBody::Unselect
            | CommandBody::Expunge
            | CommandBody::ExpungeUid { .. }
            | CommandBody::Search { .. }
            | CommandBody::Fetch { .. }
            | CommandBody::Store { .. }
            | CommandBody::Copy { .. }
            | CommandBody::Move { .. }
                if !selected =>
            {
                Reply::bad(NOT_SELECTED)
            }
            CommandBody::Check => Reply::ok("CHECK completed"),
            CommandBody::Close => self.handle_close(true).await,
            CommandBody::Unselect => self.handle_close(false).await,
            CommandBody::Expunge => self.handle_expunge(None).await,
            CommandBody::ExpungeUid { sequence_set } => {
                self.handle_expunge(Some(&sequence_set)).await
            }
            CommandBody::Search {
                charset,
                criteria,
                uid,
            } => {
                self.handle_search(charset.as_ref().map(|c| c.as_ref()), criteria.as_ref(), uid)
                    .await
            }
            CommandBody::Fetch {
                sequence_set,
                macro_or_item_names,
                uid,
                modifiers,
            } => {
                self.handle_fetch(&sequence_set, macro_or_item_names, uid, &modifiers)
                    .await?
            }
            CommandBody::Store {
                sequence_set,
                kind,
                response,
                flags,
                uid,
                modifiers,
            } => {
                self.handle_store(&sequence_set, kind, response, &flags, uid, &modifiers)
                    .await
            }
            CommandBody::Copy {
                sequence_set,
                mailbox,
                uid,
            } => self.handle_copy(&sequence_set, mailbox, uid, false).await,
            CommandBody::Move {
                sequence_set,
                mailbox,
                uid,
            } => self.handle_copy(&sequence_set, mailbox, uid, true).await,
            _ => Reply::bad("Command not supported"),
        })
    }

    pub(crate) fn authed(&mut self) -> Option<&mut Authed> {
        match &mut self.state {
            State::Authenticated(a) => Some(a),
            _ => None,
        }
    }

    pub(crate) fn selected(&self) -> Option<&Selected> {
        match &self.state {
            State::Authenticated(a) => a.selected.as_ref(),
            _ => None,
        }
    }

    pub(crate) fn selected_mut(&mut self) -> Option<&mut Selected> {
        self.authed().and_then(|a| a.selected.as_mut())
    }

    /// Sends the untagged updates for changes made elsewhere (or by this session's own
    /// APPEND/COPY into the selected mailbox): EXPUNGE (when allowed), FETCH FLAGS, EXISTS
    /// and RECENT. `force` checks the store even if the change signal did not fire.
    pub(crate) async fn refresh(
        &mut self,
        allow_expunge: bool,
        force: bool,
    ) -> Result<(), StoreError> {
        let store = self.server.store.clone();
        let condstore = self.condstore;
        let Some(auth) = self.authed() else {
            return Ok(());
        };
        let Some(sel) = auth.selected.as_ref() else {
            return Ok(());
        };
        let changed = auth.watch.has_changed().unwrap_or(false);
        let pending_gone = allow_expunge && !sel.gone.is_empty();
        if !changed && !force && !pending_gone {
            return Ok(());
        }
        if changed {
            auth.watch.borrow_and_update();
        }
        let folder = sel.folder;
        let status = match store.status(folder).await {
            Ok(s) => s,
            Err(StoreError::NotFound(_)) => return Ok(()),
            Err(e) => return Err(e),
        };
        let Some(sel) = self.selected_mut() else {
            return Ok(());
        };
        let live = sel.uids.len() - sel.gone.len();
        if status.highest_modseq == sel.last_modseq
            && status.uid_next == sel.uid_next
            && status.messages as usize == live
            && !pending_gone
        {
            return Ok(());
        }
        let metas = store.messages(folder).await?;
        let Some(sel) = self.selected_mut() else {
            return Ok(());
        };
        let mut out = Vec::new();
        // Removed elsewhere: in our map, not in the store.
        let mut gone = Vec::new();
        {
            let mut j = 0;
            for &uid in &sel.uids {
                while j < metas.len() && metas[j].uid < uid {
                    j += 1;
                }
                if j >= metas.len() || metas[j].uid != uid {
                    gone.push(uid);
                }
            }
        }
        if allow_expunge {
            remove_uids(sel, &gone, &mut out);
            sel.gone.clear();
        } else {
            sel.gone = gone;
        }
        // Flag changes of messages the client knows.
        sel.own.sort_unstable();
        let known_max = sel.uids.last().copied().unwrap_or(0);
        for m in &metas {
            if m.uid > known_max || m.modseq <= sel.last_modseq {
                continue;
            }
            if sel.own.binary_search(&(m.uid, m.modseq)).is_ok() {
                continue;
            }
            let Ok(pos) = sel.uids.binary_search(&m.uid) else {
                continue;
            };
            out.extend_from_slice(b"* ");
            wire::number(&mut out, pos as u64 + 1);
            out.extend_from_slice(b" FETCH (UID ");
            wire::number(&mut out, u64::from(m.uid));
            out.extend_from_slice(b" FLAGS ");
            wire::flag_list(&mut out, &m.flags, sel.is_recent(m.uid));
            if condstore {
                out.extend_from_slice(b" MODSEQ (");
                wire::number(&mut out, m.modseq);
                out.push(b')');
            }
            out.extend_from_slice(b")\r\n");
        }
        // New messages.
        let before = sel.uids.len();
        for m in metas.iter().filter(|m| m.uid > known_max) {
            sel.uids.push(m.uid);
            sel.recent.push(m.uid);
        }
        if sel.uids.len() != before {
            out.extend_from_slice(b"* ");
            wire::number(&mut out, sel.uids.len() as u64);
            out.extend_from_slice(b" EXISTS\r\n* ");
            wire::number(&mut out, sel.recent.len() as u64);
            out.extend_from_slice(b" RECENT\r\n");
        }
        sel.last_modseq = sel.last_modseq.max(status.highest_modseq);
        sel.uid_next = status.uid_next;
        sel.own.clear();
        self.out.extend_from_slice(&out);
        Ok(())
    }
}

/// Sends `* n EXPUNGE` for each of `uids` (ascending) still in the session's map, highest
/// sequence number first so every number is valid when the client reads it, and drops them
/// from the map in one pass.
pub(crate) fn remove_uids(sel: &mut Selected, uids: &[u32], out: &mut Vec<u8>) {
    let mut positions: Vec<usize> = uids
        .iter()
        .filter_map(|u| sel.uids.binary_search(u).ok())
        .collect();
    positions.sort_unstable();
    positions.dedup();
    for &p in positions.iter().rev() {
        out.extend_from_slice(b"* ");
        wire::number(out, p as u64 + 1);
        out.extend_from_slice(b" EXPUNGE\r\n");
    }
    let mut removed: Vec<u32> = uids.to_vec();
    removed.sort_unstable();
    let gone = |u: &u32| removed.binary_search(u).is_ok();
    sel.uids.retain(|u| !gone(u));
    sel.recent.retain(|u| !gone(u));
    sel.gone.retain(|u| !gone(u));
}

/// Commands imap-codec knows, for telling "syntax error" from "unknown command".
const KNOWN: &[&str] = &[
    "CAPABILITY",
    "NOOP",
    "LOGOUT",
    "STARTTLS",
    "AUTHENTICATE",
    "LOGIN",
    "SELECT",
    "EXAMINE",
    "CREATE",
    "DELETE",
    "RENAME",
    "SUBSCRIBE",
    "UNSUBSCRIBE",
    "LIST",
    "LSUB",
    "STATUS",
    "APPEND",
    "CHECK",
    "CLOSE",
    "EXPUNGE",
    "SEARCH",
    "FETCH",
    "STORE",
    "COPY",
    "UID",
    "IDLE",
    "ENABLE",
    "MOVE",
    "ID",
    "NAMESPACE",
    "UNSELECT",
];

/// The answer to a store error.
pub(crate) fn store_error(e: StoreError) -> Reply {
    match e {
        StoreError::NotFound(what) => Reply::no(format!("No such {what}")).code("NONEXISTENT"),
        StoreError::Exists(what) => {
            Reply::no(format!("The {what} already exists")).code("ALREADYEXISTS")
        }
        StoreError::Invalid(why) => Reply::no(why).code("CANNOT"),
        StoreError::TooLarge => Reply::no("Message too large").code("TOOBIG"),
        StoreError::Backend(e) => {
            tracing::error!(error = %e, "mail store failure");
            Reply::no("Internal error, try again later").code("SERVERBUG")
        }
    }
}
