//! Configuration kept as JSON files in the data dir, so two data dirs (and tests) never
//! share it: the network settings both the window and `tandem node` start with.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tandem_net::{Multiaddr, NetConfig};

/// How this device meets peers, beyond what the command line says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkSettings {
    /// Meet peers through the public libp2p network (and map ports with UPnP).
    pub public_network: bool,
    /// The public network's bootstrap peers; none for the well-known IPFS ones.
    pub public_bootstrap: Vec<String>,
    /// Tandem peers and relays (e.g. a `tandem node --relay`) to dial at start.
    pub bootstrap: Vec<String>,
}

impl Default for NetworkSettings {
    fn default() -> NetworkSettings {
        NetworkSettings { public_network: true, public_bootstrap: Vec::new(), bootstrap: Vec::new() }
    }
}

impl NetworkSettings {
    /// Where the network settings of the data dir `dir` live.
    pub fn path(dir: &Path) -> PathBuf {
        dir.join("network.json")
    }

    /// Reads the network settings: the defaults when there are none, and an error
    /// naming the file and what is wrong when they cannot be read.
    pub fn load(dir: &Path) -> Result<NetworkSettings, String> {
        let path = NetworkSettings::path(dir);
        match std::fs::read(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(NetworkSettings::default()),
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|e| format!("{} is not valid: {e}", path.display()))
            }
        }
    }

    /// Writes the network settings (atomically).
    pub fn save(&self, dir: &Path) -> std::io::Result<()> {
        save_json(&NetworkSettings::path(dir), self)
    }

    /// Addresses of a list that do not parse, each with why.
    pub fn bad_addrs(list: &[String]) -> Vec<String> {
        list.iter().filter_map(|a| a.parse::<Multiaddr>().err().map(|e| format!("{a:?}: {e}"))).collect()
    }

    /// Adds these settings to `config`: the bootstrap peers, and the public network's
    /// peers unless the command line named some; the public network stays on only if
    /// both allow it. Addresses that do not parse are skipped, each with a warning.
    pub fn apply(&self, config: &mut NetConfig) {
        let parse = |list: &[String]| -> Vec<Multiaddr> {
            list.iter()
                .filter_map(|a| match a.parse() {
                    Ok(addr) => Some(addr),
                    Err(e) => {
                        tracing::warn!("network settings: skipping the address {a:?}: {e}");
                        None
                    }
                })
                .collect()
        };
        config.public &= self.public_network;
        for addr in parse(&self.bootstrap) {
            if !config.bootstrap.contains(&addr) {
                config.bootstrap.push(addr);
            }
        }
        if config.public_bootstrap.is_empty() {
            config.public_bootstrap = parse(&self.public_bootstrap);
        }
    }
}

/// Reads a JSON file; the default value when it is missing or does not parse.
pub(crate) fn load_json<T: Default + for<'de> Deserialize<'de>>(path: &Path) -> T {
    std::fs::read(path).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
}

/// Writes a JSON file atomically: a temporary file renamed over the old one.
pub(crate) fn save_json<T: Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(value).map_err(std::io::Error::other)?)?;
    std::fs::rename(tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_settings_add_to_the_command_line_and_bad_ones_are_named() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(NetworkSettings::load(dir.path()).unwrap(), NetworkSettings::default());
        let relay = "/ip4/10.0.0.1/tcp/4001/p2p/12D3KooWAnz7WxmxstAW2JZ9vyDmnocbsHtCvFFfRGdGRM13Yaw6";
        let s = NetworkSettings {
            public_network: false,
            public_bootstrap: vec!["/ip4/10.0.0.2/tcp/4001".into()],
            bootstrap: vec![relay.into(), "not an address".into()],
        };
        s.save(dir.path()).unwrap();
        let loaded = NetworkSettings::load(dir.path()).unwrap();
        assert_eq!(loaded, s);
        assert_eq!(NetworkSettings::bad_addrs(&loaded.bootstrap).len(), 1);
        let mut config = NetConfig { public: true, ..NetConfig::default() };
        loaded.apply(&mut config);
        assert!(!config.public, "the settings turn the public network off");
        assert_eq!(config.bootstrap, vec![relay.parse::<Multiaddr>().unwrap()], "the bad entry is skipped");
        assert_eq!(config.public_bootstrap.len(), 1);
        // The command line's public peers win over the settings'.
        let mut config = NetConfig {
            public_bootstrap: vec!["/ip4/10.0.0.3/tcp/1".parse().unwrap()],
            ..NetConfig::default()
        };
        loaded.apply(&mut config);
        assert_eq!(config.public_bootstrap[0].to_string(), "/ip4/10.0.0.3/tcp/1");
        std::fs::write(NetworkSettings::path(dir.path()), b"{\"public_network\": 3}").unwrap();
        let err = NetworkSettings::load(dir.path()).unwrap_err();
        assert!(err.contains("network.json") && err.contains("invalid type"), "{err}");
    }
}
