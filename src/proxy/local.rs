//! The built-in origin: a directory served by the gateway itself (`static_dir`), so the shipped
//! config works with nothing else running. GET and HEAD only; never outside its root.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use percent_encoding::percent_decode_str;

/// What a local response carries.
#[derive(Debug)]
pub enum LocalBody {
    /// A short text (errors).
    Text(Bytes),
    /// An open file of this many bytes, streamed out in chunks.
    File(tokio::fs::File, u64),
}

impl LocalBody {
    pub fn len(&self) -> u64 {
        match self {
            Self::Text(b) => b.len() as u64,
            Self::File(_, len) => *len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A response produced locally.
#[derive(Debug)]
pub struct LocalResponse {
    pub status: u16,
    pub content_type: String,
    pub body: LocalBody,
}

/// Serves `path` (already normalized) from `root`: the file is opened, not read.
pub async fn serve(root: &Path, method: &str, path: &str) -> LocalResponse {
    if method != "GET" && method != "HEAD" {
        return text(405, "method not allowed\n");
    }
    let Some(file) = resolve(root, path).await else {
        return text(404, "not found\n");
    };
    let opened = match tokio::fs::File::open(&file).await {
        Ok(f) => f,
        Err(_) => return text(404, "not found\n"),
    };
    match opened.metadata().await {
        Ok(meta) if meta.is_file() => LocalResponse {
            status: 200,
            content_type: content_type(&file),
            body: LocalBody::File(opened, meta.len()),
        },
        _ => text(404, "not found\n"),
    }
}

async fn resolve(root: &Path, path: &str) -> Option<PathBuf> {
    let decoded = percent_decode_str(path).decode_utf8().ok()?;
    if decoded.contains('\0')
        || decoded
            .split('/')
            .any(|seg| seg == ".." || seg.contains('\\'))
    {
        return None;
    }
    let mut candidate = root.join(decoded.trim_start_matches('/'));
    if tokio::fs::metadata(&candidate).await.ok()?.is_dir() {
        candidate.push("index.html");
    }
    let real = tokio::fs::canonicalize(&candidate).await.ok()?;
    let real_root = tokio::fs::canonicalize(root).await.ok()?;
    real.starts_with(&real_root).then_some(real)
}

fn text(status: u16, body: &'static str) -> LocalResponse {
    LocalResponse {
        status,
        content_type: "text/plain; charset=utf-8".into(),
        body: LocalBody::Text(Bytes::from_static(body.as_bytes())),
    }
}

/// The content type by extension (`mime_guess`), with a charset for text.
fn content_type(path: &Path) -> String {
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    if mime.type_() == mime_guess::mime::TEXT {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn serves_files_and_refuses_escapes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("index.html"), "<h1>hi</h1>").unwrap();
        std::fs::create_dir(dir.path().join("api")).unwrap();
        std::fs::write(dir.path().join("api/data.json"), "{}").unwrap();
        let r = serve(dir.path(), "GET", "/").await;
        assert_eq!(
            (r.status, r.content_type.as_str(), r.body.len()),
            (200, "text/html; charset=utf-8", 11)
        );
        let r = serve(dir.path(), "GET", "/api/data.json").await;
        assert_eq!(
            (r.status, r.content_type.as_str(), r.body.len()),
            (200, "application/json", 2)
        );
        assert_eq!(
            serve(dir.path(), "GET", "/api").await.status,
            404,
            "a directory without index"
        );
        assert_eq!(serve(dir.path(), "GET", "/../etc/passwd").await.status, 404);
        assert_eq!(
            serve(dir.path(), "GET", "/%2e%2e/etc/passwd").await.status,
            404
        );
        assert_eq!(serve(dir.path(), "GET", "/nope").await.status, 404);
        assert_eq!(serve(dir.path(), "POST", "/").await.status, 405);
    }
}
