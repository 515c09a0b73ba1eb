//! The Graph `namedLocation` resources: `#microsoft.graph.ipNamedLocation` (CIDR ranges,
//! `isTrusted`) and `#microsoft.graph.countryNamedLocation` (ISO 3166 codes). One struct
//! holds both shapes so either exports back with exactly the keys it was imported with;
//! [`crate::import`] checks that each kind carries only its own members (microsoft.md §3.4).

use crate::prop::Prop;
use serde::{Deserialize, Serialize};

/// `@odata.type` of an IP named location.
pub const IP_NAMED_LOCATION: &str = "#microsoft.graph.ipNamedLocation";
/// `@odata.type` of a country named location.
pub const COUNTRY_NAMED_LOCATION: &str = "#microsoft.graph.countryNamedLocation";
/// `@odata.type` of an IPv4 range.
pub const IPV4_CIDR_RANGE: &str = "#microsoft.graph.iPv4CidrRange";
/// `@odata.type` of an IPv6 range.
pub const IPV6_CIDR_RANGE: &str = "#microsoft.graph.iPv6CidrRange";

/// `microsoft.graph.namedLocation` (IP or country).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct NamedLocation {
    #[serde(rename = "@odata.context", skip_serializing_if = "Prop::is_absent")]
    pub odata_context: Prop<String>,
    /// [`IP_NAMED_LOCATION`] or [`COUNTRY_NAMED_LOCATION`]; required.
    #[serde(rename = "@odata.type", skip_serializing_if = "Prop::is_absent")]
    pub odata_type: Prop<String>,
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub id: Prop<String>,
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub display_name: Prop<String>,
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub modified_date_time: Prop<String>,
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub created_date_time: Prop<String>,
    /// IP locations only; default `false`.
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub is_trusted: Prop<bool>,
    /// IP locations only; required there.
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub ip_ranges: Prop<Vec<IpRange>>,
    /// Country locations only: ISO 3166-1 alpha-2 codes.
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub countries_and_regions: Prop<Vec<String>>,
    /// Country locations only; default `false`.
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub include_unknown_countries_and_regions: Prop<bool>,
    /// Country locations only; only `clientIpAddress` is supported.
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub country_lookup_method: Prop<CountryLookupMethod>,
}

/// One `ipRange` (`iPv4CidrRange` / `iPv6CidrRange`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct IpRange {
    #[serde(rename = "@odata.type", skip_serializing_if = "Prop::is_absent")]
    pub odata_type: Prop<String>,
    /// e.g. `12.34.221.11/22` (host bits may be set, as in Graph's own examples).
    #[serde(skip_serializing_if = "Prop::is_absent")]
    pub cidr_address: Prop<String>,
}

/// `countryLookupMethodType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CountryLookupMethod {
    /// The country of the client IP address (resolved by the caller).
    ClientIpAddress,
    /// Graph value; not supported (no authenticator app GPS).
    AuthenticatorAppGps,
    /// Graph value; not supported.
    UnknownFutureValue,
}
