//! Transcripts: who said what and when, exported as Markdown, WebVTT or SRT.

use crate::recognizer::Segment;

#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub speaker: String,
    pub start_ms: u64,
    pub end_ms: u64,
    pub text: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Transcript {
    pub title: String,
    pub lines: Vec<Line>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Markdown,
    WebVtt,
    Srt,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "md" | "markdown" => Ok(Self::Markdown),
            "vtt" | "webvtt" => Ok(Self::WebVtt),
            "srt" => Ok(Self::Srt),
            other => Err(format!("unknown format {other:?}: use md, vtt or srt")),
        }
    }
}

fn clock(ms: u64, sep: char) -> String {
    let (h, m, s, f) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    format!("{h:02}:{m:02}:{s:02}{sep}{f:03}")
}

/// Cue text must not contain a blank line (it would end the cue) nor `-->`.
fn cue_text(t: &str) -> String {
    t.replace("-->", "→")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

impl Transcript {
    /// A transcript of one speaker's recognised segments.
    pub fn from_segments(title: &str, speaker: &str, segments: &[Segment]) -> Self {
        Self {
            title: title.to_owned(),
            lines: segments
                .iter()
                .map(|s| Line {
                    speaker: speaker.to_owned(),
                    start_ms: s.start_ms,
                    end_ms: s.end_ms,
                    text: s.text.clone(),
                })
                .collect(),
        }
    }

    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Markdown => {
                let mut out = format!("# {}\n\n", self.title);
                for l in &self.lines {
                    let t = clock(l.start_ms, '.');
                    out.push_str(&format!(
                        "**{}** [{}] {}\n\n",
                        l.speaker,
                        &t[..8],
                        l.text.trim()
                    ));
                }
                out
            }
            Format::WebVtt => {
                let mut out = String::from("WEBVTT\n\n");
                for l in &self.lines {
                    out.push_str(&format!(
                        "{} --> {}\n<v {}>{}\n\n",
                        clock(l.start_ms, '.'),
                        clock(l.end_ms.max(l.start_ms), '.'),
                        l.speaker.replace(['<', '>'], ""),
                        cue_text(&l.text)
                    ));
                }
                out
            }
            Format::Srt => {
                let mut out = String::new();
                for (i, l) in self.lines.iter().enumerate() {
                    out.push_str(&format!(
                        "{}\n{} --> {}\n{}: {}\n\n",
                        i + 1,
                        clock(l.start_ms, ','),
                        clock(l.end_ms.max(l.start_ms), ','),
                        l.speaker,
                        cue_text(&l.text)
                    ));
                }
                out
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Transcript {
        Transcript {
            title: "Réunion".into(),
            lines: vec![
                Line {
                    speaker: "Alice".into(),
                    start_ms: 1_500,
                    end_ms: 3_250,
                    text: "Bonjour à tous.".into(),
                },
                Line {
                    speaker: "Bob".into(),
                    start_ms: 3_723_004,
                    end_ms: 3_725_000,
                    text: "a --> b\n\nc".into(),
                },
            ],
        }
    }

    #[test]
    fn renders_markdown_vtt_and_srt() {
        let t = sample();
        assert_eq!(
            t.render(Format::Markdown),
            "# Réunion\n\n**Alice** [00:00:01] Bonjour à tous.\n\n**Bob** [01:02:03] a --> b\n\nc\n\n"
        );
        let vtt = t.render(Format::WebVtt);
        assert!(vtt
            .starts_with("WEBVTT\n\n00:00:01.500 --> 00:00:03.250\n<v Alice>Bonjour à tous.\n\n"));
        assert!(
            vtt.contains("01:02:03.004 --> 01:02:05.000\n<v Bob>a → b\nc\n\n"),
            "{vtt}"
        );
        let srt = t.render(Format::Srt);
        assert!(srt.starts_with("1\n00:00:01,500 --> 00:00:03,250\nAlice: Bonjour à tous.\n\n2\n"));
        assert_eq!("vtt".parse::<Format>(), Ok(Format::WebVtt));
        assert!("doc".parse::<Format>().is_err());
    }
}
