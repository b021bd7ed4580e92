//! Sign-in codes in a cluster. A phone's code, its wrong-code count and its send interval live
//! in one node's memory ([`crate::auth::SignInCodes`]), so every node must ask the same node about
//! one phone: its *home*, picked by the phone's hash among the live nodes. A code sent through one
//! node is then checked on the same node whichever node the sign-in reaches, and spreading guesses
//! over the nodes buys an attacker nothing. When the live nodes change, some phones get a new home
//! and a code sent just before is asked for again (one minute's wait at most).

use std::net::IpAddr;
use std::sync::Arc;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Cluster;
use crate::actors::Failure;
use crate::auth::SignInCodes;
use crate::domain::{DomainError, Phone};

#[derive(Debug, Serialize, Deserialize)]
pub enum CodeCall {
    Send { phone: String, ip: IpAddr },
    Verify { phone: String, code: String },
}

fn subject(cluster: &str, node: &str) -> String {
    format!("{cluster}.codes.{node}")
}

/// The node among `alive` (sorted) that keeps `phone`'s codes.
pub fn home<'a>(phone: &str, alive: &'a [String]) -> Option<&'a String> {
    let digest = Sha256::digest(phone.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    let n = u64::try_from(alive.len()).ok().filter(|n| *n > 0)?;
    alive.get(usize::try_from(u64::from_be_bytes(first) % n).ok()?)
}

async fn run(codes: &SignInCodes, call: CodeCall) -> Result<(), DomainError> {
    match call {
        CodeCall::Send { phone, ip } => {
            let phone = Phone::parse(&phone).ok_or(DomainError::BadPhone)?;
            codes.send(&phone, ip).await.map_err(DomainError::from)
        }
        CodeCall::Verify { phone, code } => {
            let phone = Phone::parse(&phone).ok_or(DomainError::BadPhone)?;
            codes.verify(&phone, &code)
        }
    }
}

impl Cluster {
    /// Runs a sign-in code call on the phone's home node (here when this node is its home).
    pub async fn codes(&self, codes: &SignInCodes, call: CodeCall) -> Result<Result<(), DomainError>, Failure> {
        let phone = match &call {
            CodeCall::Send { phone, .. } | CodeCall::Verify { phone, .. } => phone.clone(),
        };
        let alive = self.alive_sorted();
        let node = match home(&phone, &alive) {
            Some(node) if *node != self.inner.node_id => node.clone(),
            _ => return Ok(run(codes, call).await),
        };
        let payload = serde_json::to_vec(&call).map_err(|e| Failure::caused_by("encoding a code call", e))?;
        let answer = self.inner.nats.request(subject(&self.inner.name, &node), payload.into()).await.map_err(|e| {
            Failure::Elsewhere(format!("node {node} keeps this phone's sign-in codes and did not answer: {e}"))
        })?;
        serde_json::from_slice(&answer.payload).map_err(|e| Failure::caused_by("decoding a code answer", e))
    }

    /// Answers the code calls of phones whose home is this node.
    pub async fn serve_code_calls(&self, codes: Arc<SignInCodes>) -> anyhow::Result<()> {
        let mut calls = self
            .inner
            .nats
            .subscribe(subject(&self.inner.name, &self.inner.node_id))
            .await
            .map_err(|e| anyhow::anyhow!("subscribing to sign-in code calls: {e}"))?;
        let nats = self.inner.nats.clone();
        tokio::spawn(async move {
            while let Some(msg) = calls.next().await {
                let Some(reply) = msg.reply.clone() else { continue };
                let (nats, codes) = (nats.clone(), codes.clone());
                tokio::spawn(async move {
                    let answer = match serde_json::from_slice::<CodeCall>(&msg.payload) {
                        Ok(call) => run(&codes, call).await,
                        Err(_) => Err(DomainError::invalid("phone", "undecodable code call")),
                    };
                    if let Ok(bytes) = serde_json::to_vec(&answer) {
                        if let Err(e) = nats.publish(reply, bytes.into()).await {
                            tracing::warn!(error = %e, "answering a sign-in code call failed");
                        }
                    }
                });
            }
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_node_picks_the_same_home_and_phones_spread_over_the_nodes() {
        let nodes: Vec<String> = ["a", "b", "c"].into_iter().map(String::from).collect();
        let homes: Vec<&String> = (0..300).map(|i| home(&format!("1380000{i:04}"), &nodes).expect("a home")).collect();
        assert_eq!(home("13800000001", &nodes), home("13800000001", &nodes.clone()));
        for n in &nodes {
            let share = homes.iter().filter(|h| **h == n).count();
            assert!((60..=140).contains(&share), "node {n} keeps {share} of 300 phones");
        }
        assert_eq!(home("13800000001", &[]), None);
    }
}
