//! Settings and recent rooms, as JSON files in the app's config directory: `<config>/visio/`
//! (`~/.config/visio/` on Linux), shared with the `visio` CLI and the accounts' profiles;
//! `VISIO_DESKTOP_CONFIG_DIR` overrides it, which tests use to stay out of the user's files.
//! Settings go through the `policy` crate: IT policy wins and its locked settings are named.
//! A damaged file is set aside, never fatal.

use std::path::{Path, PathBuf};

use crate::bridge::{AppError, ErrorCode, RecentRoom, RoomRef, Settings, SettingsPatch};

/// Recent rooms kept, newest first.
pub const MAX_RECENT: usize = 10;

pub struct Store {
    dir: PathBuf,
    policy: policy::Policy,
    /// Problems met reading the IT policy (shown to the user, logged); the app runs on.
    policy_errors: Vec<String>,
}

impl Store {
    /// The store in `VISIO_DESKTOP_CONFIG_DIR`, else the platform config dir, with the
    /// platform's IT policy (`/etc/visio/policy.toml` or `VISIO_POLICY_FILE` on Linux).
    pub fn from_env() -> Self {
        let dir = std::env::var_os("VISIO_DESKTOP_CONFIG_DIR")
            .map(PathBuf::from)
            .or_else(|| accounts::default_config_dir().ok())
            .unwrap_or_else(|| PathBuf::from(".visio"));
        match policy::read_platform_policy() {
            Ok(p) => Self::with_policy(&dir, p),
            Err(e) => {
                tracing::warn!("{e}");
                let mut store = Self::at(&dir);
                store.policy_errors.push(e.to_string());
                store
            }
        }
    }

    /// A store without IT policy.
    pub fn at(dir: &Path) -> Self {
        Self::with_policy(dir, policy::Policy::default())
    }

    pub fn with_policy(dir: &Path, policy: policy::Policy) -> Self {
        Self {
            dir: dir.to_path_buf(),
            policy,
            policy_errors: vec![],
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn policy(&self) -> &policy::Policy {
        &self.policy
    }

    pub fn policy_errors(&self) -> &[String] {
        &self.policy_errors
    }

    /// The user's own settings (before policy).
    fn user_settings(&self) -> policy::Settings {
        let path = self.dir.join("settings.json");
        match policy::read_settings(&path) {
            Ok(s) => s,
            Err(e) => {
                let aside = path.with_extension("json.damaged");
                tracing::warn!("{e}; moved to {}", aside.display());
                let _ = std::fs::rename(&path, aside);
                policy::Settings::default()
            }
        }
    }

    /// The settings the app uses: the user's, with the IT policy applied.
    pub fn settings(&self) -> Settings {
        policy::merge(&self.policy, self.user_settings())
    }

    /// Applies `patch` to the user's settings. Changing a setting IT policy locked is refused
    /// (`not_allowed`) and nothing is saved; sending a locked setting's current value is fine.
    /// The user's file keeps the user's own choices (the policy is applied when read).
    pub fn update_settings(&self, patch: SettingsPatch) -> Result<Settings, AppError> {
        let effective = self.settings();
        let name = patch
            .display_name
            .as_ref()
            .map(|v| v.trim().chars().take(100).collect::<String>());
        let changes = [
            (
                "language",
                patch.language.is_some_and(|v| v != effective.language),
            ),
            (
                "displayName",
                name.as_ref().is_some_and(|v| *v != effective.display_name),
            ),
            (
                "lowBandwidth",
                patch
                    .low_bandwidth
                    .is_some_and(|v| v != effective.low_bandwidth),
            ),
            (
                "captions",
                patch.captions.is_some_and(|v| v != effective.captions),
            ),
            (
                "onDeviceCaptions",
                patch
                    .on_device_captions
                    .is_some_and(|v| v != effective.on_device_captions),
            ),
            (
                "publishMyCaptions",
                patch
                    .publish_my_captions
                    .is_some_and(|v| v != effective.publish_my_captions),
            ),
            (
                "saveTranscripts",
                patch
                    .save_transcripts
                    .is_some_and(|v| v != effective.save_transcripts),
            ),
        ];
        let locked = |n: &str| effective.locked.iter().any(|l| l == n);
        if let Some((n, _)) = changes.iter().find(|(n, changed)| *changed && locked(n)) {
            return Err(AppError::new(
                ErrorCode::NotAllowed,
                format!("the setting {n} is locked by IT policy"),
            ));
        }
        let mut s = self.user_settings();
        if let Some(v) = patch.language.filter(|_| !locked("language")) {
            s.language = v;
        }
        if let Some(v) = name.filter(|_| !locked("displayName")) {
            // Names are shown to everyone: kept to one reasonable line (above).
            s.display_name = v;
        }
        if let Some(v) = patch.low_bandwidth.filter(|_| !locked("lowBandwidth")) {
            s.low_bandwidth = v;
        }
        if let Some(v) = patch.captions.filter(|_| !locked("captions")) {
            s.captions = v;
        }
        if let Some(v) = patch
            .on_device_captions
            .filter(|_| !locked("onDeviceCaptions"))
        {
            s.on_device_captions = v;
        }
        if let Some(v) = patch
            .publish_my_captions
            .filter(|_| !locked("publishMyCaptions"))
        {
            s.publish_my_captions = v;
        }
        if let Some(v) = patch
            .save_transcripts
            .filter(|_| !locked("saveTranscripts"))
        {
            s.save_transcripts = v;
        }
        if let Some(v) = patch.caption_threads {
            // At least one, at most the machine's cores.
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
            s.caption_threads = v.map(|n| n.clamp(1, cores.max(1)));
        }
        if let Some(v) = patch.captions_model {
            s.captions_model = v;
        }
        if let Some(v) = patch.camera_id {
            s.camera_id = v;
        }
        if let Some(v) = patch.microphone_id {
            s.microphone_id = v;
        }
        if let Some(v) = patch.speaker_id {
            s.speaker_id = v;
        }
        policy::save_settings(
            &self.dir.join("settings.json"),
            &policy::Policy::default(),
            &s,
        )
        .map_err(|e| AppError::new(ErrorCode::Internal, e.to_string()))?;
        Ok(self.settings())
    }

    pub fn recent_rooms(&self) -> Vec<RecentRoom> {
        self.read::<Vec<RecentRoom>>("recent-rooms.json")
            .unwrap_or_default()
    }

    /// Puts `room` first (once), keeps [`MAX_RECENT`].
    pub fn add_recent(&self, room: &RoomRef, now_iso: String) -> Result<(), AppError> {
        let mut list = self.recent_rooms();
        list.retain(|r| r.link != room.link);
        list.insert(
            0,
            RecentRoom {
                server: room.server.clone(),
                room_code: room.room_code.clone(),
                link: room.link.clone(),
                last_joined_at: now_iso,
            },
        );
        list.truncate(MAX_RECENT);
        self.write("recent-rooms.json", &list)
    }

    fn read<T: serde::de::DeserializeOwned>(&self, name: &str) -> Option<T> {
        let path = self.dir.join(name);
        let text = std::fs::read_to_string(&path).ok()?;
        match serde_json::from_str(&text) {
            Ok(v) => Some(v),
            Err(e) => {
                let aside = path.with_extension("json.damaged");
                tracing::warn!(
                    "{} is damaged ({e}); moved to {}",
                    path.display(),
                    aside.display()
                );
                let _ = std::fs::rename(&path, aside);
                None
            }
        }
    }

    fn write<T: serde::Serialize>(&self, name: &str, value: &T) -> Result<(), AppError> {
        let fail = |e: std::io::Error| {
            AppError::new(
                ErrorCode::Internal,
                format!("cannot save {}: {e}", self.dir.join(name).display()),
            )
        };
        std::fs::create_dir_all(&self.dir).map_err(fail)?;
        let text = serde_json::to_string_pretty(value)
            .map_err(|e| AppError::new(ErrorCode::Internal, e.to_string()))?;
        // Write then rename, so a crash never leaves half a file.
        let tmp = self.dir.join(format!("{name}.tmp"));
        std::fs::write(&tmp, text).map_err(fail)?;
        std::fs::rename(&tmp, self.dir.join(name)).map_err(fail)
    }
}

/// Now as ISO 8601 UTC (`2026-11-23T11:12:30.123Z`), without a date crate.
pub fn now_iso() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    iso_from_unix_ms(ms)
}

pub fn iso_from_unix_ms(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bridge::LowBandwidthMode;

    fn tmp() -> PathBuf {
        let d = std::env::temp_dir().join(format!("visio-desktop-test-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn settings_round_trip_and_damaged_file() {
        let dir = tmp();
        let store = Store::at(&dir);
        assert_eq!(store.settings().settings, policy::Settings::default());
        let s = store
            .update_settings(SettingsPatch {
                display_name: Some("  Alice  ".into()),
                low_bandwidth: Some(LowBandwidthMode::SpeakerOnly),
                camera_id: Some(Some("cam1".into())),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(s.display_name, "Alice");
        let again = Store::at(&dir).settings();
        assert_eq!(again.low_bandwidth, LowBandwidthMode::SpeakerOnly);
        assert_eq!(again.camera_id.as_deref(), Some("cam1"));
        // Cores for captions: kept within the machine's, and back to automatic with null.
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
        let s = store
            .update_settings(SettingsPatch {
                caption_threads: Some(Some(999)),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(s.caption_threads, Some(cores));
        let p: SettingsPatch = serde_json::from_str(r#"{"captionThreads": null}"#).unwrap();
        assert_eq!(store.update_settings(p).unwrap().caption_threads, None);
        std::fs::write(dir.join("settings.json"), "{not json").unwrap();
        assert_eq!(
            Store::at(&dir).settings().settings,
            policy::Settings::default()
        );
        assert!(dir.join("settings.json.damaged").exists());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn it_policy_wins_and_locked_settings_are_refused() {
        let dir = tmp();
        let policy = policy::parse_policy(
            "[locked]\ncaptions = false\nlanguage = \"en\"\n",
            "test policy",
        )
        .unwrap();
        let store = Store::with_policy(&dir, policy);
        let s = store.settings();
        assert!(!s.captions && s.language == crate::bridge::Language::En);
        assert_eq!(s.locked, ["captions", "language"]);
        let e = store
            .update_settings(SettingsPatch {
                captions: Some(true),
                ..Default::default()
            })
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::NotAllowed);
        assert!(e.message.contains("captions"), "{}", e.message);
        assert!(!dir.join("settings.json").exists(), "nothing saved");
        let s = store
            .update_settings(SettingsPatch {
                display_name: Some("Alice".into()),
                ..Default::default()
            })
            .unwrap();
        assert_eq!((s.display_name.as_str(), s.captions), ("Alice", false));
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["locked"], serde_json::json!(["captions", "language"]));
        assert_eq!(json["displayName"], "Alice");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn recent_rooms_newest_first_once_at_most_ten() {
        let dir = tmp();
        let store = Store::at(&dir);
        for i in 0..12 {
            let code = format!("abc-defg-h{}", (b'a' + i as u8) as char);
            let r = RoomRef {
                server: "http://h".into(),
                link: format!("http://h/{code}"),
                room_code: code,
            };
            store.add_recent(&r, iso_from_unix_ms(i * 1000)).unwrap();
        }
        let again = RoomRef {
            server: "http://h".into(),
            room_code: "abc-defg-hf".into(),
            link: "http://h/abc-defg-hf".into(),
        };
        store.add_recent(&again, "later".into()).unwrap();
        let list = store.recent_rooms();
        assert_eq!(list.len(), MAX_RECENT);
        assert_eq!(list[0].link, "http://h/abc-defg-hf");
        assert_eq!(list[1].room_code, "abc-defg-hl");
        assert_eq!(list.iter().filter(|r| r.link == again.link).count(), 1);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn iso_dates() {
        assert_eq!(iso_from_unix_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            iso_from_unix_ms(1_795_000_350_123),
            "2026-11-18T11:12:30.123Z"
        );
    }
}
