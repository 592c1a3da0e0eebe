//! Attachments: files on a ticket or one of its comments. What may be attached (the type its
//! bytes show, against an allow-list; the size of one file and of a ticket's files), who may
//! attach what, and how a file is named. Its bytes are the store's business.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::access::{Permission, Principal, Role};
use super::error::{Refusal, quote};
use super::ticket::{Comment, Visibility};

/// Most bytes of one chunk of an upload or a download.
pub const MAX_CHUNK: usize = 1024 * 1024;
/// Bytes of a file's beginning its type is read from (or the whole file, if smaller): enough
/// for every signature the type table knows.
pub const SNIFF: usize = 8 * 1024;
/// Longest file name, in characters.
pub const FILE_NAME: usize = 255;
/// Longest declared content type, in characters.
pub const CONTENT_TYPE: usize = 255;

/// A file attached to a ticket, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub id: i64,
    pub ticket_id: i64,
    /// The comment it was attached to.
    pub comment_id: Option<i64>,
    pub file_name: String,
    /// The MIME type its bytes show.
    pub content_type: String,
    /// The MIME type the uploader declared.
    pub declared_type: Option<String>,
    pub size: i64,
    /// SHA-256 of the bytes, lower-case hex.
    pub sha256: String,
    pub visibility: Visibility,
    pub uploaded_by: String,
    pub uploaded_via: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// What an upload says about its file, before its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewAttachment {
    pub ticket_id: i64,
    pub comment_id: Option<i64>,
    pub file_name: String,
    pub declared_type: Option<String>,
    pub visibility: Visibility,
    #[serde(skip)]
    pub request_id: Option<String>,
}

/// A file's bytes once they are all in: how many, their hash and the type they show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Received {
    pub size: i64,
    pub sha256: String,
    pub content_type: String,
}

/// What may be attached: the types allowed (by the file extension the type table gives them,
/// `jpg`, `png`, …) and the sizes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Most bytes of one file.
    pub max_bytes: u64,
    /// Most bytes of one ticket's files together.
    pub ticket_max_bytes: u64,
    /// The types allowed, by extension.
    pub types: Vec<String>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            max_bytes: 10 * 1000 * 1000,
            ticket_max_bytes: 50 * 1000 * 1000,
            types: ["jpg", "png", "pdf", "mp4"].map(String::from).to_vec(),
        }
    }
}

/// The type table's name of each type it knows; a name outside it can never match.
pub fn known_type(extension: &str) -> bool {
    infer::is_supported(extension)
}

impl Policy {
    /// The MIME type `head` (a file's first [`SNIFF`] bytes, or all of a smaller file) shows,
    /// if it is one of the allowed types. Refuses a type not allowed, or none the table knows,
    /// naming the field that carried the bytes: what counts is what the bytes are, not what the
    /// file is called.
    pub fn check_type(&self, head: &[u8]) -> Result<&'static str, Refusal> {
        let allowed = || self.types.join(", ");
        match infer::get(head) {
            Some(kind) if self.types.iter().any(|t| t == kind.extension()) => Ok(kind.mime_type()),
            Some(kind) => Err(Refusal::invalid(
                "chunk",
                format!(
                    "the file's bytes are {} ({}), which is not allowed here; allowed: {}",
                    kind.extension(),
                    kind.mime_type(),
                    allowed()
                ),
            )),
            None => Err(Refusal::invalid(
                "chunk",
                format!(
                    "the file's bytes are of no known type (its name does not count); allowed: {}",
                    allowed()
                ),
            )),
        }
    }

    /// Refuses a file that has grown past the most one file may be.
    pub fn check_size(&self, size: u64) -> Result<(), Refusal> {
        if size > self.max_bytes {
            return Err(Refusal::invalid(
                "chunk",
                format!(
                    "the file is larger than {} bytes, the most one file may be (--attachment-max-bytes)",
                    self.max_bytes
                ),
            ));
        }
        Ok(())
    }

    /// Refuses a file that would take the ticket's files (`stored` bytes already) past their
    /// quota once `size` bytes of it are in.
    pub fn check_ticket_total(
        &self,
        ticket_id: i64,
        stored: u64,
        size: u64,
    ) -> Result<(), Refusal> {
        if stored.saturating_add(size) > self.ticket_max_bytes {
            return Err(Refusal::Quota {
                subject: format!("ticket:{ticket_id}"),
                description: format!(
                    "the ticket's files would take more than {} bytes (--attachment-ticket-max-bytes); {stored} are taken",
                    self.ticket_max_bytes
                ),
            });
        }
        Ok(())
    }
}

/// Refuses a file name that is empty, too long, or could name a path or hide its end
/// (separators, control characters, `.` and `..`).
pub fn check_file_name(name: &str) -> Result<(), Refusal> {
    let bad = |why: &str| Err(Refusal::invalid("metadata.file_name", why.to_owned()));
    if name.trim().is_empty() {
        return bad("is required");
    }
    if name.chars().count() > FILE_NAME {
        return bad("is longer than 255 characters");
    }
    if name
        .chars()
        .any(|c| c == '/' || c == '\\' || c.is_control())
    {
        return Err(Refusal::invalid(
            "metadata.file_name",
            format!(
                "{} holds a path separator or a control character; give the name alone",
                quote(name)
            ),
        ));
    }
    if name == "." || name == ".." {
        return bad("is not a file name");
    }
    Ok(())
}

impl Principal {
    /// Refuses an upload this caller may not make: customers and connectors attach PUBLIC
    /// files only; a file on a comment has the comment's visibility.
    pub fn check_attach(
        &self,
        new: &NewAttachment,
        comment: Option<&Comment>,
    ) -> Result<(), Refusal> {
        if new.visibility == Visibility::Internal && !self.sees_internal() {
            return Err(Refusal::Forbidden {
                permission: Permission::AttachmentsUpload.as_str(),
                description: "customers and connectors attach PUBLIC files only".into(),
            });
        }
        if let Some(comment) = comment
            && comment.visibility != new.visibility
        {
            return Err(Refusal::invalid(
                "metadata.visibility",
                format!(
                    "a file on comment {} has the comment's visibility, {}",
                    comment.id,
                    comment.visibility.as_str()
                ),
            ));
        }
        Ok(())
    }

    /// Whether it may see `attachment` (whose ticket it sees): INTERNAL files are for staff.
    pub fn sees_attachment(&self, attachment: &Attachment) -> bool {
        attachment.visibility == Visibility::Public || self.sees_internal()
    }

    /// Who an upload is recorded under: a connector relays the ticket's customer's file.
    pub fn uploader(&self, customer: &str) -> (String, Option<String>) {
        match self.role {
            Role::Connector => (format!("customer:{customer}"), Some(self.actor())),
            _ => (self.actor(), None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
    const JPG: &[u8] = b"\xff\xd8\xff\xe0\0\x10JFIF\0";
    const PDF: &[u8] = b"%PDF-1.7\n";
    const MP4: &[u8] = b"\0\0\0\x18ftypisom\0\0\x02\0";

    #[test]
    fn the_bytes_decide_the_type() {
        let policy = Policy::default();
        assert_eq!(policy.check_type(PNG), Ok("image/png"));
        assert_eq!(policy.check_type(JPG), Ok("image/jpeg"));
        assert_eq!(policy.check_type(PDF), Ok("application/pdf"));
        assert_eq!(policy.check_type(MP4), Ok("video/mp4"));
        // A Windows program and a web page, whatever they are called.
        for disguised in [&b"MZ\x90\0\x03\0\0\0\x04\0"[..], b"<html><script>"] {
            let Err(Refusal::Invalid { violations, .. }) = policy.check_type(disguised) else {
                panic!("accepted {disguised:?}");
            };
            assert_eq!(violations[0].field, "chunk");
        }
        let only_pdf = Policy {
            types: vec!["pdf".into()],
            ..Policy::default()
        };
        assert!(only_pdf.check_type(PNG).is_err());
    }

    #[test]
    fn sizes_are_refused_past_their_limits_alone() {
        let policy = Policy {
            max_bytes: 10,
            ticket_max_bytes: 25,
            ..Policy::default()
        };
        assert!(policy.check_size(10).is_ok());
        assert!(matches!(
            policy.check_size(11),
            Err(Refusal::Invalid { .. })
        ));
        assert!(policy.check_ticket_total(1, 15, 10).is_ok());
        assert!(matches!(
            policy.check_ticket_total(1, 16, 10),
            Err(Refusal::Quota { .. })
        ));
    }

    #[test]
    fn file_names_are_names_alone() {
        assert!(check_file_name("receipt 2026.jpg").is_ok());
        assert!(check_file_name("照片.png").is_ok());
        for bad in [
            "",
            "  ",
            "../etc/passwd",
            "a\\b",
            "a\nb",
            "..",
            &"x".repeat(256),
        ] {
            assert!(check_file_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn default_types_are_known_to_the_table() {
        for t in Policy::default().types {
            assert!(known_type(&t), "{t}");
        }
        assert!(!known_type("exe-but-not-really"));
    }
}
