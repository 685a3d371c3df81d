//! The built-in origin: a directory served by the gateway itself (`static_dir`), so the shipped
//! config works with nothing else running. GET and HEAD only; never outside its root.

use std::path::{Path, PathBuf};

use bytes::Bytes;

/// A response produced locally.
#[derive(Debug)]
pub struct LocalResponse {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Bytes,
}

/// Serves `path` (already normalized) from `root`.
pub async fn serve(root: &Path, method: &str, path: &str) -> LocalResponse {
    if method != "GET" && method != "HEAD" {
        return text(405, "method not allowed\n");
    }
    let Some(file) = resolve(root, path).await else {
        return text(404, "not found\n");
    };
    match tokio::fs::read(&file).await {
        Ok(bytes) => LocalResponse {
            status: 200,
            content_type: content_type(&file),
            body: Bytes::from(bytes),
        },
        Err(_) => text(404, "not found\n"),
    }
}

async fn resolve(root: &Path, path: &str) -> Option<PathBuf> {
    let decoded = percent_decode(path)?;
    if decoded
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

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    let text = String::from_utf8(out).ok()?;
    (!text.contains('\0')).then_some(text)
}

fn text(status: u16, body: &'static str) -> LocalResponse {
    LocalResponse {
        status,
        content_type: "text/plain; charset=utf-8",
        body: Bytes::from_static(body.as_bytes()),
    }
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" | "htm" => "text/html; charset=utf-8",
        "json" => "application/json",
        "txt" | "md" => "text/plain; charset=utf-8",
        "css" => "text/css",
        "js" | "mjs" => "text/javascript",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "xml" => "application/xml",
        "pdf" => "application/pdf",
        "csv" => "text/csv",
        _ => "application/octet-stream",
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
            (r.status, r.content_type),
            (200, "text/html; charset=utf-8")
        );
        let r = serve(dir.path(), "GET", "/api/data.json").await;
        assert_eq!((r.status, &r.body[..]), (200, &b"{}"[..]));
        assert_eq!(serve(dir.path(), "GET", "/../etc/passwd").await.status, 404);
        assert_eq!(
            serve(dir.path(), "GET", "/%2e%2e/etc/passwd").await.status,
            404
        );
        assert_eq!(serve(dir.path(), "GET", "/nope").await.status, 404);
        assert_eq!(serve(dir.path(), "POST", "/").await.status, 405);
    }
}
