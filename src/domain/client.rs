//! Who is calling, as recorded on sessions, audit events and security notices. A plain value:
//! the HTTP layer fills it from the request (`crate::http::client_ip`), the CLI leaves it empty.

use std::net::IpAddr;

#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
}

impl ClientInfo {
    pub fn ip_string(&self) -> Option<String> {
        self.ip.map(|ip| ip.to_string())
    }
}
