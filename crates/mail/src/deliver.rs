//! Submitting a message outside SMTP (the REST API's `sendMail`): recipients with a
//! mailbox here get it in their INBOX, recipients of other domains go to the relay
//! queue, and a recipient in a local domain without a mailbox, or of another domain when
//! nothing relays, refuses the whole message before anything is stored — the same
//! classification SMTP submission applies per `RCPT TO`.

use mailward_mailstore::{MailStore, NewOutbound, StoreError};
use time::OffsetDateTime;
use uuid::Uuid;

/// Why a submission was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SubmitError {
    /// Local-domain addresses without a mailbox.
    #[error("no mailbox for {}", .0.join(", "))]
    UnknownRecipients(Vec<String>),
    /// Other domains' addresses, and no smarthost to relay to.
    #[error("no route to {}", .0.join(", "))]
    NoRoute(Vec<String>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What happened to a submitted message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Submitted {
    pub local: usize,
    pub queued: usize,
}

/// Delivers or queues `raw` for `recipients` (lowercase), sent by `from`; `relay`: other
/// domains have a route (a smarthost).
pub(crate) async fn submit(
    store: &dyn MailStore,
    local_domains: &[String],
    relay: bool,
    from: &str,
    recipients: &[String],
    raw: &[u8],
    now: OffsetDateTime,
) -> Result<Submitted, SubmitError> {
    let mut locals: Vec<Uuid> = Vec::new();
    let mut remotes: Vec<String> = Vec::new();
    let mut unknown: Vec<String> = Vec::new();
    for rcpt in recipients {
        match store.account_by_address(rcpt).await? {
            Some(account) => {
                if !locals.contains(&account.id) {
                    locals.push(account.id);
                }
            }
            None => {
                let domain = rcpt.rsplit('@').next().unwrap_or_default();
                if local_domains.iter().any(|d| d.eq_ignore_ascii_case(domain)) {
                    unknown.push(rcpt.clone());
                } else {
                    remotes.push(rcpt.clone());
                }
            }
        }
    }
    if !unknown.is_empty() {
        return Err(SubmitError::UnknownRecipients(unknown));
    }
    if !remotes.is_empty() && !relay {
        return Err(SubmitError::NoRoute(remotes));
    }
    if !remotes.is_empty() {
        store
            .enqueue(NewOutbound {
                from,
                recipients: &remotes,
                raw,
                now,
            })
            .await?;
    }
    if !locals.is_empty() {
        store.deliver(&locals, raw, now).await?;
    }
    Ok(Submitted {
        local: locals.len(),
        queued: remotes.len(),
    })
}
