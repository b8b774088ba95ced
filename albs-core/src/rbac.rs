//! Role-based access control: the roles a user holds in a team, the writes
//! ([`Action`]s) the server accepts, and the one table ([`allowed`]) of
//! which role may do which action; plus the password hashes of web login.
//!
//! The model:
//! - a **team** has members, each with one [`Role`];
//! - a **product** (a SIG namespace owning builds, keys and repositories)
//!   belongs to at most one team; a user's role for an object of the
//!   product is their role in that team (none for a member of another
//!   team);
//! - **global admins** (`users.admin`) may do everything, everywhere;
//! - [`Action::is_global`] actions (platforms, nodes, products, teams,
//!   users, the audit log, platform keys) are for admins only;
//! - a build of no team (no product, or a product no team owns) is a
//!   personal build: any signed-in user may create one, and only its owner
//!   (or an admin) may act on it.

use std::fmt;
use std::str::FromStr;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use serde::{Deserialize, Serialize};

/// A role in a team.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads the team's private objects; writes nothing.
    Observer,
    /// Creates builds and acts on them (cancel, restart, tests); drafts
    /// releases and errata.
    Contributor,
    /// What a contributor does, and deletes builds, manages the team and
    /// its products' members and keys, commits and reverts releases,
    /// approves and releases errata.
    Maintainer,
    /// Signs: asks for builds to be signed and manages the products' keys.
    Signer,
}

impl Role {
    /// Every role, least to most powerful (signer aside).
    pub const ALL: [Role; 4] = [
        Role::Observer,
        Role::Contributor,
        Role::Maintainer,
        Role::Signer,
    ];

    /// The role's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Observer => "observer",
            Role::Contributor => "contributor",
            Role::Maintainer => "maintainer",
            Role::Signer => "signer",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not a role.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a role; the roles are observer, contributor, maintainer and signer")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, UnknownRole> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

macro_rules! actions {
    ($($(#[$doc:meta])* $name:ident = $text:literal,)*) => {
        /// Every write the server accepts from users.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[non_exhaustive]
        pub enum Action {
            $($(#[$doc])* $name,)*
        }

        impl Action {
            /// Every action.
            pub const ALL: &'static [Action] = &[$(Action::$name,)*];

            /// The action's name, as audit records show it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Action::$name => $text,)*
                }
            }
        }
    };
}

actions! {
    /// Create a build.
    CreateBuild = "create build",
    /// Cancel a build.
    CancelBuild = "cancel build",
    /// Restart a build's failed tasks.
    RestartBuild = "restart build",
    /// Delete a build.
    DeleteBuild = "delete build",
    /// Restart a build's tests.
    RestartTests = "restart tests",
    /// Cancel a build's tests.
    CancelTests = "cancel tests",
    /// Ask for a build's packages to be signed.
    CreateSignTask = "create sign task",
    /// Register a signing key (rotating the one before).
    RegisterKey = "register key",
    /// Archive a signing key.
    ArchiveKey = "archive key",
    /// Add a reader to a product.
    AddProductMember = "add product member",
    /// Add or change a member of a team.
    ManageTeam = "manage team",
    /// Create a release.
    CreateRelease = "create release",
    /// Edit a release.
    EditRelease = "edit release",
    /// Commit a release.
    CommitRelease = "commit release",
    /// Revert a release.
    RevertRelease = "revert release",
    /// Create an erratum.
    CreateErratum = "create erratum",
    /// Edit an erratum.
    EditErratum = "edit erratum",
    /// Approve an erratum.
    ApproveErratum = "approve erratum",
    /// Release an erratum.
    ReleaseErratum = "release erratum",
    /// Create or replace a platform.
    PutPlatform = "put platform",
    /// Register a build node.
    RegisterNode = "register node",
    /// Create a product.
    CreateProduct = "create product",
    /// Create a team.
    CreateTeam = "create team",
    /// Create a user.
    CreateUser = "create user",
    /// Poll a watched git repository now.
    GitHook = "git hook",
    /// Read the audit log.
    ReadAudit = "read audit",
}

impl Action {
    /// Actions only global admins may do (they concern no one product).
    pub fn is_global(self) -> bool {
        matches!(
            self,
            Action::PutPlatform
                | Action::RegisterNode
                | Action::CreateProduct
                | Action::CreateTeam
                | Action::CreateUser
                | Action::GitHook
                | Action::ReadAudit
        )
    }

    /// The roles that may do this action in a team's scope (empty for
    /// [`Action::is_global`] ones).
    pub fn roles(self) -> Vec<Role> {
        Role::ALL
            .into_iter()
            .filter(|&r| allowed(r, self))
            .collect()
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a member with `role` in the team owning the object may do
/// `action` to it. Global admins pass every check before this table is
/// read; [`Action::is_global`] actions are allowed to no role.
pub fn allowed(role: Role, action: Action) -> bool {
    use Action as A;
    use Role as R;
    match action {
        A::CreateBuild
        | A::CancelBuild
        | A::RestartBuild
        | A::RestartTests
        | A::CancelTests
        | A::CreateRelease
        | A::EditRelease
        | A::CreateErratum
        | A::EditErratum => matches!(role, R::Contributor | R::Maintainer),
        A::DeleteBuild
        | A::AddProductMember
        | A::ManageTeam
        | A::CommitRelease
        | A::RevertRelease
        | A::ApproveErratum
        | A::ReleaseErratum => role == R::Maintainer,
        A::CreateSignTask => role == R::Signer,
        A::RegisterKey | A::ArchiveKey => matches!(role, R::Maintainer | R::Signer),
        A::PutPlatform
        | A::RegisterNode
        | A::CreateProduct
        | A::CreateTeam
        | A::CreateUser
        | A::GitHook
        | A::ReadAudit => false,
    }
}

/// Errors of password hashing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PasswordError {
    /// The password is too short or too long.
    #[error("the password must have 8 to 1024 characters, not {0}")]
    Length(usize),
    /// The operating system's random source failed.
    #[error("cannot read random bytes for a salt: {0}")]
    Random(String),
    /// Hashing failed.
    #[error("cannot hash the password: {0}")]
    Hash(String),
}

/// The argon2id parameters of new password hashes: 19 MiB of memory, 2
/// passes, 1 lane, a 32-byte hash (OWASP's recommendation). Stored hashes
/// carry their own parameters (PHC string format), so these may grow.
pub const ARGON2_MEMORY_KIB: u32 = 19 * 1024;
/// Passes over the memory.
pub const ARGON2_ITERATIONS: u32 = 2;
/// Lanes.
pub const ARGON2_LANES: u32 = 1;

fn argon2id() -> Result<Argon2<'static>, PasswordError> {
    let params = Params::new(ARGON2_MEMORY_KIB, ARGON2_ITERATIONS, ARGON2_LANES, Some(32))
        .map_err(|e| PasswordError::Hash(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// The argon2id hash of `password` with a random salt, as a PHC string
/// (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`).
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    let n = password.chars().count();
    if !(8..=1024).contains(&n) {
        return Err(PasswordError::Length(n));
    }
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| PasswordError::Random(e.to_string()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| PasswordError::Hash(e.to_string()))?;
    let hash = argon2id()?
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| PasswordError::Hash(e.to_string()))?;
    Ok(hash.to_string())
}

/// Whether `password` matches the PHC string `stored` (false for a
/// malformed one).
pub fn verify_password(password: &str, stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

/// A random password of 24 characters (about 143 bits), for the first
/// admin.
pub fn new_password() -> Result<String, PasswordError> {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).map_err(|e| PasswordError::Random(e.to_string()))?;
    // 256 is not a multiple of 57: reject the biased tail.
    let mut out = String::with_capacity(24);
    let limit = 256 - 256 % ALPHABET.len();
    let mut buf = bytes.to_vec();
    while out.len() < 24 {
        for &b in &buf {
            if (b as usize) < limit && out.len() < 24 {
                out.push(ALPHABET[b as usize % ALPHABET.len()] as char);
            }
        }
        getrandom::fill(&mut buf).map_err(|e| PasswordError::Random(e.to_string()))?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_of_roles() {
        use Action as A;
        use Role as R;
        // Observers write nothing.
        assert!(A::ALL.iter().all(|&a| !allowed(R::Observer, a)));
        // Global actions belong to admins only.
        for &a in A::ALL {
            if a.is_global() {
                assert!(a.roles().is_empty(), "{a}");
            } else {
                assert!(!a.roles().is_empty(), "{a} is allowed to no role");
            }
        }
        assert!(allowed(R::Contributor, A::CreateBuild));
        assert!(allowed(R::Contributor, A::CancelBuild));
        assert!(!allowed(R::Contributor, A::DeleteBuild));
        assert!(allowed(R::Maintainer, A::DeleteBuild));
        assert!(!allowed(R::Contributor, A::CommitRelease));
        assert!(allowed(R::Maintainer, A::CommitRelease));
        assert!(allowed(R::Signer, A::CreateSignTask));
        assert!(!allowed(R::Maintainer, A::CreateSignTask));
        assert!(!allowed(R::Signer, A::CreateBuild));
        assert!(allowed(R::Signer, A::RegisterKey));
        assert!(!allowed(R::Contributor, A::RegisterKey));
        assert!(!allowed(R::Maintainer, A::CreateTeam));
        assert_eq!(A::ManageTeam.roles(), vec![R::Maintainer]);
    }

    #[test]
    fn roles_parse_and_print() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
        }
        let e = "owner".parse::<Role>().unwrap_err();
        assert!(e.to_string().contains("\"owner\""), "{e}");
        let names: std::collections::HashSet<_> = Action::ALL.iter().map(|a| a.as_str()).collect();
        assert_eq!(names.len(), Action::ALL.len());
    }

    #[test]
    fn passwords_are_hashed_with_argon2id() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(!h.contains("correct horse"));
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("correct horse batterz", &h));
        assert!(!verify_password("correct horse battery", "not a hash"));
        let h2 = hash_password("correct horse battery").unwrap();
        assert_ne!(h, h2, "salted");
        assert!(matches!(
            hash_password("short"),
            Err(PasswordError::Length(5))
        ));
        let p = new_password().unwrap();
        assert_eq!(p.len(), 24);
        assert_ne!(p, new_password().unwrap());
    }
}
