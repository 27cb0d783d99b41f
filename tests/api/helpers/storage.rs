//! A test's own pair of databases (write and read), removed when the test ends.

use sea_orm::{ConnectionTrait, Database};
use url::Url;

use crate::helpers::Backend;

/// Where a test's databases live; dropping it removes them.
pub enum Storage {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres {
        admin_url: String,
        names: [String; 2],
    },
}

/// The URLs of a fresh write and read database.
pub struct Urls {
    pub write: String,
    pub read: String,
}

impl Storage {
    /// Creates two empty databases on `backend`.
    pub async fn create(backend: &Backend) -> (Storage, Urls) {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let path = dir.path().display().to_string();
                let urls = Urls {
                    write: format!("sqlite://{path}/write.db?mode=rwc"),
                    read: format!("sqlite://{path}/read.db?mode=rwc"),
                };
                (Storage::Sqlite(dir), urls)
            }
            Backend::Postgres(admin_url) => {
                let admin = Database::connect(admin_url)
                    .await
                    .expect("connect to TEST_DATABASE_URL");
                let stem = format!("cqrs_test_{}", uuid::Uuid::now_v7().simple());
                let names = [format!("{stem}_write"), format!("{stem}_read")];
                for name in &names {
                    admin
                        .execute_unprepared(&format!("CREATE DATABASE {name}"))
                        .await
                        .expect("create test database");
                }
                let _ = admin.close().await;
                let urls = Urls {
                    write: naming_database(admin_url, &names[0]),
                    read: naming_database(admin_url, &names[1]),
                };
                let admin_url = admin_url.clone();
                (Storage::Postgres { admin_url, names }, urls)
            }
        }
    }
}

/// The same server URL naming another database: only the path changes.
fn naming_database(server_url: &str, name: &str) -> String {
    let mut url = Url::parse(server_url).expect("TEST_DATABASE_URL is a URL");
    url.set_path(name);
    url.into()
}

impl Drop for Storage {
    fn drop(&mut self) {
        let Storage::Postgres { admin_url, names } = self else {
            return;
        };
        let (admin_url, names) = (admin_url.clone(), names.clone());
        // Drop runs outside async; a short-lived runtime on its own thread removes the databases.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                if let Ok(admin) = Database::connect(&admin_url).await {
                    for name in names {
                        let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                        let _ = admin.execute_unprepared(&sql).await;
                    }
                }
            });
        })
        .join();
    }
}

#[test]
fn naming_a_database_changes_the_path_only() {
    let cases = [
        ("postgres://u@h:5432/postgres", "postgres://u@h:5432/x"),
        (
            "postgres://u:p@h/postgres?sslmode=disable",
            "postgres://u:p@h/x?sslmode=disable",
        ),
        ("postgres://u@h", "postgres://u@h/x"),
    ];
    for (server, named) in cases {
        assert_eq!(naming_database(server, "x"), named);
    }
}
