//! [`AuthenticationPolicy`] and its [`PolicyName`].
//!
//! A policy is a name and three sets of protocols, one per [`SwitchKind`]. A new policy has
//! every switch off, as `New-AuthenticationPolicy` without switches: in the cloud flavour
//! that allows basic authentication on no protocol; in the on-premises flavour it blocks
//! nothing (Exchange 2019's "None" default). [`AuthenticationPolicy::block_all_basic`] is
//! the secure policy for both flavours at once.

use std::fmt;

use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::switch::{Switch, SwitchError, SwitchKind};
use crate::{Protocol, ProtocolSet};

/// Longest policy name, in characters (New-AuthenticationPolicy: "maximum length is 64
/// characters").
pub const MAX_NAME_CHARS: usize = 64;

/// A policy name: 1 to 64 characters, no control characters, no leading or trailing
/// white space. Names are the policy's identity and cannot be changed (Set-AuthenticationPolicy
/// has no `-Name`); they are unique ignoring case ([`PolicyName::key`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PolicyName(String);

/// Why a policy name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("AUTHPOLICY_NAME: the policy name is empty")]
    Empty,
    #[error("AUTHPOLICY_NAME: the policy name is longer than {MAX_NAME_CHARS} characters")]
    TooLong,
    #[error("AUTHPOLICY_NAME: the policy name contains a control character")]
    ControlCharacter,
    #[error("AUTHPOLICY_NAME: the policy name starts or ends with white space")]
    Whitespace,
}

impl PolicyName {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name folded for uniqueness checks and lookups (Exchange names are
    /// case-insensitive).
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

impl TryFrom<String> for PolicyName {
    type Error = NameError;

    fn try_from(name: String) -> Result<Self, Self::Error> {
        if name.is_empty() {
            return Err(NameError::Empty);
        }
        if name.chars().count() > MAX_NAME_CHARS {
            return Err(NameError::TooLong);
        }
        if name.chars().any(char::is_control) {
            return Err(NameError::ControlCharacter);
        }
        if name.trim() != name {
            return Err(NameError::Whitespace);
        }
        Ok(PolicyName(name))
    }
}

impl TryFrom<&str> for PolicyName {
    type Error = NameError;

    fn try_from(name: &str) -> Result<Self, Self::Error> {
        PolicyName::try_from(name.to_owned())
    }
}

impl fmt::Display for PolicyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An Exchange authentication policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticationPolicy {
    name: PolicyName,
    allow_basic_auth: ProtocolSet,
    block_legacy_auth: ProtocolSet,
    block_modern_auth: ProtocolSet,
}

impl AuthenticationPolicy {
    /// A policy with every switch off (`New-AuthenticationPolicy -Name <name>`).
    pub fn new(name: PolicyName) -> AuthenticationPolicy {
        AuthenticationPolicy {
            name,
            allow_basic_auth: ProtocolSet::empty(),
            block_legacy_auth: ProtocolSet::empty(),
            block_modern_auth: ProtocolSet::empty(),
        }
    }

    /// A policy that refuses basic authentication wherever a switch can say so, in both
    /// flavours: no `AllowBasicAuth*`, every `BlockLegacyAuth*`. Modern authentication stays
    /// allowed. This is what `mailward up` makes the organization default.
    pub fn block_all_basic(name: PolicyName) -> AuthenticationPolicy {
        AuthenticationPolicy {
            block_legacy_auth: ProtocolSet::on_premises(),
            ..AuthenticationPolicy::new(name)
        }
    }

    pub fn name(&self) -> &PolicyName {
        &self.name
    }

    /// Protocols with `AllowBasicAuth<Protocol>` on.
    pub fn allow_basic_auth(&self) -> ProtocolSet {
        self.allow_basic_auth
    }

    /// Protocols with `BlockLegacyAuth<Protocol>` on (a subset of
    /// [`ProtocolSet::on_premises`]).
    pub fn block_legacy_auth(&self) -> ProtocolSet {
        self.block_legacy_auth
    }

    /// Protocols with `BlockModernAuth<Protocol>` on (a subset of
    /// [`ProtocolSet::on_premises`]).
    pub fn block_modern_auth(&self) -> ProtocolSet {
        self.block_modern_auth
    }

    /// The protocols that have switches of `kind` set.
    pub fn protocols(&self, kind: SwitchKind) -> ProtocolSet {
        match kind {
            SwitchKind::AllowBasicAuth => self.allow_basic_auth,
            SwitchKind::BlockLegacyAuth => self.block_legacy_auth,
            SwitchKind::BlockModernAuth => self.block_modern_auth,
        }
    }

    /// The value of one switch.
    pub fn get(&self, switch: Switch) -> bool {
        self.protocols(switch.kind()).contains(switch.protocol())
    }

    /// Turns one switch on or off (`-AllowBasicAuthImap:$true`).
    pub fn set(&mut self, switch: Switch, on: bool) {
        let set = match switch.kind() {
            SwitchKind::AllowBasicAuth => &mut self.allow_basic_auth,
            SwitchKind::BlockLegacyAuth => &mut self.block_legacy_auth,
            SwitchKind::BlockModernAuth => &mut self.block_modern_auth,
        };
        set.set(switch.protocol(), on);
    }

    /// Replaces all switches of `kind` at once: exactly `protocols` on, the others off
    /// (the CLI's `--allow-basic imap,smtp`). Fails, changing nothing, if a protocol has no
    /// switch of that kind (`BlockLegacyAuthSmtp`).
    pub fn set_protocols(
        &mut self,
        kind: SwitchKind,
        protocols: ProtocolSet,
    ) -> Result<(), SwitchError> {
        if let Some(p) = protocols.iter().find(|p| !kind.applies_to(*p)) {
            return Err(SwitchError::NotForProtocol {
                name: format!("{}{}", kind.prefix(), p.name()),
                kind,
            });
        }
        match kind {
            SwitchKind::AllowBasicAuth => self.allow_basic_auth = protocols,
            SwitchKind::BlockLegacyAuth => self.block_legacy_auth = protocols,
            SwitchKind::BlockModernAuth => self.block_modern_auth = protocols,
        }
        Ok(())
    }

    /// True if basic authentication is explicitly allowed for `protocol` in the cloud
    /// flavour.
    pub fn allows_basic(&self, protocol: Protocol) -> bool {
        self.allow_basic_auth.contains(protocol)
    }
}

/// Exports as Get-AuthenticationPolicy's properties: `Name`, then every switch as a
/// boolean under its PascalCase name (`AllowBasicAuthImap`, `BlockLegacyAuthImap`, ...).
/// All switches of both flavours are written, so the export is lossless.
impl Serialize for AuthenticationPolicy {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("Name", self.name.as_str())?;
        for switch in Switch::all() {
            map.serialize_entry(&switch.name(), &self.get(switch))?;
        }
        map.end()
    }
}
