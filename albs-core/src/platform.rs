//! Platforms: a distribution release to build for (name, arches, dist tag,
//! macros, repositories), from a bundled configuration plus the user's own.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::model::Arch;

/// The platforms albs ships with (AlmaLinux 8, 9 and 10).
pub const BUNDLED: &str = include_str!("../data/platforms.toml");

/// Errors from reading platform configurations.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlatformError {
    /// The file could not be read.
    #[error("cannot read platform file {path}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a valid platform configuration.
    #[error("platform file {origin} is invalid: {message}")]
    Parse {
        /// Where the text came from.
        origin: String,
        /// What is wrong.
        message: String,
    },
    /// No platform has that name.
    #[error("no platform is named {name:?}; known platforms: {known}")]
    Unknown {
        /// The name asked for.
        name: String,
        /// The names that exist.
        known: String,
    },
    /// The platform does not build that architecture.
    #[error("platform {platform} does not build {arch}; its arches are {known}")]
    ArchNotSupported {
        /// Platform name.
        platform: String,
        /// The architecture asked for.
        arch: Arch,
        /// The arches it has.
        known: String,
    },
}

/// A package repository a platform builds against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Repository {
    /// Short name (`baseos`).
    pub name: String,
    /// Base URL; `$basearch` is replaced by the architecture.
    pub url: String,
}

/// A distribution release that albs builds for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    /// Unique name (`almalinux-9`).
    pub name: String,
    /// Architectures it builds.
    pub arches: Vec<Arch>,
    /// The `%dist` tag (`.el9`).
    pub dist_tag: String,
    /// Further rpm macros defined for every build (`rhel = "9"`).
    #[serde(default)]
    pub macros: BTreeMap<String, String>,
    /// Repositories build roots are made from.
    #[serde(default)]
    pub repositories: Vec<Repository>,
    /// Default per-task timeout in seconds (builds may override it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
}

/// The task timeout when neither the platform nor the build sets one: 3 hours.
pub const DEFAULT_TIMEOUT_SECS: u64 = 3 * 3600;

impl Platform {
    /// Every macro a build for this platform defines, `dist` included.
    pub fn all_macros(&self) -> BTreeMap<String, String> {
        let mut m = self.macros.clone();
        m.insert("dist".into(), self.dist_tag.clone());
        m
    }

    /// Checks that this platform builds `arch` (noarch and src always build).
    pub fn check_arch(&self, arch: &Arch) -> Result<(), PlatformError> {
        if arch.is_noarch() || arch.is_source() || self.arches.contains(arch) {
            return Ok(());
        }
        Err(PlatformError::ArchNotSupported {
            platform: self.name.clone(),
            arch: arch.clone(),
            known: join(&self.arches),
        })
    }
}

fn join(arches: &[Arch]) -> String {
    arches
        .iter()
        .map(Arch::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlatformFile {
    #[serde(default)]
    platform: Vec<Platform>,
}

/// A set of platforms by name.
#[derive(Debug, Clone, Default)]
pub struct Platforms {
    list: Vec<Platform>,
}

impl Platforms {
    /// The bundled platforms.
    pub fn bundled() -> Self {
        let mut p = Platforms::default();
        p.add_toml(BUNDLED, "<bundled>")
            .expect("the bundled platforms.toml is valid");
        p
    }

    /// Adds the platforms in a TOML text; a platform with a known name replaces it.
    pub fn add_toml(&mut self, text: &str, origin: &str) -> Result<(), PlatformError> {
        let file: PlatformFile = toml::from_str(text).map_err(|e| PlatformError::Parse {
            origin: origin.to_owned(),
            message: e.to_string(),
        })?;
        for p in file.platform {
            if p.arches.is_empty() {
                return Err(PlatformError::Parse {
                    origin: origin.to_owned(),
                    message: format!("platform {} lists no arches", p.name),
                });
            }
            self.list.retain(|q| q.name != p.name);
            self.list.push(p);
        }
        Ok(())
    }

    /// Adds the platforms in a TOML file.
    pub fn add_file(&mut self, path: &Path) -> Result<(), PlatformError> {
        let text = std::fs::read_to_string(path).map_err(|source| PlatformError::Read {
            path: path.display().to_string(),
            source,
        })?;
        self.add_toml(&text, &path.display().to_string())
    }

    /// The platform named `name`.
    pub fn get(&self, name: &str) -> Result<&Platform, PlatformError> {
        self.list
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| PlatformError::Unknown {
                name: name.to_owned(),
                known: self.names().join(", "),
            })
    }

    /// All platform names.
    pub fn names(&self) -> Vec<&str> {
        self.list.iter().map(|p| p.name.as_str()).collect()
    }

    /// All platforms.
    pub fn iter(&self) -> impl Iterator<Item = &Platform> {
        self.list.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_has_almalinux_8_9_10() {
        let p = Platforms::bundled();
        assert_eq!(p.get("almalinux-9").unwrap().dist_tag, ".el9");
        assert_eq!(p.get("almalinux-10").unwrap().all_macros()["dist"], ".el10");
        let err = p.get("fedora-40").unwrap_err().to_string();
        assert!(err.contains("almalinux-8"), "{err}");
    }

    #[test]
    fn user_platforms_add_and_replace() {
        let mut p = Platforms::bundled();
        p.add_toml(
            "[[platform]]\nname = \"almalinux-9\"\narches = [\"x86_64\"]\ndist_tag = \".el9_mine\"\n[[platform]]\nname = \"mine-1\"\narches = [\"riscv64\"]\ndist_tag = \".m1\"\n",
            "test",
        )
        .unwrap();
        assert_eq!(p.get("almalinux-9").unwrap().dist_tag, ".el9_mine");
        assert!(
            p.get("mine-1")
                .unwrap()
                .check_arch(&"riscv64".parse().unwrap())
                .is_ok()
        );
        assert!(
            p.get("mine-1")
                .unwrap()
                .check_arch(&"x86_64".parse().unwrap())
                .is_err()
        );
        let err = p
            .add_toml("[[platform]]\nname = 1\n", "bad.toml")
            .unwrap_err();
        assert!(err.to_string().contains("bad.toml"));
    }
}
