//! [`Protocol`]: the client access protocols an Exchange authentication policy names, and
//! [`ProtocolSet`], a set of them, with the CLI's `imap,smtp,pop` list syntax.
//!
//! All thirteen protocols of Exchange's model are kept so that imported policies
//! round-trip. mailward itself serves [`Protocol::Imap`], [`Protocol::Pop`],
//! [`Protocol::Smtp`], [`Protocol::Rest`] and [`Protocol::Autodiscover`]
//! ([`Protocol::served_by_mailward`]); Exchange Web Services may follow. ActiveSync, MAPI,
//! the offline address book, Outlook Service, remote PowerShell, Reporting Web Services and
//! RPC over HTTP exist only as switches.

use std::fmt;
use std::str::FromStr;

/// A client access protocol, named as in the `AllowBasicAuth<Protocol>` switches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// Exchange ActiveSync (EAS).
    ActiveSync,
    /// Autodiscover.
    Autodiscover,
    /// IMAP4.
    Imap,
    /// MAPI over HTTP.
    Mapi,
    /// Offline Address Book (OAB).
    OfflineAddressBook,
    /// Outlook Service (Windows 10 Mail and Calendar).
    OutlookService,
    /// POP3.
    Pop,
    /// Remote PowerShell.
    PowerShell,
    /// Reporting Web Services.
    ReportingWebServices,
    /// The REST mail API (mailward's Graph-shaped API).
    Rest,
    /// Outlook Anywhere (RPC over HTTP).
    Rpc,
    /// Authenticated SMTP (submission).
    Smtp,
    /// Exchange Web Services (EWS).
    WebServices,
}

impl Protocol {
    /// Every protocol, in the order of the switch names.
    pub const ALL: [Protocol; 13] = [
        Protocol::ActiveSync,
        Protocol::Autodiscover,
        Protocol::Imap,
        Protocol::Mapi,
        Protocol::OfflineAddressBook,
        Protocol::OutlookService,
        Protocol::Pop,
        Protocol::PowerShell,
        Protocol::ReportingWebServices,
        Protocol::Rest,
        Protocol::Rpc,
        Protocol::Smtp,
        Protocol::WebServices,
    ];

    /// The name used in switch names and messages (`Imap`, `WebServices`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Protocol::ActiveSync => "ActiveSync",
            Protocol::Autodiscover => "Autodiscover",
            Protocol::Imap => "Imap",
            Protocol::Mapi => "Mapi",
            Protocol::OfflineAddressBook => "OfflineAddressBook",
            Protocol::OutlookService => "OutlookService",
            Protocol::Pop => "Pop",
            Protocol::PowerShell => "PowerShell",
            Protocol::ReportingWebServices => "ReportingWebServices",
            Protocol::Rest => "Rest",
            Protocol::Rpc => "Rpc",
            Protocol::Smtp => "Smtp",
            Protocol::WebServices => "WebServices",
        }
    }

    /// Parses a protocol name, ignoring ASCII case, with the common aliases: `imap4`,
    /// `pop3`, `ews` (WebServices), `eas` (ActiveSync), `oab` (OfflineAddressBook).
    pub fn parse(name: &str) -> Option<Protocol> {
        let alias = match name.to_ascii_lowercase().as_str() {
            "imap4" => Some(Protocol::Imap),
            "pop3" => Some(Protocol::Pop),
            "ews" => Some(Protocol::WebServices),
            "eas" => Some(Protocol::ActiveSync),
            "oab" => Some(Protocol::OfflineAddressBook),
            _ => None,
        };
        alias.or_else(|| {
            Protocol::ALL
                .into_iter()
                .find(|p| p.name().eq_ignore_ascii_case(name))
        })
    }

    /// True for the protocols a mailward mail instance actually serves; the others are kept
    /// only so that policies round-trip.
    pub fn served_by_mailward(self) -> bool {
        matches!(
            self,
            Protocol::Imap
                | Protocol::Pop
                | Protocol::Smtp
                | Protocol::Rest
                | Protocol::Autodiscover
        )
    }

    /// True if Exchange Server 2019 has `BlockLegacyAuth<Protocol>` and
    /// `BlockModernAuth<Protocol>` switches for it (New-/Set-AuthenticationPolicy syntax):
    /// ActiveSync, Autodiscover, Imap, Mapi, OfflineAddressBook, Pop, Rpc, WebServices.
    /// SMTP, Outlook Service, PowerShell, Reporting Web Services and REST have none.
    pub fn has_on_premises_switches(self) -> bool {
        matches!(
            self,
            Protocol::ActiveSync
                | Protocol::Autodiscover
                | Protocol::Imap
                | Protocol::Mapi
                | Protocol::OfflineAddressBook
                | Protocol::Pop
                | Protocol::Rpc
                | Protocol::WebServices
        )
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Protocol {
    type Err = ProtocolListError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Protocol::parse(s).ok_or_else(|| ProtocolListError::new(s))
    }
}

/// A set of protocols.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ProtocolSet(u16);

impl ProtocolSet {
    /// No protocol.
    pub const fn empty() -> ProtocolSet {
        ProtocolSet(0)
    }

    /// Every protocol.
    pub fn all() -> ProtocolSet {
        Protocol::ALL.into_iter().collect()
    }

    /// The protocols with on-premises switches ([`Protocol::has_on_premises_switches`]).
    pub fn on_premises() -> ProtocolSet {
        Protocol::ALL
            .into_iter()
            .filter(|p| p.has_on_premises_switches())
            .collect()
    }

    pub fn contains(self, protocol: Protocol) -> bool {
        self.0 & protocol.bit() != 0
    }

    pub fn insert(&mut self, protocol: Protocol) {
        self.0 |= protocol.bit();
    }

    pub fn remove(&mut self, protocol: Protocol) {
        self.0 &= !protocol.bit();
    }

    /// Sets membership of `protocol` to `member`.
    pub fn set(&mut self, protocol: Protocol, member: bool) {
        if member {
            self.insert(protocol);
        } else {
            self.remove(protocol);
        }
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// True if every member of `self` is in `other`.
    pub fn is_subset(self, other: ProtocolSet) -> bool {
        self.0 & !other.0 == 0
    }

    pub fn union(self, other: ProtocolSet) -> ProtocolSet {
        ProtocolSet(self.0 | other.0)
    }

    pub fn intersection(self, other: ProtocolSet) -> ProtocolSet {
        ProtocolSet(self.0 & other.0)
    }

    pub fn difference(self, other: ProtocolSet) -> ProtocolSet {
        ProtocolSet(self.0 & !other.0)
    }

    /// Members in [`Protocol::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Protocol> {
        Protocol::ALL.into_iter().filter(move |p| self.contains(*p))
    }
}

impl FromIterator<Protocol> for ProtocolSet {
    fn from_iter<I: IntoIterator<Item = Protocol>>(iter: I) -> Self {
        let mut set = ProtocolSet::empty();
        for p in iter {
            set.insert(p);
        }
        set
    }
}

impl fmt::Debug for ProtocolSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// `Imap,Pop,Smtp` (empty for the empty set) — the form [`parse_protocol_list`] reads back.
impl fmt::Display for ProtocolSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(p.name())?;
        }
        Ok(())
    }
}

/// A list item that names no protocol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "AUTHPOLICY_UNKNOWN_PROTOCOL: {item:?} is not a protocol; valid: {}",
    valid_protocol_names()
)]
pub struct ProtocolListError {
    /// The offending item as given (trimmed).
    pub item: String,
}

impl ProtocolListError {
    fn new(item: &str) -> Self {
        ProtocolListError {
            item: item.to_owned(),
        }
    }
}

/// The accepted names, lower-case and comma-separated, aliases in parentheses.
pub fn valid_protocol_names() -> &'static str {
    "activesync (eas), autodiscover, imap (imap4), mapi, offlineaddressbook (oab), \
     outlookservice, pop (pop3), powershell, reportingwebservices, rest, rpc, smtp, \
     webservices (ews)"
}

/// Parses a CLI-style list such as `imap,smtp,pop` (ASCII case ignored, spaces around
/// items allowed, aliases as in [`Protocol::parse`], repeats harmless). An empty or
/// all-blank string is the empty set; an empty item (`imap,,pop`, `imap,`) is an error.
pub fn parse_protocol_list(list: &str) -> Result<ProtocolSet, ProtocolListError> {
    if list.trim().is_empty() {
        return Ok(ProtocolSet::empty());
    }
    list.split(',')
        .map(|item| {
            let item = item.trim();
            Protocol::parse(item).ok_or_else(|| ProtocolListError::new(item))
        })
        .collect()
}
