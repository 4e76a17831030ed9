//! The transport names of the contract (`transport=` on the page).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Transport {
    Poll,
    LongPoll,
    Sse,
    Ws,
}

impl Transport {
    pub const ALL: [Transport; 4] = [Transport::Poll, Transport::LongPoll, Transport::Sse, Transport::Ws];

    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Poll => "poll",
            Transport::LongPoll => "long-poll",
            Transport::Sse => "sse",
            Transport::Ws => "ws",
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Transport {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let valid: Vec<&str> = Self::ALL.iter().map(|t| t.as_str()).collect();
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| format!("unknown transport `{s}`; valid transports: {}", valid.join(", ")))
    }
}
