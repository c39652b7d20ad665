//! Registered rooms, local sessions and the lobby: the state behind the Visio API that is not
//! a live LiveKit room. It is owned by the core task (reached through `ApiCmd::Registry`), so
//! it needs no lock; everything here is plain logic with its own tests.
//!
//! The local server has no identity provider. A *local session* stands in for Visio's Django
//! session: it is created by the first `POST rooms/` of a client, is a 256-bit random secret
//! kept by the client as an HttpOnly cookie, and makes that client the owner of the rooms it
//! creates. Whoever holds the cookie is the owner; nothing else identifies a user.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Who may join without the lobby, as Visio's `RoomAccessLevel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccessLevel {
    /// Everyone joins directly.
    Public,
    /// Logged-in users join directly; others wait in the lobby.
    Trusted,
    /// Members (any role in the room) join directly; others wait in the lobby.
    Restricted,
}

impl AccessLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Trusted => "trusted",
            Self::Restricted => "restricted",
        }
    }
}

/// A user's role in a room, as Visio's `RoleChoices`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Owner,
    Administrator,
    Member,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Administrator => "administrator",
            Self::Member => "member",
        }
    }

    /// Owners and administrators moderate and get LiveKit's `roomAdmin` grant.
    pub fn is_admin(self) -> bool {
        matches!(self, Self::Owner | Self::Administrator)
    }
}

#[derive(Debug, Clone)]
pub struct RegisteredRoom {
    /// A UUID; also the LiveKit room name, as in Visio.
    pub id: String,
    pub slug: String,
    pub name: String,
    pub access_level: AccessLevel,
    /// User `sub` → role.
    pub accesses: HashMap<String, Role>,
}

impl RegisteredRoom {
    pub fn role(&self, sub: Option<&str>) -> Option<Role> {
        sub.and_then(|s| self.accesses.get(s).copied())
    }
}

/// The user a local session stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalUser {
    /// Stable identity, used as the LiveKit identity like an OIDC `sub`.
    pub sub: String,
    /// The CSRF token bound to the session (`csrftoken` cookie, `X-CSRFToken` header).
    pub csrf: String,
    /// The name given on the local sign-in page (`users/me/`'s `full_name`); `None` for a
    /// session opened by a first room creation.
    pub name: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LobbyStatus {
    Waiting,
    Accepted,
    Denied,
}

/// A participant in a room's lobby, serialised as Visio's `LobbyParticipant.to_dict()`.
#[derive(Debug, Clone, Serialize)]
pub struct LobbyEntry {
    pub status: LobbyStatus,
    pub username: String,
    pub id: String,
    pub color: String,
    #[serde(skip)]
    expires: Instant,
}

/// How long a waiting entry lives without a poll. Visio uses 3 s with clients polling every
/// second; a little more here so a busy machine does not drop a waiting participant.
pub const WAITING_TIMEOUT: Duration = Duration::from_secs(10);
/// A denial is remembered this long, then the participant may ask again (Visio: 5 s).
pub const DENIED_TIMEOUT: Duration = Duration::from_secs(5);
/// An admission lasts as long as the token it yields (6 h).
pub const ACCEPTED_TIMEOUT: Duration = Duration::from_secs(6 * 3600);

#[derive(Debug, PartialEq, Eq)]
pub enum CreateError {
    SlugTaken,
}

#[derive(Default)]
pub struct Registry {
    rooms: HashMap<String, RegisteredRoom>,
    slugs: HashMap<String, String>,
    sessions: HashMap<String, LocalUser>,
    lobby: HashMap<(String, String), LobbyEntry>,
}

/// What `request_entry` decided.
#[derive(Debug, Clone)]
pub struct EntryOutcome {
    pub entry: LobbyEntry,
    /// The participant just started waiting: the room's admins are to be told.
    pub newly_waiting: bool,
}

impl Registry {
    /// A new local session: its secret (the cookie value) and user.
    pub fn create_session(&mut self) -> (String, LocalUser) {
        self.sign_in(None)
    }

    /// A new local session for someone who signed in with a display name: a fresh secret and
    /// a new user (as Django rotates the session key at login).
    pub fn sign_in(&mut self, name: Option<String>) -> (String, LocalUser) {
        let secret = crate::ids::secret(43);
        let user = LocalUser {
            sub: crate::ids::uuid_v4(),
            csrf: crate::ids::secret(32),
            name,
        };
        self.sessions.insert(secret.clone(), user.clone());
        (secret, user)
    }

    /// Ends a session (logout); true when it existed. Its rooms keep their owner's `sub`,
    /// which nobody holds any more.
    pub fn end_session(&mut self, session: &str) -> bool {
        self.sessions.remove(session).is_some()
    }

    pub fn user(&self, session: &str) -> Option<LocalUser> {
        self.sessions.get(session).cloned()
    }

    pub fn create_room(
        &mut self,
        slug: &str,
        name: &str,
        access_level: AccessLevel,
        owner: &str,
    ) -> Result<RegisteredRoom, CreateError> {
        if self.slugs.contains_key(slug) {
            return Err(CreateError::SlugTaken);
        }
        let room = RegisteredRoom {
            id: crate::ids::uuid_v4(),
            slug: slug.to_owned(),
            name: name.to_owned(),
            access_level,
            accesses: HashMap::from([(owner.to_owned(), Role::Owner)]),
        };
        self.slugs.insert(slug.to_owned(), room.id.clone());
        self.rooms.insert(room.id.clone(), room.clone());
        Ok(room)
    }

    /// A registered room by id or by (normalised) slug.
    pub fn room(&self, id_or_slug: &str) -> Option<RegisteredRoom> {
        let id = self
            .slugs
            .get(id_or_slug)
            .map(String::as_str)
            .unwrap_or(id_or_slug);
        self.rooms.get(id).cloned()
    }

    fn expire(&mut self, now: Instant) {
        self.lobby.retain(|_, e| e.expires > now);
    }

    /// A participant (by its `lobbyParticipantId`) asks to enter. `bypass` is true when the
    /// caller may join without waiting (see Visio's `can_bypass_lobby`).
    pub fn request_entry(
        &mut self,
        room_id: &str,
        participant_id: &str,
        username: &str,
        color: &str,
        bypass: bool,
        now: Instant,
    ) -> EntryOutcome {
        self.expire(now);
        let key = (room_id.to_owned(), participant_id.to_owned());
        if bypass {
            let entry = self.lobby.entry(key).or_insert_with(|| LobbyEntry {
                status: LobbyStatus::Accepted,
                username: username.to_owned(),
                id: participant_id.to_owned(),
                color: color.to_owned(),
                expires: now + ACCEPTED_TIMEOUT,
            });
            entry.status = LobbyStatus::Accepted;
            return EntryOutcome {
                entry: entry.clone(),
                newly_waiting: false,
            };
        }
        match self.lobby.get_mut(&key) {
            Some(e) => {
                if e.status == LobbyStatus::Waiting {
                    e.expires = now + WAITING_TIMEOUT;
                }
                EntryOutcome {
                    entry: e.clone(),
                    newly_waiting: false,
                }
            }
            None => {
                let e = LobbyEntry {
                    status: LobbyStatus::Waiting,
                    username: username.to_owned(),
                    id: participant_id.to_owned(),
                    color: color.to_owned(),
                    expires: now + WAITING_TIMEOUT,
                };
                self.lobby.insert(key, e.clone());
                EntryOutcome {
                    entry: e,
                    newly_waiting: true,
                }
            }
        }
    }

    /// Who waits in a room's lobby now.
    pub fn waiting(&mut self, room_id: &str, now: Instant) -> Vec<LobbyEntry> {
        self.expire(now);
        let mut v: Vec<LobbyEntry> = self
            .lobby
            .iter()
            .filter(|((r, _), e)| r == room_id && e.status == LobbyStatus::Waiting)
            .map(|(_, e)| e.clone())
            .collect();
        v.sort_by(|a, b| a.username.cmp(&b.username).then(a.id.cmp(&b.id)));
        v
    }

    /// An admin admits or denies a participant; false when it is not in the lobby.
    pub fn decide(
        &mut self,
        room_id: &str,
        participant_id: &str,
        allow: bool,
        now: Instant,
    ) -> bool {
        self.expire(now);
        let key = (room_id.to_owned(), participant_id.to_owned());
        let Some(e) = self.lobby.get_mut(&key) else {
            return false;
        };
        if allow {
            e.status = LobbyStatus::Accepted;
            e.expires = now + ACCEPTED_TIMEOUT;
        } else {
            e.status = LobbyStatus::Denied;
            e.expires = now + DENIED_TIMEOUT;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lobby_waits_then_admits_or_denies() {
        let mut reg = Registry::default();
        let (_, owner) = reg.create_session();
        let room = reg
            .create_room(
                "abc-defg-hij",
                "abc-defg-hij",
                AccessLevel::Restricted,
                &owner.sub,
            )
            .expect("created");
        assert_eq!(
            reg.create_room("abc-defg-hij", "x", AccessLevel::Public, &owner.sub)
                .unwrap_err(),
            CreateError::SlugTaken
        );
        assert_eq!(
            reg.room("abc-defg-hij").map(|r| r.id.clone()),
            Some(room.id.clone())
        );
        assert_eq!(room.role(Some(&owner.sub)), Some(Role::Owner));

        let t0 = Instant::now();
        let first = reg.request_entry(&room.id, "p1", "Bob", "#000", false, t0);
        assert_eq!(first.entry.status, LobbyStatus::Waiting);
        assert!(first.newly_waiting);
        let again = reg.request_entry(&room.id, "p1", "Bob", "#000", false, t0);
        assert!(!again.newly_waiting, "a poll is not a new arrival");
        assert_eq!(reg.waiting(&room.id, t0)[0].username, "Bob");

        assert!(reg.decide(&room.id, "p1", true, t0));
        let accepted = reg.request_entry(&room.id, "p1", "Bob", "#000", false, t0);
        assert_eq!(accepted.entry.status, LobbyStatus::Accepted);
        assert!(reg.waiting(&room.id, t0).is_empty());
        assert!(!reg.decide(&room.id, "nobody", true, t0));

        reg.request_entry(&room.id, "p2", "Eve", "#000", false, t0);
        assert!(reg.decide(&room.id, "p2", false, t0));
        let denied = reg.request_entry(&room.id, "p2", "Eve", "#000", false, t0);
        assert_eq!(denied.entry.status, LobbyStatus::Denied);
        // After the denial expires the participant may ask again.
        let later = t0 + DENIED_TIMEOUT + Duration::from_secs(1);
        let retry = reg.request_entry(&room.id, "p2", "Eve", "#000", false, later);
        assert_eq!(retry.entry.status, LobbyStatus::Waiting);
    }

    #[test]
    fn waiting_entries_expire_without_polls() {
        let mut reg = Registry::default();
        let t0 = Instant::now();
        reg.request_entry("r", "p", "Bob", "#000", false, t0);
        assert_eq!(reg.waiting("r", t0 + Duration::from_secs(1)).len(), 1);
        assert!(reg.waiting("r", t0 + WAITING_TIMEOUT).is_empty());
    }

    #[test]
    fn sessions_are_secrets() {
        let mut reg = Registry::default();
        let (s1, u1) = reg.create_session();
        let (s2, u2) = reg.create_session();
        assert_ne!(s1, s2);
        assert_ne!(u1.sub, u2.sub);
        assert!(s1.len() >= 43);
        assert_eq!(reg.user(&s1), Some(u1));
        assert_eq!(reg.user("guess"), None);
        let (s3, u3) = reg.sign_in(Some("Camille".into()));
        assert_eq!(reg.user(&s3).and_then(|u| u.name), Some("Camille".into()));
        assert_ne!(u3.sub, u2.sub);
        assert!(reg.end_session(&s3));
        assert!(!reg.end_session(&s3), "ended once");
        assert_eq!(reg.user(&s3), None);
        assert_eq!(reg.user(&s2), Some(u2), "other sessions live on");
    }
}
