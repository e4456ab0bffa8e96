//! The current person's profile, only with their consent (the `profile`
//! capability in the manifest, and the person's grant).

use crate::backend::identity as host;
use crate::bindings::superapp::platform::identity as raw;

/// What the person lets this app see of them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Profile {
    /// The name the person chose to show.
    pub display_name: String,
    /// Whether the operator verified the person's real name.
    pub verified: bool,
    /// Whether the person is under 18; `None` when not verified.
    pub is_minor: Option<bool>,
}

/// Why the profile could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProfileError {
    /// The person has not decided yet; the app may ask them once.
    NotGranted,
    /// The person refused; do not ask again (it sticks until they change it).
    Refused,
    /// The call has no user.
    NoUser,
    /// The host failed; its stable code (`storage-io`…).
    Internal(String),
}

impl std::fmt::Display for ProfileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProfileError::NotGranted => f.write_str("the person has not granted the profile scope"),
            ProfileError::Refused => f.write_str("the person refused the profile scope"),
            ProfileError::NoUser => f.write_str("the call has no user"),
            ProfileError::Internal(m) => write!(f, "host error: {m}"),
        }
    }
}

impl std::error::Error for ProfileError {}

/// So a handler can write `identity::profile()?`: 403 with the consent's
/// state as the code (the UI can then ask, or respect a refusal).
impl From<ProfileError> for crate::Error {
    fn from(e: ProfileError) -> Self {
        let message = e.to_string();
        match e {
            ProfileError::NotGranted => crate::Error::new(403, "profile-not-granted", message),
            ProfileError::Refused => crate::Error::new(403, "profile-refused", message),
            ProfileError::NoUser => crate::Error::sign_in_required(),
            ProfileError::Internal(_) => crate::Error::internal(message),
        }
    }
}

/// The current person's profile. Every call appears in their access log.
///
/// The manifest must declare `[capabilities.profile]` (with a `purpose`),
/// and the person must grant it (`PUT /me/apps/{id}/grants/profile` with
/// `{"decision":"grant"}`, or the shell's consent sheet). Until then it is
/// [`ProfileError::NotGranted`]; after a refusal [`ProfileError::Refused`],
/// which sticks: do without, and do not ask again.
///
/// ```
/// use superapp_sdk::identity::{self, ProfileError};
/// use superapp_sdk::mock::{Consent, MockHost};
/// use superapp_sdk::{App, Error, Request, Response, Router};
///
/// struct Greeter;
///
/// impl App for Greeter {
///     fn handle(req: Request) -> Response {
///         Router::new()
///             .get("/hello", |_| match identity::profile() {
///                 Ok(p) => Ok(Response::text(format!("Hello, {}!", p.display_name))),
///                 // 403 `profile-not-granted`: the client may ask the person once.
///                 Err(e @ ProfileError::NotGranted) => Err(Error::from(e)),
///                 Err(ProfileError::Refused) => Ok(Response::text("Hello!")),
///                 Err(e) => Err(e.into()),
///             })
///             .handle(req)
///     }
/// }
///
/// let host = MockHost::<Greeter>::new("greeter");
/// let ann = host.person("ann");
/// assert_eq!(host.get(&ann, "/hello").status, 403);
/// host.set_consent(&ann, Consent::Granted);
/// assert_eq!(host.get(&ann, "/hello").body_text(), "Hello, ann!");
/// host.set_consent(&ann, Consent::Refused);
/// assert_eq!(host.get(&ann, "/hello").body_text(), "Hello!");
/// ```
pub fn profile() -> Result<Profile, ProfileError> {
    match host::profile() {
        Ok(p) => Ok(Profile {
            display_name: p.display_name,
            verified: p.verified,
            is_minor: p.is_minor,
        }),
        Err(raw::Error::Denied(raw::Denial::NotGranted)) => Err(ProfileError::NotGranted),
        Err(raw::Error::Denied(raw::Denial::Refused)) => Err(ProfileError::Refused),
        Err(raw::Error::NoUser) => Err(ProfileError::NoUser),
        Err(raw::Error::Internal(p)) => Err(ProfileError::Internal(p.code)),
    }
}

#[cfg(test)]
mod tests {
    use crate::mock::{Consent, MockHost};
    use crate::{App, Error, Request, Response, Router, identity};

    struct Greeter;
    impl App for Greeter {
        fn handle(req: Request) -> Response {
            fn me(_: &Request) -> Result<Response, Error> {
                let p = identity::profile()?;
                Ok(Response::text(format!("hello {}", p.display_name)))
            }
            Router::new().get("/me", me).handle(req)
        }
    }

    #[test]
    fn a_profile_error_answers_with_the_consent_state_through_question_mark() {
        let host = MockHost::<Greeter>::new("greeter");
        let amy = host.person("amy");
        let asked = host.get(&amy, "/me");
        assert_eq!(
            (
                asked.status,
                asked.body_text().contains("profile-not-granted")
            ),
            (403, true)
        );
        host.set_consent(&amy, Consent::Refused);
        let refused = host.get(&amy, "/me");
        assert_eq!(
            (
                refused.status,
                refused.body_text().contains("profile-refused")
            ),
            (403, true)
        );
        host.set_consent(&amy, Consent::Granted);
        assert_eq!(host.get(&amy, "/me").body_text(), "hello amy");
    }
}
