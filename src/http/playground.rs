//! The GraphiQL playground: static files built in `playground/` and embedded in the binary (no CDN),
//! sent precompressed (brotli or gzip) to clients that accept it.

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rust_embed::{EmbeddedFile, RustEmbed};

#[derive(RustEmbed)]
#[folder = "playground/dist/"]
struct Assets;

/// The `Content-Encoding`s `playground/compress.mjs` writes next to large files (`<file>.<ext>`),
/// the smaller first: preferred when the client weighs them the same.
const ENCODINGS: [(&str, &str); 2] = [("br", "br"), ("gzip", "gz")];

pub(super) async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

pub(super) async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    serve(&path, &headers)
}

/// File names carry no content hash, so browsers revalidate each time (`no-cache`) and get a
/// `304` while the sent variant's hash (the `ETag`, one per encoding) is unchanged.
fn serve(path: &str, headers: &HeaderMap) -> Response {
    let Some(file) = Assets::get(path) else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    let content_type = file.metadata.mimetype().to_owned();
    let variants: Vec<(&str, EmbeddedFile)> = ENCODINGS
        .iter()
        .filter_map(|&(encoding, ext)| Some((encoding, Assets::get(&format!("{path}.{ext}"))?)))
        .collect();
    let compressible = !variants.is_empty();
    let chosen = variants
        .into_iter()
        .filter_map(|(encoding, variant)| Some((weight(headers, encoding)?, encoding, variant)))
        // `max_by` keeps the last of equals: go through the list backwards to keep the first.
        .rev()
        .max_by(|a, b| a.0.total_cmp(&b.0));
    let (encoding, file) = match chosen {
        Some((_, encoding, variant)) => (Some(encoding), variant),
        None => (None, file),
    };
    let etag = format!("\"{}\"", hex(&file.metadata.sha256_hash()[..16]));
    let cached = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == etag));
    let mut response = if cached {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, content_type)], file.data).into_response()
    };
    let response_headers = response.headers_mut();
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        response_headers.insert(header::ETAG, etag);
    }
    response_headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if compressible {
        response_headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    if let Some(encoding) = encoding {
        response_headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding));
    }
    response
}

/// The q-value `Accept-Encoding` gives `coding`, by name or through `*`; `None` when it is absent
/// or refused (`q=0`). RFC 9110 §12.5.3.
fn weight(headers: &HeaderMap, coding: &str) -> Option<f32> {
    let (mut named, mut any) = (None, None);
    let items = headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','));
    for item in items {
        let mut parts = item.split(';');
        let name = parts.next().unwrap_or_default().trim();
        let q = parts
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
            .map_or(Some(1.0), |(_, v)| v.trim().parse::<f32>().ok());
        if name.eq_ignore_ascii_case(coding) {
            named = q;
        } else if name == "*" {
            any = q;
        }
    }
    named.or(any).filter(|q| *q > 0.0)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
