//! The engines a test runs on, and `both_engines!`, the one way to run a test on each.

/// Which engine a test runs on.
#[derive(Debug, Clone)]
pub enum Backend {
    Sqlite,
    /// A server URL whose database the test may use to create and drop databases.
    Postgres(String),
}

impl Backend {
    /// PostgreSQL at `TEST_DATABASE_URL`, when it is set.
    pub fn postgres() -> Option<Backend> {
        std::env::var("TEST_DATABASE_URL")
            .ok()
            .filter(|url| !url.is_empty())
            .map(Backend::Postgres)
    }

    /// Like `postgres`, saying on stderr that the test is skipped, and `why`, when it is unset.
    pub fn postgres_only(why: &str) -> Option<Backend> {
        let backend = Backend::postgres();
        if backend.is_none() {
            eprintln!("TEST_DATABASE_URL is not set: skipped ({why})");
        }
        backend
    }
}

/// For each `async fn name(backend: Backend)` named, the tests `name::sqlite` and
/// `name::postgres`; the second is skipped when `TEST_DATABASE_URL` is unset.
macro_rules! both_engines {
    ($($test:ident),+ $(,)?) => {$(
        mod $test {
            use $crate::helpers::Backend;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$test(Backend::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(backend) = Backend::postgres_only("its SQLite twin runs") {
                    super::$test(backend).await;
                }
            }
        }
    )+};
}

pub(crate) use both_engines;
