//! Who is calling, as recorded on sessions, audit events and security notices. A plain value:
//! the HTTP layer fills it from the request (`crate::http::client_ip`), the CLI leaves it empty.

use std::net::IpAddr;

#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
    /// Who acted, when it was not the account's owner: `cli` (the operator's command line),
    /// `key:<id>` (an admin API key) or `user:<id>` (an admin's access token). Recorded on
    /// every audit event the action writes.
    pub actor: Option<String>,
}

impl ClientInfo {
    /// The operator at the command line: no IP, the tool as user agent.
    pub fn operator() -> Self {
        Self {
            ip: None,
            user_agent: Some("authgate admin".into()),
            actor: Some("cli".into()),
        }
    }

    pub fn ip_string(&self) -> Option<String> {
        self.ip.map(|ip| ip.to_string())
    }
}
