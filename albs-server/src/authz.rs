//! Authorization of writes: one check, [`authorize`], that every write
//! handler calls with the signed-in user (see [`crate::extract::UserAuth`]:
//! no or an unknown token is a 401 before this), the [`Action`] and the
//! [`Scope`] it acts in. It answers 403 with a message naming the user, the
//! action and the role needed, and records each decision in the audit log.
//!
//! Who may do what (the table is [`albs_core::rbac::allowed`]):
//! - global admins: everything;
//! - [`Action::is_global`] actions and [`Scope::Global`]: admins only;
//! - in a product owned by a team, or in a team: the members whose role in
//!   that team allows the action; members of other teams may not;
//! - a build of no team (no product, or a product no team owns) is a
//!   personal build: any signed-in user may create one, and only its owner
//!   (or an admin) acts on it.

use albs_core::db::User;
use albs_core::model::Build;
pub(crate) use albs_core::rbac::Action;
use albs_core::rbac::{Role, allowed};

use crate::error::AppError;
use crate::{AppState, now};

/// What an action acts on.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Scope<'a> {
    /// Nothing of one product or team (platforms, nodes, platform keys).
    Global,
    /// A product: its owning team's roles decide (admins only when no team
    /// owns it).
    Product(&'a str),
    /// A team (its members and their roles).
    Team(&'a str),
    /// An existing build: its product's team decides; a build of no team
    /// is its owner's.
    Build(&'a Build),
    /// Something new of `owner` (the caller, for a new build) in `product`:
    /// the product's team decides; of no team, it is the owner's.
    Owned {
        /// The product, if any.
        product: Option<&'a str>,
        /// The user it belongs to.
        owner: &'a str,
    },
}

impl Scope<'_> {
    fn describe(&self) -> String {
        match self {
            Scope::Global => "global".into(),
            Scope::Product(p) => format!("product {p}"),
            Scope::Team(t) => format!("team {t}"),
            Scope::Build(b) => format!("build {}", b.id),
            Scope::Owned {
                product: Some(p),
                owner,
            } if !p.is_empty() => format!("product {p} (for {owner})"),
            Scope::Owned { owner, .. } => format!("personal build of {owner}"),
        }
    }
}

/// Refuses with 403 unless `user` may do `action` in `scope`; records the
/// decision in the audit log either way.
pub(crate) async fn authorize(
    state: &AppState,
    user: &User,
    action: Action,
    scope: Scope<'_>,
) -> Result<(), AppError> {
    let object = scope.describe();
    let decision = decide(state, user, action, scope).await?;
    let outcome = match &decision {
        Ok(()) => "allowed".to_owned(),
        Err(why) => format!("denied: {why}"),
    };
    state
        .store
        .record_audit(now(), Some(&user.name), action.as_str(), &object, &outcome)
        .await?;
    decision.map_err(AppError::Forbidden)
}

/// Records in the audit log a write that no user made (a webhook with the
/// listener's secret).
pub(crate) async fn audit_anonymous(
    state: &AppState,
    action: Action,
    object: &str,
) -> Result<(), AppError> {
    state
        .store
        .record_audit(now(), None, action.as_str(), object, "allowed")
        .await?;
    Ok(())
}

fn needs(action: Action) -> String {
    let roles: Vec<&str> = action.roles().into_iter().map(Role::as_str).collect();
    match roles.as_slice() {
        [] => "a global admin".to_owned(),
        [one] => format!("the role {one}"),
        many => format!("one of the roles {}", many.join(", ")),
    }
}

/// `Ok(Ok(()))` allowed, `Ok(Err(why))` denied.
async fn decide(
    state: &AppState,
    user: &User,
    action: Action,
    scope: Scope<'_>,
) -> Result<Result<(), String>, AppError> {
    if user.admin {
        return Ok(Ok(()));
    }
    let name = &user.name;
    let object = scope.describe();
    if action.is_global() {
        return Ok(Err(format!(
            "user {name} may not {action} ({object}): only a global admin may"
        )));
    }
    let (team, owner) = match scope {
        Scope::Global => {
            return Ok(Err(format!(
                "user {name} may not {action} ({object}): only a global admin may"
            )));
        }
        Scope::Team(t) => (Some(t.to_owned()), None),
        Scope::Product(p) => match state.store.product_team(p).await? {
            Some(t) => (Some(t), None),
            None => {
                return Ok(Err(format!(
                    "user {name} may not {action} ({object}): no team owns product {p}, so only a global admin may"
                )));
            }
        },
        Scope::Build(b) => owned(state, b.options.product.as_deref(), &b.owner).await?,
        Scope::Owned { product, owner } => owned(state, product, owner).await?,
    };
    if let Some(team) = team {
        let role = state.store.team_role(&team, user.id).await?;
        return Ok(match role {
            Some(r) if allowed(r, action) => Ok(()),
            Some(r) => Err(format!(
                "user {name} may not {action} ({object}): it needs {} in team {team}, where {name} is {r}",
                needs(action)
            )),
            None => Err(format!(
                "user {name} may not {action} ({object}): it needs {} in team {team}, and {name} is not a member",
                needs(action)
            )),
        });
    }
    let owner = owner.unwrap_or_default();
    Ok(if owner == *name {
        Ok(())
    } else {
        Err(format!(
            "user {name} may not {action} ({object}): it is a personal build of {owner}; only its owner or a global admin may"
        ))
    })
}

/// The team deciding for an object of `owner` in `product`, else its owner.
async fn owned(
    state: &AppState,
    product: Option<&str>,
    owner: &str,
) -> Result<(Option<String>, Option<String>), AppError> {
    let team = match product.filter(|p| !p.is_empty()) {
        Some(p) => state.store.product_team(p).await?,
        None => None,
    };
    Ok(match team {
        Some(t) => (Some(t), None),
        None => (None, Some(owner.to_owned())),
    })
}
