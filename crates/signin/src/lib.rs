//! Sign-in decisions with no I/O: smart lockout, the policy step and the sign-in state
//! machine (identify → first factor → policy → second factor → issue). Every function takes
//! the facts it needs and `now`; identity performs the I/O and feeds the results in.
//!
//! **Architecture invariant:** nothing here reads the clock, storage or the network.

pub mod flow;
pub mod lockout;
pub mod policy;
