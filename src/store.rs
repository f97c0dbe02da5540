//! Stage 3: download the signatures of a digest from signature stores laid out as
//! `<store>/sha256=<HEX>/signature-<N>`, N = 1.. up to 9 until a 404 (FACTS.md section 2).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use backon::Retryable;
use futures::future::join_all;
use futures::stream::{FuturesUnordered, StreamExt};
use tokio::sync::Semaphore;

use crate::error::{Error, Result};
use crate::http;
use crate::release::Digest;

/// The official stores; both serve the same files.
pub const DEFAULT_STORES: [&str; 2] = [
    "https://mirror.openshift.com/pub/openshift-v4/signatures/openshift/release",
    "https://storage.googleapis.com/openshift-release/official/signatures/openshift/release",
];

/// The highest signature index a store is asked for.
pub const MAX_SIGNATURES: u32 = 9;

/// How long earlier stores are still waited for once a later one has served signatures. An
/// earlier store silent by then is taken as unreachable: its connect timeout and retries would
/// otherwise hold the run for tens of seconds while the signatures are already in hand.
pub const PREFERENCE_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// Largest accepted signature body: `oc` caps at 50 KiB; real signatures are under 2 KiB, and
/// 64 KiB leaves room without letting a hostile store feed us more.
pub const MAX_SIGNATURE_BYTES: usize = 64 * 1024;

/// Signature indexes requested concurrently per round: most releases have one or two, so one
/// round usually finds them all.
const WINDOW: u32 = 3;

/// Where signatures are read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureStore {
    /// An `http://` or `https://` base URL.
    Http(url::Url),
    /// A `file://` directory.
    File(PathBuf),
}

impl fmt::Display for SignatureStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignatureStore::Http(u) => f.write_str(u.as_str().trim_end_matches('/')),
            SignatureStore::File(p) => write!(f, "file://{}", p.display()),
        }
    }
}

impl FromStr for SignatureStore {
    type Err = Error;

    fn from_str(s: &str) -> Result<SignatureStore> {
        let bad = |why: &str| {
            Error::usage(format!(
                "invalid --signature-store `{s}` ({why}): use an https://, http:// or file:// base URL, \
                 e.g. {} or file:///srv/signatures",
                DEFAULT_STORES[0]
            ))
        };
        let url = url::Url::parse(s).map_err(|e| bad(&e.to_string()))?;
        match url.scheme() {
            "http" | "https" if url.host().is_some() => Ok(SignatureStore::Http(url)),
            "file" => url
                .to_file_path()
                .map(SignatureStore::File)
                .map_err(|_| bad("not an absolute local path")),
            _ => Err(bad("unsupported scheme")),
        }
    }
}

impl SignatureStore {
    /// The official stores.
    pub fn defaults() -> Vec<SignatureStore> {
        DEFAULT_STORES
            .iter()
            .map(|s| s.parse().expect("valid default store"))
            .collect()
    }

    /// Where signature `index` of `digest` lives in this store.
    pub fn location(&self, digest: &Digest, index: u32) -> String {
        let rel = format!("sha256={}/signature-{index}", digest.hex());
        match self {
            SignatureStore::Http(u) => format!("{}/{rel}", u.as_str().trim_end_matches('/')),
            SignatureStore::File(p) => p.join(rel).display().to_string(),
        }
    }
}

/// One downloaded signature file.
#[derive(Debug, Clone)]
pub struct FetchedSignature {
    /// Where it was read from (URL or path).
    pub source: String,
    /// The raw bytes.
    pub bytes: Vec<u8>,
}

/// What one store answered.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum StoreAnswer {
    /// It served this many signatures.
    Found { count: usize },
    /// It has none for the digest (404 on signature-1).
    NotFound,
    /// It could not be used.
    Failed { reason: String },
}

impl fmt::Display for StoreAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreAnswer::Found { count } => write!(f, "{count} signature(s)"),
            StoreAnswer::NotFound => {
                f.write_str("404 Not Found on signature-1 (no signature for this digest)")
            }
            StoreAnswer::Failed { reason } => f.write_str(reason),
        }
    }
}

/// The signatures found for a digest and what the stores answered.
#[derive(Debug, Clone, Default)]
pub struct FetchReport {
    /// The signatures of the first store (in the order given) that had any, in index order.
    pub signatures: Vec<FetchedSignature>,
    /// The answer of each store, in order, up to the one whose signatures were taken.
    pub answers: Vec<(String, StoreAnswer)>,
}

impl FetchReport {
    /// One line per store, for the "no signature found" error.
    pub fn describe_answers(&self) -> String {
        self.answers
            .iter()
            .map(|(s, a)| format!("  - {s}: {a}"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Downloads signatures with a shared client and a cap on requests in flight.
#[derive(Clone)]
pub struct SignatureFetcher {
    client: reqwest::Client,
    limiter: Arc<Semaphore>,
}

/// The outcome of asking for one signature index.
enum Slot {
    Found(FetchedSignature),
    Missing,
    Failed(String),
}

impl SignatureFetcher {
    /// A fetcher over `client` allowing `parallelism` requests at once.
    pub fn new(client: reqwest::Client, parallelism: usize) -> SignatureFetcher {
        SignatureFetcher {
            client,
            limiter: Arc::new(Semaphore::new(parallelism.max(1))),
        }
    }

    /// Opens the connection to every HTTP store while the registry is still resolving digests,
    /// so the burst of `signature-N` requests finds them up: over HTTP/2 they then share one
    /// connection per store (one TLS handshake per run) instead of racing to open one each.
    /// One HEAD of each store's base URL, in the background; the answers are ignored.
    pub fn preconnect(&self, stores: &[SignatureStore]) {
        for store in stores {
            let SignatureStore::Http(url) = store else {
                continue;
            };
            let request = self.client.head(url.clone());
            let store = store.to_string();
            tokio::spawn(async move {
                match request.send().await {
                    Ok(resp) => tracing::debug!("{store}: connected ({:?})", resp.version()),
                    Err(e) => tracing::debug!("{store}: could not connect ahead: {e}"),
                }
            });
        }
    }

    /// Asks every store at once and takes the signatures of the first store, in the order
    /// given, that has any (the official stores serve the same files). An unreachable or
    /// empty store costs no extra round trip, and once a store has answered with signatures
    /// the later ones are not waited for (their requests are dropped). Earlier stores still
    /// silent [`PREFERENCE_GRACE`] after a later one served signatures are given up on.
    pub async fn fetch(&self, stores: &[SignatureStore], digest: &Digest) -> FetchReport {
        let mut pending: FuturesUnordered<_> = stores
            .iter()
            .enumerate()
            .map(|(i, store)| async move { (i, self.fetch_from(store, digest).await) })
            .collect();
        let mut answered: Vec<Option<(Vec<FetchedSignature>, StoreAnswer)>> =
            stores.iter().map(|_| None).collect();
        let mut deadline = None;
        while preferred_store(&answered).is_none() {
            let next = match deadline {
                None => pending.next().await,
                Some(at) => match tokio::time::timeout_at(at, pending.next()).await {
                    Ok(next) => next,
                    Err(_) => break,
                },
            };
            let Some((i, (found, answer))) = next else {
                break;
            };
            tracing::info!("{}: {answer} for {digest}", stores[i]);
            if !found.is_empty() && deadline.is_none() {
                deadline = Some(tokio::time::Instant::now() + PREFERENCE_GRACE);
            }
            answered[i] = Some((found, answer));
        }
        drop(pending);

        let mut report = FetchReport::default();
        for (store, slot) in stores.iter().zip(answered) {
            let (found, answer) = slot.unwrap_or_else(|| {
                tracing::warn!(
                    "{store}: no answer {PREFERENCE_GRACE:?} after a later store served the \
                     signatures of {digest}; not waited for"
                );
                let reason = format!("no answer within {PREFERENCE_GRACE:?}; not waited for");
                (Vec::new(), StoreAnswer::Failed { reason })
            });
            report.answers.push((store.to_string(), answer));
            if !found.is_empty() {
                report.signatures = found;
                break;
            }
        }
        report
    }

    async fn fetch_from(
        &self,
        store: &SignatureStore,
        digest: &Digest,
    ) -> (Vec<FetchedSignature>, StoreAnswer) {
        let mut found = Vec::new();
        let mut first = 1;
        while first <= MAX_SIGNATURES {
            let last = (first + WINDOW - 1).min(MAX_SIGNATURES);
            let slots = join_all((first..=last).map(|n| self.fetch_one(store, digest, n))).await;
            for slot in slots {
                match slot {
                    Slot::Found(sig) => found.push(sig),
                    Slot::Missing if found.is_empty() => return (found, StoreAnswer::NotFound),
                    Slot::Missing => {
                        let count = found.len();
                        return (found, StoreAnswer::Found { count });
                    }
                    Slot::Failed(reason) if found.is_empty() => {
                        return (found, StoreAnswer::Failed { reason })
                    }
                    // Keep what was found before a later index failed.
                    Slot::Failed(reason) => {
                        tracing::warn!(
                            "{store}: {reason}; using the {} signature(s) found before",
                            found.len()
                        );
                        let count = found.len();
                        return (found, StoreAnswer::Found { count });
                    }
                }
            }
            first = last + 1;
        }
        let count = found.len();
        (found, StoreAnswer::Found { count })
    }

    async fn fetch_one(&self, store: &SignatureStore, digest: &Digest, index: u32) -> Slot {
        let location = store.location(digest, index);
        let _permit = self
            .limiter
            .acquire()
            .await
            .expect("semaphore never closed");
        match store {
            SignatureStore::File(_) => read_file(&location),
            SignatureStore::Http(_) => self.get(&location).await,
        }
    }

    async fn get(&self, url: &str) -> Slot {
        let attempt = || async {
            let resp = self
                .client
                .get(url)
                .send()
                .await
                .map_err(Attempt::Network)?;
            let status = resp.status().as_u16();
            if status == 404 || status == 403 && url.contains("storage.googleapis.com") {
                // GCS answers 403 for missing objects in public buckets.
                return Ok(None);
            }
            if http::retryable_status(status) {
                return Err(Attempt::Retryable(
                    status,
                    http::retry_after(resp.headers()),
                ));
            }
            if !(200..300).contains(&status) {
                return Err(Attempt::Final(format!("HTTP {status} for {url}")));
            }
            read_capped(resp, url).await.map(Some)
        };
        let result = attempt
            .retry(http::backoff())
            .sleep(tokio::time::sleep)
            .when(|e| match e {
                Attempt::Network(e) => http::certificate_problem(e).is_none(),
                Attempt::Retryable(..) => true,
                Attempt::Final(_) => false,
            })
            .adjust(|e, d| match e {
                Attempt::Retryable(_, Some(after)) => Some(*after),
                _ => d,
            })
            .notify(|e, d| tracing::warn!("{url}: {e}; retrying in {d:?}"))
            .await;
        match result {
            Ok(Some(bytes)) => Slot::Found(FetchedSignature {
                source: url.to_string(),
                bytes,
            }),
            Ok(None) => Slot::Missing,
            Err(e) => Slot::Failed(e.to_string()),
        }
    }
}

/// The store whose signatures to take, once it is decided: the first in order that served
/// signatures, with every store before it answered (without any). `None` while undecided.
fn preferred_store<T>(answered: &[Option<(Vec<T>, StoreAnswer)>]) -> Option<usize> {
    for (i, slot) in answered.iter().enumerate() {
        match slot {
            None => return None,
            Some((found, _)) if !found.is_empty() => return Some(i),
            Some(_) => {}
        }
    }
    None
}

/// Why one attempt at a GET failed.
#[derive(Debug)]
enum Attempt {
    Network(reqwest::Error),
    Retryable(u16, Option<std::time::Duration>),
    Final(String),
}

impl fmt::Display for Attempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Attempt::Network(e) => match http::certificate_problem(e) {
                Some(problem) => write!(
                    f,
                    "its TLS certificate is {}",
                    http::describe_certificate(&problem, http::CA_FILE_ADVICE)
                ),
                None => write!(f, "unreachable: {}", crate::resolve::error_chain(e)),
            },
            Attempt::Retryable(s, _) => write!(f, "HTTP {s} after retries"),
            Attempt::Final(s) => f.write_str(s),
        }
    }
}

/// Reads a body, refusing more than [`MAX_SIGNATURE_BYTES`].
async fn read_capped(mut resp: reqwest::Response, url: &str) -> Result<Vec<u8>, Attempt> {
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(Attempt::Network)? {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_SIGNATURE_BYTES {
            return Err(Attempt::Final(format!(
                "{url} is larger than {MAX_SIGNATURE_BYTES} bytes: not a signature"
            )));
        }
    }
    Ok(body)
}

fn read_file(path: &str) -> Slot {
    use std::io::Read;
    match std::fs::File::open(path) {
        Ok(f) => {
            let mut bytes = Vec::new();
            if let Err(e) = f
                .take(MAX_SIGNATURE_BYTES as u64 + 1)
                .read_to_end(&mut bytes)
            {
                return Slot::Failed(format!("cannot read {path}: {e}"));
            }
            if bytes.len() > MAX_SIGNATURE_BYTES {
                return Slot::Failed(format!(
                    "{path} is larger than {MAX_SIGNATURE_BYTES} bytes: not a signature"
                ));
            }
            Slot::Found(FetchedSignature {
                source: path.to_string(),
                bytes,
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Slot::Missing,
        Err(e) => Slot::Failed(format!("cannot read {path}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_preferred_store_is_decided_only_when_every_earlier_one_has_answered() {
        let found = |n: usize| Some((vec![(); n], StoreAnswer::Found { count: n }));
        let empty = || Some((Vec::<()>::new(), StoreAnswer::NotFound));
        assert_eq!(preferred_store(&[found(1), None]), Some(0));
        assert_eq!(preferred_store(&[None, found(1)]), None);
        assert_eq!(preferred_store(&[empty(), found(2), None]), Some(1));
        assert_eq!(preferred_store(&[empty(), empty()]), None);
        assert_eq!(preferred_store::<()>(&[]), None);
    }

    #[test]
    fn store_urls_parse_and_lay_out() {
        let d: Digest = crate::release::EXAMPLE_DIGEST.parse().unwrap();
        let s: SignatureStore = "https://mirror.example/sigs/".parse().unwrap();
        assert_eq!(
            s.location(&d, 2),
            format!("https://mirror.example/sigs/sha256={}/signature-2", d.hex())
        );
        let f: SignatureStore = "file:///srv/sigs".parse().unwrap();
        assert_eq!(
            f.location(&d, 1),
            format!("/srv/sigs/sha256={}/signature-1", d.hex())
        );
        for bad in ["ftp://x/y", "mirror.example/sigs", "https://"] {
            let e = bad.parse::<SignatureStore>().unwrap_err();
            assert!(e.to_string().contains(bad) && e.exit_code() == 2, "{e}");
        }
    }

    #[tokio::test]
    async fn file_store_stops_at_the_first_gap() {
        let dir = tempfile::tempdir().unwrap();
        let d: Digest = crate::release::EXAMPLE_DIGEST.parse().unwrap();
        let sub = dir.path().join(format!("sha256={}", d.hex()));
        std::fs::create_dir_all(&sub).unwrap();
        for n in [1, 2, 4] {
            std::fs::write(sub.join(format!("signature-{n}")), [n as u8]).unwrap();
        }
        let store = SignatureStore::File(dir.path().to_path_buf());
        crate::http::install_crypto_provider();
        let fetcher =
            SignatureFetcher::new(crate::http::build_client(&Default::default()).unwrap(), 4);
        let report = fetcher.fetch(&[store], &d).await;
        assert_eq!(report.signatures.len(), 2);
        assert_eq!(report.answers[0].1, StoreAnswer::Found { count: 2 });
        let empty = SignatureStore::File(dir.path().join("none"));
        let report = fetcher.fetch(&[empty], &d).await;
        assert!(report.signatures.is_empty());
        assert_eq!(report.answers[0].1, StoreAnswer::NotFound);
    }

    #[tokio::test]
    async fn oversized_bodies_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let d: Digest = crate::release::EXAMPLE_DIGEST.parse().unwrap();
        let sub = dir.path().join(format!("sha256={}", d.hex()));
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(sub.join("signature-1"), vec![0u8; MAX_SIGNATURE_BYTES + 1]).unwrap();
        crate::http::install_crypto_provider();
        let fetcher =
            SignatureFetcher::new(crate::http::build_client(&Default::default()).unwrap(), 4);
        let report = fetcher
            .fetch(&[SignatureStore::File(dir.path().to_path_buf())], &d)
            .await;
        assert!(report.signatures.is_empty());
        assert!(
            matches!(&report.answers[0].1, StoreAnswer::Failed { reason } if reason.contains("larger than")),
            "{:?}",
            report.answers
        );
    }
}
