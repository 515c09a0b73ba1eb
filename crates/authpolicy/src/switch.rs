//! [`Switch`]: one named boolean property of an authentication policy
//! (`AllowBasicAuthImap`, `BlockLegacyAuthPop`, `BlockModernAuthRpc`, ...), and the table of
//! the switches that exist.
//!
//! - `AllowBasicAuth<Protocol>` (Exchange Online): one per protocol, thirteen in all.
//!   `AllowBasicAuthRest` is only seen in Get-AuthenticationPolicy output, not as a
//!   New-/Set- parameter, but mailward serves REST so it is a full switch here. The
//!   PowerShell one is spelled `AllowBasicAuthPowershell`, as Get-AuthenticationPolicy
//!   prints it; names are matched ignoring ASCII case, as PowerShell does.
//! - `BlockLegacyAuth<Protocol>` (Exchange Server 2019 CU2+) and `BlockModernAuth<Protocol>`
//!   (CU13+): only for the eight protocols of [`Protocol::has_on_premises_switches`].

use std::fmt;

use crate::Protocol;

/// The three families of switches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SwitchKind {
    /// `AllowBasicAuth<Protocol>`: cloud flavour; basic authentication is allowed only where
    /// set.
    AllowBasicAuth,
    /// `BlockLegacyAuth<Protocol>`: on-premises flavour; blocks Basic, Digest and Windows
    /// authentication.
    BlockLegacyAuth,
    /// `BlockModernAuth<Protocol>`: on-premises flavour; blocks OAuth.
    BlockModernAuth,
}

impl SwitchKind {
    pub const ALL: [SwitchKind; 3] = [
        SwitchKind::AllowBasicAuth,
        SwitchKind::BlockLegacyAuth,
        SwitchKind::BlockModernAuth,
    ];

    /// The name prefix (`AllowBasicAuth`, ...).
    pub fn prefix(self) -> &'static str {
        match self {
            SwitchKind::AllowBasicAuth => "AllowBasicAuth",
            SwitchKind::BlockLegacyAuth => "BlockLegacyAuth",
            SwitchKind::BlockModernAuth => "BlockModernAuth",
        }
    }

    /// True if a switch of this kind exists for `protocol`.
    pub fn applies_to(self, protocol: Protocol) -> bool {
        match self {
            SwitchKind::AllowBasicAuth => true,
            SwitchKind::BlockLegacyAuth | SwitchKind::BlockModernAuth => {
                protocol.has_on_premises_switches()
            }
        }
    }
}

/// A switch that exists: a kind and a protocol it applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Switch {
    kind: SwitchKind,
    protocol: Protocol,
}

/// Why a switch name or combination was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SwitchError {
    /// `BlockLegacyAuthSmtp` and the like: the family exists, not for this protocol.
    #[error(
        "AUTHPOLICY_UNKNOWN_SWITCH: {name} does not exist; {} exists for {}",
        kind.prefix(),
        valid_protocols(*kind)
    )]
    NotForProtocol { name: String, kind: SwitchKind },
    /// Not a switch name at all.
    #[error("AUTHPOLICY_UNKNOWN_SWITCH: {name} is not an authentication policy switch")]
    Unknown { name: String },
}

impl Switch {
    /// The switch of `kind` for `protocol`, if Exchange has one.
    pub fn new(kind: SwitchKind, protocol: Protocol) -> Option<Switch> {
        kind.applies_to(protocol)
            .then_some(Switch { kind, protocol })
    }

    /// Like [`Switch::new`], with an error naming the switch and the valid protocols.
    pub fn try_new(kind: SwitchKind, protocol: Protocol) -> Result<Switch, SwitchError> {
        Switch::new(kind, protocol).ok_or_else(|| SwitchError::NotForProtocol {
            name: format!("{}{}", kind.prefix(), protocol.name()),
            kind,
        })
    }

    pub fn kind(self) -> SwitchKind {
        self.kind
    }

    pub fn protocol(self) -> Protocol {
        self.protocol
    }

    /// Every switch, in the order an exported policy lists them: all `AllowBasicAuth*`,
    /// then `BlockLegacyAuth*`, then `BlockModernAuth*`, protocols alphabetical.
    pub fn all() -> impl Iterator<Item = Switch> {
        SwitchKind::ALL.into_iter().flat_map(|kind| {
            Protocol::ALL
                .into_iter()
                .filter_map(move |protocol| Switch::new(kind, protocol))
        })
    }

    /// The property name, e.g. `AllowBasicAuthImap`.
    pub fn name(self) -> String {
        let suffix = match (self.kind, self.protocol) {
            // Get-AuthenticationPolicy's spelling.
            (SwitchKind::AllowBasicAuth, Protocol::PowerShell) => "Powershell",
            (_, p) => p.name(),
        };
        format!("{}{}", self.kind.prefix(), suffix)
    }

    /// Parses a property name, ignoring ASCII case.
    pub fn parse(name: &str) -> Result<Switch, SwitchError> {
        for kind in SwitchKind::ALL {
            let prefix = kind.prefix();
            let Some(head) = name.get(..prefix.len()) else {
                continue;
            };
            if !head.eq_ignore_ascii_case(prefix) {
                continue;
            }
            let suffix = &name[prefix.len()..];
            return match Protocol::ALL
                .into_iter()
                .find(|p| p.name().eq_ignore_ascii_case(suffix))
            {
                Some(protocol) => Switch::try_new(kind, protocol),
                None => Err(SwitchError::NotForProtocol {
                    name: name.to_owned(),
                    kind,
                }),
            };
        }
        Err(SwitchError::Unknown {
            name: name.to_owned(),
        })
    }
}

impl fmt::Display for Switch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// `Imap, Pop, ...` for the protocols a kind of switch exists for.
pub(crate) fn valid_protocols(kind: SwitchKind) -> String {
    Protocol::ALL
        .into_iter()
        .filter(|p| kind.applies_to(*p))
        .map(Protocol::name)
        .collect::<Vec<_>>()
        .join(", ")
}
